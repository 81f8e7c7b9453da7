"""A ticket reopened after its on-site visit ended (resolved, the work order withdrawn or done) is dispatched again
by the same rule (leads.delivery.dispatch.ticket_dispatch), whichever door reopens and dispatches it: a new work
order is offered to the field partner, whose offers inbox and notifications show the new visit, while one live
dispatch per ticket stays a database constraint. The withdrawn offer's reason is stored as a code and read in the
reader's language."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from leads.delivery import services
from leads.delivery.dispatch import ticket_dispatch
from leads.delivery.models import Dispatch, TicketStatus
from leads.models import Offer, OfferStatus, Stage
from prm import texts
from prm.models import Notification
from tests.leads.test_delivery_work_order_withdraw import (  # noqa: F401 (fixtures)
    api_client,
    dispatched,
    field_partner,
    move_via,
)


def dispatch_via(door, *, ticket, user, client_for, api_client):  # noqa: F811
    if door == "service":
        ticket_dispatch(ticket=ticket, actor=user)
    elif door == "portal":
        response = client_for(user).post(reverse("delivery:ticket_dispatch", args=[ticket.pk]))
        assert response.status_code == 302
    elif door == "api":
        response = api_client.post(f"/api/v1/tickets/{ticket.pk}/dispatch/", format="json")
        assert response.status_code == 200, response.content
        return response.json()
    else:
        raise AssertionError(door)


@pytest.mark.parametrize("door", ["service", "portal", "api"])
def test_a_reopened_ticket_is_dispatched_again_whatever_the_door(
    door,
    dispatched,  # noqa: F811
    partner_admin,
    field_partner,  # noqa: F811
    client_for,
    api_client,  # noqa: F811
):
    first = Dispatch.objects.get(ticket=dispatched)
    first_offer = Offer.objects.get(lead=first.work_order, status=OfferStatus.PENDING)
    move_door = "api_single" if door == "api" else door
    kw = {"ticket": dispatched, "user": partner_admin, "client_for": client_for, "api_client": api_client}
    move_via(move_door, to_status=TicketStatus.RESOLVED, **kw)
    first.refresh_from_db()
    assert first.ended_at is not None
    move_via(move_door, to_status=TicketStatus.IN_PROGRESS, **kw)  # the customer says it is not fixed

    answer = dispatch_via(door, **kw)

    second = Dispatch.objects.get(ticket=dispatched, ended_at__isnull=True)
    assert second.pk != first.pk and second.work_order_id != first.work_order_id
    assert Dispatch.objects.filter(ticket=dispatched).count() == 2
    offer = Offer.objects.get(lead=second.work_order, status=OfferStatus.PENDING)
    assert offer.partner_id == field_partner.pk
    if answer is not None:
        assert answer["work_order"] == second.work_order_id
    # The field partner's inbox shows the new visit (offers page and notifications); the old offer stays closed.
    page = client_for(field_partner.seller).get(reverse("leads:offer_list")).content.decode()
    assert reverse("leads:offer_accept", args=[offer.pk]) in page
    assert reverse("leads:offer_accept", args=[first_offer.pk]) not in page
    assert Notification.objects.filter(user=field_partner.seller, title__startswith="New lead offered").count() == 2
    # The responsible partner's ticket page shows the second dispatch and no dispatch button while it is live.
    page = client_for(partner_admin).get(reverse("delivery:ticket_detail", args=[dispatched.pk])).content.decode()
    assert "dispatch 2" in page
    assert reverse("delivery:ticket_dispatch", args=[dispatched.pk]) not in page


def test_one_live_dispatch_per_ticket(dispatched, partner_admin, client_for, api_client):  # noqa: F811
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        ticket_dispatch(ticket=dispatched, actor=partner_admin)
    response = api_client.post(f"/api/v1/tickets/{dispatched.pk}/dispatch/", format="json")
    assert response.status_code == 400 and response["Content-Type"].startswith("application/problem+json")
    first = Dispatch.objects.get(ticket=dispatched)
    with pytest.raises(IntegrityError), transaction.atomic():  # the constraint holds whatever the code does
        Dispatch.objects.create(ticket=dispatched, work_order=_another_lead(first), partner_id=first.partner_id)


def _another_lead(dispatch):
    from tests.leads.factories import LeadFactory

    return LeadFactory(customer=dispatch.ticket.customer)


def test_withdrawn_offer_reason_reads_in_the_readers_language(
    dispatched,  # noqa: F811
    partner_admin,
    field_partner,  # noqa: F811
):
    offer = Offer.objects.get(lead=Dispatch.objects.get(ticket=dispatched).work_order, status=OfferStatus.PENDING)
    with translation.override("ru"):  # the actor's language does not freeze the stored text
        services.ticket_transition(ticket=dispatched, to_status=TicketStatus.RESOLVED, actor=partner_admin)
    offer.refresh_from_db()
    assert offer.status == OfferStatus.WITHDRAWN
    assert texts.loads(offer.reason)["t"].startswith("The ticket was resolved")
    with translation.override("en"):
        assert texts.render(offer.reason) == "The ticket was resolved before a field partner accepted the visit."
    with translation.override("ru"):
        assert texts.render(offer.reason).startswith("Обращение решено")
    lead = offer.lead
    lead.refresh_from_db()
    assert lead.stage == Stage.LOST and "field partner accepted" in lead.lost_reason  # plain column, English
    # An old row written as plain text reads as it was written.
    Offer.objects.filter(pk=offer.pk).update(reason="Старая причина")
    assert texts.render(Offer.objects.get(pk=offer.pk).reason) == "Старая причина"
