"""A ticket that ends (cancelled or resolved) takes back its on-site work order while no field partner has accepted
it, whichever door moved the ticket; the partner it was offered to is told. An accepted visit stays the field
partner's deal."""

import pytest
from django.urls import reverse
from django.utils import translation

from leads.delivery import services
from leads.delivery.dispatch import ticket_dispatch
from leads.delivery.models import Dispatch, TicketKind, TicketStatus
from leads.models import Offer, OfferStatus, Stage
from leads.services.offers import offer_accept
from partners.models import PartnerType, ProgramModel
from prm.models import Notification, Role
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import CustomerFactory
from tests.partners.factories import PartnerFactory, RegionFactory
from tests.prm.factories import PartnerUserFactory


@pytest.fixture
def field_partner(db):
    far = RegionFactory()
    partner = PartnerFactory(
        name="Field Ltd",
        program_model=ProgramModel.FULL_CYCLE,
        partner_type=PartnerType.OPERATIONAL,
        home_region=far,
        regions=[far],
    )
    partner.seller = PartnerUserFactory(partner=partner, role=Role.PARTNER_ADMIN)
    return partner


@pytest.fixture
def dispatched(partner_admin, field_partner):
    customer = CustomerFactory(region=field_partner.home_region)
    contract = ServiceContractFactory(partner=partner_admin.partner, customer=customer, onsite_included=True)
    ticket = services.ticket_open(
        contract=contract,
        actor=partner_admin,
        title="Replace the till",
        kind=TicketKind.ONSITE,
        source_system="itsm",
        external_id="INC-7",
    )
    ticket_dispatch(ticket=ticket, actor=partner_admin)
    return ticket


@pytest.fixture
def api_client(partner_admin, settings):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from prm.api_auth import ALL_SCOPES, api_key_create

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "wo"}}
    cache.clear()
    client = APIClient()
    raw = api_key_create(created_by=partner_admin, name="ITSM", scopes=list(ALL_SCOPES))[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def move_via(door, *, ticket, to_status, user, client_for, api_client):
    if door == "service":
        services.ticket_transition(ticket=ticket, to_status=to_status, actor=user)
    elif door == "portal":
        response = client_for(user).post(reverse("delivery:ticket_status", args=[ticket.pk]), {"status": to_status})
        assert response.status_code == 302
    elif door == "api_single":
        response = api_client.post(f"/api/v1/tickets/{ticket.pk}/status/", {"status": to_status}, format="json")
        assert response.status_code == 200, response.content
    elif door == "api_bulk":
        item = {"source_system": "itsm", "external_id": "INC-7", "title": ticket.title, "status": to_status}
        response = api_client.post("/api/v1/tickets/bulk-upsert/", {"items": [item]}, format="json")
        assert response.status_code == 200 and response.json()["results"][0]["status"] == "updated", response.content
    elif door == "status_page":  # the customer, no account: only a cancellation
        assert to_status == TicketStatus.CANCELLED
        from leads.delivery import links

        _link, token = links.customer_link_issue(customer=ticket.customer, partner=ticket.partner, actor=user)
        client_for(user).logout()
        from django.test import Client

        response = Client().post(reverse("delivery:status_cancel", args=[token, ticket.pk]))
        assert response.status_code == 302
    else:
        raise AssertionError(door)


DOORS = ["service", "portal", "api_single", "api_bulk"]


@pytest.mark.parametrize(
    ("door", "to_status"),
    [(d, TicketStatus.CANCELLED) for d in [*DOORS, "status_page"]] + [(d, TicketStatus.RESOLVED) for d in DOORS],
)
def test_every_door_withdraws_the_unaccepted_work_order(
    door, to_status, dispatched, partner_admin, field_partner, client_for, api_client
):
    lead = Dispatch.objects.get(ticket=dispatched).work_order
    offer = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)
    assert offer.partner_id == field_partner.pk

    move_via(door, ticket=dispatched, to_status=to_status, user=partner_admin, client_for=client_for,
             api_client=api_client)  # fmt: skip

    offer.refresh_from_db()
    lead.refresh_from_db()
    assert offer.status == OfferStatus.WITHDRAWN
    assert lead.stage == Stage.LOST and lead.partner_id is None and lead.closed_at is not None
    assert "before a field partner accepted" in lead.lost_reason
    assert not Offer.objects.filter(lead=lead, status=OfferStatus.PENDING).exists()
    # The field partner is told, in its language.
    told = Notification.objects.get(user=field_partner.seller, title__startswith="Offer withdrawn")
    word = "cancelled" if to_status == TicketStatus.CANCELLED else "resolved"
    assert word in told.body_display
    with translation.override("ru"):
        assert told.title_display.startswith("Предложение отозвано")
    # Its offers page no longer lists the visit as open.
    page = client_for(field_partner.seller).get(reverse("leads:offer_list")).content.decode()
    assert reverse("leads:offer_accept", args=[offer.pk]) not in page


