"""The breach job on two workers and a concurrent status change never book a breach twice (PostgreSQL)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from kpi.models import CommissionEntry, EntryKind
from leads.delivery import services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.models import ClockAction, ClockEvent, Priority, ServiceCredit, TicketStatus
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.test_delivery_services import T0


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def work(call):
        try:
            barrier.wait(timeout=30)
            call()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_two_jobs_and_a_late_response_book_each_breach_once(postgres_only, partner_admin, round_):
    contract = ServiceContractFactory(partner=partner_admin.partner)
    tickets = [
        services.ticket_open(contract=contract, actor=partner_admin, title=f"T{i}", priority=Priority.P1, at=T0)
        for i in range(4)
    ]
    late = T0 + timedelta(hours=1)
    errors = run_together(
        lambda: tickets_flag_breaches(now=late),
        lambda: tickets_flag_breaches(now=late),
        lambda: services.ticket_transition(
            ticket=tickets[0], to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=late
        ),
        lambda: services.ticket_transition(
            ticket=tickets[1], to_status=TicketStatus.RESOLVED, actor=partner_admin, at=late
        ),
    )
    assert not errors, errors
    tickets_flag_breaches(now=late + timedelta(hours=5))  # the rest breach their resolution time; nothing twice
    penalties = CommissionEntry.objects.filter(kind=EntryKind.PENALTY)
    keys = list(penalties.values_list("source_key", flat=True))
    assert len(keys) == len(set(keys))
    breached = ClockEvent.objects.filter(action=ClockAction.BREACH).values_list("clock_id", flat=True)
    assert len(list(breached)) == len(set(breached))
    # Every response clock breached (30 min) and the resolution clocks (4 h) of the three tickets still open
    # (ticket 1 was resolved after 1 h, within its 4 h): 4 + 3 = 7 breached clocks, each booked exactly once.
    assert penalties.count() == 7
    assert ServiceCredit.objects.count() == ServiceCredit.objects.values("clock").distinct().count()
