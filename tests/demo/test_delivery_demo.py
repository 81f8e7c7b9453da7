"""The demo network tells the whole post-sale story: implementations and tickets in every state."""

from django.core.management import call_command

from kpi.models import CommissionEntry
from leads.delivery.models import ClockState, Implementation, ImplementationStatus, ServiceCredit, Ticket, TicketStatus
from prm.models import User


def test_demo_has_implementations_and_tickets_in_every_state(db):
    call_command("seed_demo", "--small", verbosity=0)
    partner = User.objects.get(email="admin@partner.demo.prm").partner
    assert set(Implementation.objects.filter(partner=partner).values_list("status", flat=True)) == {
        ImplementationStatus.LIVE,
        ImplementationStatus.IN_PROGRESS,
        ImplementationStatus.PLANNED,
    }
    assert set(Ticket.objects.filter(partner=partner).values_list("status", flat=True)) == set(TicketStatus.values)
    assert Ticket.objects.filter(reopen_count__gt=0).exists() and Ticket.objects.filter(rating__isnull=False).exists()
    states = set(Ticket.objects.values_list("clocks__state", flat=True))
    assert states == set(ClockState.values)
    assert CommissionEntry.objects.filter(source_key__startswith="penalty:ticket_clock:").exists()
    assert ServiceCredit.objects.exists()


def test_demo_has_an_answered_checkin_and_a_dispatched_visit(db):
    from leads.delivery.models import CheckIn, Dispatch
    from leads.models import OfferStatus

    call_command("seed_demo", "--small", verbosity=0)
    assert CheckIn.objects.filter(answered_at__isnull=False).exists()
    dispatch = Dispatch.objects.select_related("work_order", "ticket").get(ticket__status="new")
    assert dispatch.ticket.partner_id != (dispatch.work_order.partner_id or 0)
    assert (
        dispatch.work_order.offers.filter(status=OfferStatus.PENDING).exists() or dispatch.work_order.stage == "queue"
    )
    # And one called off before anyone accepted: the work order withdrawn and closed.
    called_off = Dispatch.objects.select_related("work_order").get(ticket__status="cancelled")
    assert called_off.work_order.stage == "lost" and called_off.work_order.partner_id is None
    assert not called_off.work_order.offers.filter(status=OfferStatus.PENDING).exists()