def test_an_accepted_visit_stays_and_the_field_partner_is_told_of_the_cancellation(
    dispatched, partner_admin, field_partner
):
    lead = Dispatch.objects.get(ticket=dispatched).work_order
    offer = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)
    offer_accept(offer=offer, user=field_partner.seller)
    services.ticket_transition(ticket=dispatched, to_status=TicketStatus.CANCELLED, actor=partner_admin)
    lead.refresh_from_db()
    assert lead.partner_id == field_partner.pk and lead.stage == Stage.REGISTERED
    told = Notification.objects.get(user=field_partner.seller, title__startswith="Work order cancelled")
    assert "check before you travel" in told.body_display


def test_other_moves_leave_the_work_order_alone(dispatched, partner_admin):
    lead = Dispatch.objects.get(ticket=dispatched).work_order
    services.ticket_transition(ticket=dispatched, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin)
    services.ticket_transition(ticket=dispatched, to_status=TicketStatus.WAITING_CUSTOMER, actor=partner_admin)
    assert Offer.objects.filter(lead=lead, status=OfferStatus.PENDING).exists()
    lead.refresh_from_db()
    assert lead.stage == Stage.OFFERED


def test_a_queued_work_order_is_closed_without_anyone_to_tell(dispatched, partner_admin):
    from leads.services.offers import offer_withdraw
    from tests.prm.factories import UserFactory

    lead = Dispatch.objects.get(ticket=dispatched).work_order
    manager = UserFactory(role=Role.CHANNEL_MANAGER)
    offer_withdraw(offer=Offer.objects.get(lead=lead, status=OfferStatus.PENDING), actor=manager, reason="hold")
    services.ticket_transition(ticket=dispatched, to_status=TicketStatus.CANCELLED, actor=partner_admin)
    lead.refresh_from_db()
    assert lead.stage == Stage.LOST


def test_the_status_page_cancels_only_its_own_customers_open_tickets(client, dispatched, partner_admin):
    from leads.delivery import links
    from leads.delivery.models import Ticket

    _link, token = links.customer_link_issue(
        customer=dispatched.customer, partner=dispatched.partner, actor=partner_admin
    )
    other = ServiceContractFactory(partner=partner_admin.partner, onsite_included=True)
    foreign = services.ticket_open(contract=other, actor=partner_admin, title="Someone else's")
    client.logout()
    page = client.get(reverse("delivery:status_page", args=[token])).content.decode()
    assert reverse("delivery:status_cancel", args=[token, dispatched.pk]) in page
    assert client.post(reverse("delivery:status_cancel", args=[token, foreign.pk])).status_code == 404
    assert client.post(reverse("delivery:status_cancel", args=["forged", dispatched.pk])).status_code == 404
    assert Ticket.objects.get(pk=foreign.pk).status == TicketStatus.NEW
    response = client.post(reverse("delivery:status_cancel", args=[token, dispatched.pk]), follow=True)
    assert f"Your ticket #{dispatched.pk} is cancelled." in response.content.decode()
    again = client.post(reverse("delivery:status_cancel", args=[token, dispatched.pk]), follow=True)
    assert "cannot move" in again.content.decode()  # a form message, not a 500
    assert Ticket.objects.get(pk=dispatched.pk).status == TicketStatus.CANCELLED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_cancel_and_accept_at_once_end_in_one_consistent_state(round_, postgres_only, partner_admin, field_partner):
    """A field partner accepting while the ticket is cancelled: either the visit is accepted (its deal, told of the
    cancellation) or withdrawn (offer withdrawn, work order lost) — never an accepted offer on a lost work order,
    never a deadlock."""
    import contextlib

    from django.core.exceptions import ValidationError

    from tests.leads.test_delivery_concurrency import run_together

    customer = CustomerFactory(region=field_partner.home_region)
    contract = ServiceContractFactory(partner=partner_admin.partner, customer=customer, onsite_included=True)
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="Till", kind=TicketKind.ONSITE)
    ticket_dispatch(ticket=ticket, actor=partner_admin)
    lead = Dispatch.objects.get(ticket=ticket).work_order
    offer = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)

    def accept():
        with contextlib.suppress(ValidationError):  # the offer was withdrawn first: a clear refusal
            offer_accept(offer=offer, user=field_partner.seller)

    errors = run_together(
        accept,
        lambda: services.ticket_transition(ticket=ticket, to_status=TicketStatus.CANCELLED, actor=partner_admin),
    )
    assert errors == []
    offer.refresh_from_db()
    lead.refresh_from_db()
    if offer.status == OfferStatus.ACCEPTED:
        assert lead.partner_id == field_partner.pk and lead.stage == Stage.REGISTERED
        assert Notification.objects.filter(user=field_partner.seller, title__startswith="Work order cancelled").exists()
    else:
        assert offer.status == OfferStatus.WITHDRAWN
        assert lead.stage == Stage.LOST and lead.partner_id is None
    assert ticket.__class__.objects.get(pk=ticket.pk).status == TicketStatus.CANCELLED
