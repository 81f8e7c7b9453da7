"""The benchmark's floor — one hand-written SQL statement — gives the same figures as `statement_close` for every
partner, the partner-currency total included (so the benchmark compares like with like)."""

import datetime
import importlib.util
from decimal import Decimal

import pytest

from kpi.models import CommissionEntry, EntryKind, Statement
from kpi.payouts.services import statement_close
from partners.models import PartnerStatus
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db

OCT, NOV = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)


def _bench():
    path = __import__("pathlib").Path(__file__).resolve().parents[2] / "bench" / "statement_close.py"
    spec = importlib.util.spec_from_file_location("bench_statement_close", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entry(partner, day, amount, kind=EntryKind.ACCRUAL, payout=None, currency="RUB"):
    n = CommissionEntry.objects.count()
    return CommissionEntry.objects.create(
        partner=partner,
        kind=kind,
        entry_date=day,
        amount=Decimal(amount),
        currency="RUB",
        amount_reporting=Decimal(amount),
        description="t",
        source_key=f"floor:{n}",
        payout_currency=currency,
        payout_rate=None if payout is None else Decimal("0.01") if currency == "EUR" else Decimal(1),
        amount_payout=payout,
        statement_period=day.replace(day=1),  # as booked by `ledger_entries_place` without a holding period
    )


def test_floor_and_statement_close_agree_on_small_data(settings, postgres_only):
    settings.PRM_PAYOUT_HOLD_DAYS = 0
    bench = _bench()
    rub, eur, no_rate, idle = (PartnerFactory(status=PartnerStatus.ACTIVE) for _ in range(4))
    _entry(rub, datetime.date(2026, 10, 3), "1000", payout=Decimal("1000"))
    _entry(rub, datetime.date(2026, 10, 9), "-50", kind=EntryKind.PENALTY, payout=Decimal("-50"))
    _entry(eur, datetime.date(2026, 10, 4), "2000", payout=Decimal("20.00"), currency="EUR")
    _entry(eur, datetime.date(2026, 10, 30), "300", kind=EntryKind.REIMBURSEMENT, payout=Decimal("3"), currency="EUR")
    _entry(no_rate, datetime.date(2026, 10, 5), "70", payout=None, currency="EUR")  # no stored rate
    _entry(no_rate, datetime.date(2026, 10, 6), "30", payout=Decimal("0.30"), currency="EUR")
    _entry(rub, datetime.date(2026, 11, 2), "999", payout=Decimal("999"))  # next month
    assert bench.disagreements(OCT) == []  # closes inside a rolled-back transaction
    assert not Statement.objects.exists()

    floor = {row[0]: row[1:] for row in bench.floor_rows(OCT)}
    statement_close(period=OCT)
    product = {row[0]: row[1:] for row in bench.product_rows(OCT)}
    assert floor == product
    columns = bench.COLUMNS
    eur_row = dict(zip(columns, product[eur.pk], strict=True))
    assert (eur_row["total"], eur_row["payout_currency"], eur_row["payout_total"]) == (
        Decimal("2300.00"),
        "EUR",
        Decimal("23.00"),
    )
    assert dict(zip(columns, product[no_rate.pk], strict=True))["payout_total"] is None
    assert dict(zip(columns, product[idle.pk], strict=True))["n"] == 0
