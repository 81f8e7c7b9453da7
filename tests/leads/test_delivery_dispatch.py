"""On-site dispatch: a visit the responsible partner cannot make goes, through the routing and offers machinery, to
an operational partner in the customer's region; the responsible partner keeps the ticket and sees the clocks."""

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.delivery import services
from leads.delivery.dispatch import dispatch_view, ticket_dispatch
from leads.delivery.models import Dispatch, TicketKind
from leads.models import LeadKind, LeadSource, Offer, OfferStatus, Stage
from leads.services.offers import offer_accept, offers_expire
from partners.models import PartnerType, ProgramModel
from prm.models import Role
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import CustomerFactory, LeadFactory
from tests.partners.factories import PartnerFactory, RegionFactory
from tests.prm.factories import PartnerUserFactory


@pytest.fixture
def far(db):
    """The customer's region, where the responsible partner has no field presence."""
    return RegionFactory()


@pytest.fixture
def field_partners(far):
    return [
        PartnerFactory(
            name=f"Field {i}",
            program_model=ProgramModel.FULL_CYCLE,
            partner_type=PartnerType.OPERATIONAL,
            home_region=far,
            regions=[far],
        )
        for i in range(2)
    ]


@pytest.fixture
def ticket(partner_admin, far, field_partners):
    customer = CustomerFactory(region=far)
    # The responsible partner's own open deal at the customer: a claim that must not stop the work order.
    LeadFactory(partner=partner_admin.partner, customer=customer, stage=Stage.NEGOTIATION)
    contract = ServiceContractFactory(partner=partner_admin.partner, customer=customer, onsite_included=True)
    return services.ticket_open(
        contract=contract, actor=partner_admin, title="Replace the till", kind=TicketKind.ONSITE, description="Till 3"
    )


def dispatch_via(door, *, ticket, user, client_for, api_client):
    if door == "service":
        return ticket_dispatch(ticket=ticket, actor=user)
    if door == "admin":
        from tests.conftest import with_totp
        from tests.prm.factories import UserFactory

        admin = with_totp(UserFactory(role=Role.VENDOR_ADMIN, is_staff=True, is_superuser=True))
        client = client_for(admin)
        response = client.post(
            reverse("admin:leads_ticket_changelist"), {"action": "dispatch_onsite", "_selected_action": [ticket.pk]}
        )
        assert response.status_code == 302, response.content[:300]
        return None
    if door == "portal":
        response = client_for(user).post(reverse("delivery:ticket_dispatch", args=[ticket.pk]))
        assert response.status_code == 302
    else:
        response = api_client.post(f"/api/v1/tickets/{ticket.pk}/dispatch/")
        assert response.status_code == 200, response.content
        assert response.json()["work_order"] == Dispatch.objects.get(ticket=ticket).work_order_id


@pytest.fixture
def api_client(partner_admin, settings):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from prm.api_auth import ALL_SCOPES, api_key_create

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}}
    cache.clear()
    client = APIClient()
    raw = api_key_create(created_by=partner_admin, name="ITSM", scopes=list(ALL_SCOPES))[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize("door", ["service", "portal", "api", "admin"])
def test_every_door_offers_the_visit_to_a_field_partner_in_the_region(
    door, ticket, partner_admin, field_partners, client_for, api_client
):
    dispatch_via(door, ticket=ticket, user=partner_admin, client_for=client_for, api_client=api_client)
    dispatch = Dispatch.objects.get(ticket=ticket)
    lead = dispatch.work_order
    assert (lead.kind, lead.source, lead.customer_id, lead.stage) == (
        LeadKind.ONSITE_SERVICE,
        LeadSource.DISPATCH,
        ticket.customer_id,
        Stage.OFFERED,
    )
    offer = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)
    assert offer.partner in field_partners and offer.deadline > timezone.now()
    ticket.refresh_from_db()
    assert ticket.partner_id == partner_admin.partner_id  # the customer's single point of responsibility


def test_expiry_reroutes_and_the_responsible_partner_sees_the_subcontractors_clocks(
    ticket, partner_admin, field_partners, client_for
):
    ticket_dispatch(ticket=ticket, actor=partner_admin)
    lead = Dispatch.objects.get().work_order
    first = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)
    assert offers_expire(now=first.deadline) == 1
    second = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)
    assert second.partner_id != first.partner_id
    view = dispatch_view(ticket=ticket)
    assert view.offer_deadline == second.deadline and view.subcontractor == ""
    engineer = PartnerUserFactory(partner=second.partner, role=Role.PARTNER_ADMIN)
    offer_accept(offer=second, user=engineer)
    view = dispatch_view(ticket=ticket)
    assert view.subcontractor == second.partner.name and view.visit_due is not None
    from prm.models import Notification

    told = Notification.objects.get(user=partner_admin, title__startswith="Visit accepted")
    assert second.partner.name in told.body
    page = client_for(partner_admin).get(reverse("delivery:ticket_detail", args=[ticket.pk])).content.decode()
    assert second.partner.name in page and "Visit (first contact) due" in page
    # The subcontractor sees the work order, never the ticket.
    client = client_for(engineer)
    assert client.get(reverse("leads:deal_detail", args=[lead.pk])).status_code == 200
    assert client.get(reverse("delivery:ticket_detail", args=[ticket.pk])).status_code == 404


def test_bad_dispatches_are_refused_and_change_nothing(
    partner_admin, ticket, far, other_partner_rep, client_for, api_client
):
    incident = services.ticket_open(contract=ticket.contract, actor=partner_admin, title="Slow")
    response = api_client.post(f"/api/v1/tickets/{incident.pk}/dispatch/")
    assert response.status_code == 400 and "kind" in response.json()["errors"]
    # Another partner's ticket is not found.
    assert client_for(other_partner_rep).post(reverse("delivery:ticket_dispatch", args=[ticket.pk])).status_code == 404
    # A partner that serves the region sends its own engineer.
    partner_admin.partner.regions.add(far)
    response = client_for(partner_admin).post(reverse("delivery:ticket_dispatch", args=[ticket.pk]), follow=True)
    assert "send your own engineer" in response.content.decode()
    assert not Dispatch.objects.exists()
    partner_admin.partner.regions.remove(far)
    ticket_dispatch(ticket=ticket, actor=partner_admin)
    assert api_client.post(f"/api/v1/tickets/{ticket.pk}/dispatch/").status_code == 400
    assert Dispatch.objects.count() == 1


def test_the_dispatch_card_speaks_russian(ticket, partner_admin, client_for):
    from django.utils import translation

    ticket_dispatch(ticket=ticket, actor=partner_admin)
    client = client_for(partner_admin)
    client.cookies["django_language"] = "ru"
    page = client.get(reverse("delivery:ticket_detail", args=[ticket.pk]), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    translation.activate("en")
    assert "Выездной партнёр" in page and "ещё не принят" in page and "Срок принятия" in page
