"""Each entry gets the month whose statement pays it when it is booked; closing a month only adds up its entries."""

import datetime
import importlib
import threading
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection

from kpi.models import CommissionEntry, EntryKind, Statement
from kpi.payouts.services import statement_close
from kpi.services.ledger import ledger_entries_place
from partners.models import PartnerStatus
from tests.partners.factories import AgreementFactory, PartnerFactory

pytestmark = pytest.mark.django_db

SEP, OCT, NOV = datetime.date(2026, 9, 1), datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)


def unsaved(partner, day, amount, kind=EntryKind.ACCRUAL, key=None):
    return CommissionEntry(
        partner=partner,
        kind=kind,
        entry_date=day,
        amount=Decimal(amount),
        currency="RUB",
        amount_reporting=Decimal(amount),
        description="t",
        source_key=key or f"month:{partner.pk}:{day}:{amount}:{kind}",
    )


def book(partner, day, amount, kind=EntryKind.ACCRUAL, key=None):
    entry = unsaved(partner, day, amount, kind, key)
    ledger_entries_place(entries=[entry])
    return CommissionEntry.objects.get(source_key=entry.source_key)


@pytest.fixture
def active():
    return PartnerFactory(status=PartnerStatus.ACTIVE)


def test_entry_booked_for_a_just_closed_month_lands_in_the_next_open_month(active, settings):
    settings.PRM_PAYOUT_HOLD_DAYS = 0
    idle = PartnerFactory(status=PartnerStatus.SUSPENDED)  # no October statement of its own
    assert book(active, datetime.date(2026, 10, 3), "100").statement_period == OCT
    statement_close(period=OCT)
    frozen = Statement.objects.get(partner=active, period=OCT)
    late = book(active, datetime.date(2026, 10, 30), "40")
    assert (late.statement_period, late.entry_date) == (NOV, NOV)  # dated into the open period, its date in the line
    # A partner without a statement for the closed month gets the program's first open month all the same.
    assert book(idle, datetime.date(2026, 10, 12), "7", kind=EntryKind.PENALTY).statement_period == NOV
    assert statement_close(period=OCT) == 0
    again = Statement.objects.get(pk=frozen.pk)
    assert (again.total, again.entries_count, again.updated_at) == (frozen.total, 1, frozen.updated_at)
    statement_close(period=NOV)
    assert dict(Statement.objects.filter(period=NOV).values_list("partner_id", "total")) == {
        active.pk: Decimal("40.00"),
        idle.pk: Decimal("7.00"),
    }


def test_holding_period_is_applied_at_booking_and_a_later_change_moves_nothing(active, settings):
    settings.PRM_PAYOUT_HOLD_DAYS = 0
    agreement = AgreementFactory(partner=active, payout_hold_days=10)
    held = book(active, datetime.date(2026, 10, 25), "200")  # + 10 days: November
    penalty = book(active, datetime.date(2026, 10, 25), "-5", kind=EntryKind.PENALTY)  # never held
    assert (held.statement_period, penalty.statement_period) == (NOV, OCT)
    agreement.payout_hold_days = 0
    agreement.save()
    statement_close(period=OCT)
    held.refresh_from_db()
    assert held.statement_period == NOV
    assert Statement.objects.get(partner=active, period=OCT).total == Decimal("-5.00")


def test_first_close_and_skipped_months_take_the_entries_of_months_never_closed(active, settings):
    settings.PRM_PAYOUT_HOLD_DAYS = 0
    book(active, datetime.date(2026, 9, 10), "1")
    book(active, datetime.date(2026, 10, 10), "10")
    book(active, datetime.date(2026, 11, 10), "100")
    statement_close(period=OCT)  # September was never closed: its entry is paid with October's
    assert Statement.objects.get(period=OCT).total == Decimal("11.00")
    assert not CommissionEntry.objects.filter(statement_period=SEP).exists()
    statement_close(period=SEP)  # closed afterwards: nothing left for it
    assert Statement.objects.get(period=SEP).total == Decimal("0.00")
    assert Statement.objects.get(period=OCT).total == Decimal("11.00")


def test_migration_gives_open_entries_the_month_the_rule_says(active, settings):
    settings.PRM_PAYOUT_HOLD_DAYS = 5
    other = PartnerFactory(status=PartnerStatus.ACTIVE)
    AgreementFactory(partner=other, payout_hold_days=0)
    book(active, datetime.date(2026, 8, 3), "1")
    statement_close(period=datetime.date(2026, 8, 1))
    rows = {
        "late": (active, datetime.date(2026, 8, 20), EntryKind.PENALTY),  # dated in the closed August
        "held": (active, datetime.date(2026, 9, 28), EntryKind.ACCRUAL),  # + 5 days: October
        "penalty": (active, datetime.date(2026, 9, 28), EntryKind.PENALTY),
        "own_hold": (other, datetime.date(2026, 9, 28), EntryKind.ACCRUAL),
    }
    for key, (partner, day, kind) in rows.items():
        entry = unsaved(partner, day, "1", kind, key=key)
        entry.save()  # as booked before months were decided at booking
    migration = importlib.import_module("kpi.migrations.0016_entries_statement_period_close")
    migration.entries_statement_period(apps, connection.schema_editor())
    got = dict(CommissionEntry.objects.filter(source_key__in=rows).values_list("source_key", "statement_period"))
    assert got == {"late": SEP, "held": OCT, "penalty": SEP, "own_hold": SEP}


@pytest.mark.django_db(transaction=True)
def test_booking_while_the_month_closes_never_changes_a_closed_statement(postgres_only, settings):
    settings.PRM_PAYOUT_HOLD_DAYS = 0
    partners = [PartnerFactory(status=PartnerStatus.ACTIVE) for _ in range(3)]
    for p in partners:
        book(p, datetime.date(2026, 10, 1), "1000")
    barrier = threading.Barrier(4)
    errors = []

    def close():
        try:
            barrier.wait()
            statement_close(period=OCT)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def booker(n):
        try:
            barrier.wait()
            for i in range(5):
                day, amount = datetime.date(2026, 10, 20), str(n * 10 + i)
                ledger_entries_place(entries=[unsaved(p, day, amount, key=f"race:{n}:{i}:{p.pk}") for p in partners])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close)] + [threading.Thread(target=booker, args=(n,)) for n in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert CommissionEntry.objects.count() == 3 + 3 * 5 * 3
    for st in Statement.objects.filter(period=OCT):
        on_it = CommissionEntry.objects.filter(partner_id=st.partner_id, statement_period=OCT)
        assert (st.entries_count, st.total) == (on_it.count(), sum(e.amount_reporting for e in on_it))
    # Whatever was booked after the close waits in November.
    assert set(CommissionEntry.objects.values_list("statement_period", flat=True)) <= {OCT, NOV}
