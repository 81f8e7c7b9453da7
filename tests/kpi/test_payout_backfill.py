"""`manage.py ledger_payout_backfill`: entries booked before payout currencies existed get the figures the ledger
stores today; closed statements keep their frozen totals; a clawback mirrors the entry it offsets."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from kpi.models import CommissionEntry, EntryKind, ExchangeRate, Statement
from kpi.payouts.services import statement_close
from partners.models import AgreementStatus, PartnerStatus
from tests.partners.factories import AgreementFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def old_entry(partner, day, amount, kind=EntryKind.ACCRUAL, currency="RUB", key=None):
    """As booked before migration 0013: no payout currency, rate or amount."""
    n = CommissionEntry.objects.count()
    entry = CommissionEntry.objects.create(
        partner=partner,
        kind=kind,
        entry_date=day,
        amount=Decimal(amount),
        currency=currency,
        amount_reporting=Decimal(amount),
        description="old",
        source_key=key or f"old:{n}",
    )
    assert (entry.payout_currency, entry.amount_payout) == ("", None)
    return entry


def test_backfill_fills_old_entries_and_leaves_closed_statements_alone(capsys):
    eur = PartnerFactory(status=PartnerStatus.ACTIVE)
    rub = PartnerFactory(status=PartnerStatus.ACTIVE)
    AgreementFactory(partner=eur, status=AgreementStatus.SIGNED, payout_currency="EUR")
    ExchangeRate.objects.create(currency="EUR", valid_from=datetime.date(2026, 9, 1), rate=Decimal("100"))
    ExchangeRate.objects.create(currency="EUR", valid_from=datetime.date(2026, 11, 1), rate=Decimal("80"))
    accrual = old_entry(eur, datetime.date(2026, 10, 5), "1000")
    usd = old_entry(eur, datetime.date(2026, 10, 6), "10", currency="USD")  # no USD rate stored
    mine = old_entry(rub, datetime.date(2026, 10, 7), "500")
    statement_close(period=datetime.date(2026, 10, 1))
    frozen = {s.partner_id: (s.total, s.payout_total, s.payout_currency) for s in Statement.objects.all()}
    clawback = old_entry(
        eur, datetime.date(2026, 11, 3), "-1000", kind=EntryKind.CLAWBACK, key=f"clawback:{accrual.pk}"
    )

    call_command("ledger_payout_backfill")
    assert "3 entries filled, 1 still without an exchange rate" in capsys.readouterr().out
    for e in (accrual, usd, mine, clawback):
        e.refresh_from_db()
    assert (accrual.payout_currency, accrual.payout_rate, accrual.amount_payout) == (
        "EUR",
        Decimal("0.01000000"),
        Decimal("10.00"),
    )
    # The clawback takes the rate of the entry it offsets (not November's), so the two net to zero in euros.
    assert (clawback.payout_currency, clawback.amount_payout) == ("EUR", Decimal("-10.00"))
    assert (usd.payout_currency, usd.amount_payout) == ("EUR", None)
    assert (mine.payout_currency, mine.payout_rate, mine.amount_payout) == ("RUB", Decimal(1), Decimal("500.00"))
    assert {s.partner_id: (s.total, s.payout_total, s.payout_currency) for s in Statement.objects.all()} == frozen
    assert accrual.statement_period == datetime.date(2026, 10, 1)  # still on its closed statement

    # Run again once the USD rate is stored: only the entry still without a figure changes.
    ExchangeRate.objects.create(currency="USD", valid_from=datetime.date(2026, 1, 1), rate=Decimal("90"))
    call_command("ledger_payout_backfill", "--batch-size", "1")
    assert "1 entries filled, 0 still without" in capsys.readouterr().out
    usd.refresh_from_db()
    assert (usd.payout_currency, usd.amount_payout) == ("EUR", Decimal("9.00"))
    call_command("ledger_payout_backfill")
    assert "0 entries filled, 0 still without" in capsys.readouterr().out


def test_backfill_gives_the_figures_the_ledger_stores_when_booking():
    """Booked today through ledger_entries_place, or booked before and backfilled: the same payout figures."""
    from kpi.services.ledger import ledger_entries_place

    partner = PartnerFactory(status=PartnerStatus.ACTIVE)
    AgreementFactory(partner=partner, status=AgreementStatus.SIGNED, payout_currency="EUR")
    ExchangeRate.objects.create(currency="EUR", valid_from=datetime.date(2026, 1, 1), rate=Decimal("97.5"))
    ExchangeRate.objects.create(currency="USD", valid_from=datetime.date(2026, 1, 1), rate=Decimal("91.2"))
    kwargs = dict(partner=partner, kind=EntryKind.ACCRUAL, entry_date=datetime.date(2026, 10, 5), description="x")
    ledger_entries_place(
        entries=[
            CommissionEntry(**kwargs, amount=Decimal("123.45"), currency="USD", amount_reporting=0, source_key="new")
        ]
    )
    booked = CommissionEntry.objects.get(source_key="new")
    old = old_entry(partner, datetime.date(2026, 10, 5), "123.45", currency="USD")
    call_command("ledger_payout_backfill")
    old.refresh_from_db()
    assert (old.payout_currency, old.payout_rate, old.amount_payout) == (
        booked.payout_currency,
        booked.payout_rate,
        booked.amount_payout,
    )
    assert booked.amount_payout is not None and booked.payout_currency == "EUR"
