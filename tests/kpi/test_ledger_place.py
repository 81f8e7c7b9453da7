"""One rule books every ledger entry (`kpi.services.ledger.ledger_entries_place`), whatever the door: nothing in a
closed month changes, the partner's payout currency is stored with the rate of each entry, and the line is a text
code + parameters rendered in the reader's language."""

import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from kpi.funds import services as funds
from kpi.models import CommissionEntry, EntryKind, ExchangeRate, Statement
from kpi.payouts.services import commission_adjust, statement_close
from kpi.services.ledger import commission_accrue, ledger_entries_place, sla_penalties_book
from leads.models import Offer, OfferStatus, Stage
from leads.services.deals import deal_stage_change
from partners.models import AgreementStatus, PartnerStatus
from tests.kpi.conftest import at
from tests.kpi.test_funds import pdf
from tests.leads.factories import LeadFactory
from tests.partners.factories import AgreementFactory, SlaPolicyFactory

pytestmark = pytest.mark.django_db

OCT = datetime.date(2026, 10, 1)
NOV = datetime.date(2026, 11, 1)
LATE_IN_OCTOBER = datetime.date(2026, 10, 20)
USD_PER_RUB = (Decimal(1) / Decimal(90)).quantize(Decimal("0.00000001"), ROUND_HALF_UP)


@pytest.fixture
def paid_in_usd(partner, tiers):
    """An active Silver partner (10 %) paid in US dollars, whose October is closed."""
    partner.status, partner.tier = PartnerStatus.ACTIVE, tiers["silver"]
    partner.sla_policy = SlaPolicyFactory(name="Paid", penalty_per_breach=Decimal("900"))
    partner.save()
    AgreementFactory(partner=partner, status=AgreementStatus.SIGNED, payout_currency="USD")
    ExchangeRate.objects.create(currency="USD", valid_from=datetime.date(2026, 1, 1), rate=Decimal("90"))
    return partner


def won_in_october(partner):
    return LeadFactory(partner=partner, stage=Stage.WON, won_at=at(LATE_IN_OCTOBER), value=Decimal("9000"))


def book_via(door, partner, *, client_for, channel_manager, partner_admin):
    """Book through one door after October was closed; returns the entries it booked."""
    before = set(CommissionEntry.objects.values_list("pk", flat=True))
    if door == "nightly_accrual":  # a deal won in October, booked by a catch-up night in November
        won_in_october(partner)
        commission_accrue(on=datetime.date(2026, 11, 3))
    elif door == "nightly_penalty":  # an October offer breach seen by a November night
        Offer.objects.create(
            lead=LeadFactory(partner=partner, stage=Stage.OFFERED),
            partner=partner,
            status=OfferStatus.EXPIRED,
            offered_at=at(LATE_IN_OCTOBER, 9),
            deadline=at(LATE_IN_OCTOBER, 13),
        )
        sla_penalties_book(on=datetime.date(2026, 11, 3))
    elif door == "clawback_portal":  # a deal accrued and frozen in October, reversed now
        lead = CommissionEntry.objects.get(kind=EntryKind.ACCRUAL).lead
        client_for(channel_manager).post(
            reverse("leads:deal_stage", args=[lead.pk]),
            {"to_stage": Stage.LOST, "lost_reason": "Refunded", "confirmed": "1"},
        )
    elif door == "clawback_service":
        lead = CommissionEntry.objects.get(kind=EntryKind.ACCRUAL).lead
        deal_stage_change(lead=lead, to_stage=Stage.LOST, actor=channel_manager, lost_reason="Refunded")
    elif door == "adjustment_portal":
        client_for(channel_manager).post(
            reverse("kpi:payouts:adjust"),
            {"partner": partner.pk, "amount": "-900", "currency": "RUB", "reason": "Duplicate deal"},
        )
    elif door == "adjustment_service":
        commission_adjust(partner=partner, amount=Decimal("-900"), reason="Duplicate deal", actor=channel_manager)
    elif door == "mdf_reimbursement":
        today = timezone.localdate()
        budget = funds.budget_create(
            actor=channel_manager,
            name="Q",
            period_start=today - datetime.timedelta(days=5),
            period_end=today + datetime.timedelta(days=30),
            amount=Decimal("10000"),
            currency="RUB",
        )
        allocation = funds.allocation_set(budget=budget, partner=partner, amount=Decimal("5000"), actor=channel_manager)
        request = funds.fund_request_submit(
            actor=partner_admin,
            allocation=allocation,
            activity_type="webinar",
            title="Security webinar",
            starts_on=today,
            ends_on=today,
            planned_cost=Decimal("2000"),
            requested_amount=Decimal("900"),
            expected_leads=3,
            expected_pipeline=Decimal("0"),
        )
        request = funds.fund_request_decide(actor=channel_manager, request=request, approve=True)
        claim = funds.fund_claim_submit(actor=partner_admin, request=request, amount=Decimal("900"), proof=pdf())
        funds.fund_claim_decide(actor=channel_manager, claim=claim, approve=True)
    return list(CommissionEntry.objects.exclude(pk__in=before))


DOORS = [
    "nightly_accrual",
    "nightly_penalty",
    "clawback_portal",
    "clawback_service",
    "adjustment_portal",
    "adjustment_service",
    "mdf_reimbursement",
]


@pytest.mark.parametrize("door", DOORS)
def test_every_door_books_in_the_open_period_in_the_partners_currency(
    door, paid_in_usd, client_for, channel_manager, partner_admin
):
    if door.startswith("clawback"):
        won_in_october(paid_in_usd)
        commission_accrue(on=LATE_IN_OCTOBER)
    statement_close(period=OCT)
    october = Statement.objects.get(partner=paid_in_usd, period=OCT)

    entries = book_via(
        door, paid_in_usd, client_for=client_for, channel_manager=channel_manager, partner_admin=partner_admin
    )

    assert len(entries) == 1
    entry = entries[0]
    # Nothing in the closed month changes; the entry is in the open period.
    assert entry.entry_date >= NOV and entry.statement_period == entry.entry_date.replace(day=1)
    assert Statement.objects.get(pk=october.pk).total == october.total
    assert CommissionEntry.objects.filter(partner=paid_in_usd, entry_date__lt=NOV).count() == october.entries_count
    # The partner's currency with the rate stored on the entry.
    assert abs(entry.amount) == Decimal("900.00")
    assert (entry.payout_currency, entry.payout_rate) == ("USD", USD_PER_RUB)
    assert entry.amount_payout == (entry.amount * USD_PER_RUB).quantize(Decimal("0.01"), ROUND_HALF_UP)
    # The line in the reader's language (a typed adjustment reason stays as written).
    with translation.override("en"):
        english = entry.line
    with translation.override("ru"):
        russian = entry.line
    assert english and entry.description == english[:300]
    if door.startswith("adjustment"):
        assert russian == english == "Duplicate deal"
    else:
        assert russian != english


def entry_on(partner, day, amount, key):
    return CommissionEntry(
        partner=partner,
        kind=EntryKind.ADJUSTMENT,
        entry_date=day,
        amount=Decimal(amount),
        currency="RUB",
        amount_reporting=Decimal(amount),
        description="Fee",
        source_key=key,
    )


def test_statement_total_in_the_partners_currency_never_mixes_currencies(paid_in_usd, other_partner):
    won_in_october(paid_in_usd)
    commission_accrue(on=LATE_IN_OCTOBER)  # 900 RUB = 10 USD
    other_partner.status = PartnerStatus.ACTIVE
    other_partner.save()
    ledger_entries_place(entries=[entry_on(other_partner, LATE_IN_OCTOBER, "50", "t:other")])
    statement_close(period=OCT)
    october = Statement.objects.get(partner=paid_in_usd, period=OCT)
    assert (october.total, october.payout_total, october.payout_currency) == (
        Decimal("900.00"),
        Decimal("10.00"),
        "USD",
    )
    # A partner paid in the reporting currency: both totals agree.
    other = Statement.objects.get(partner=other_partner, period=OCT)
    assert (other.total, other.payout_total, other.payout_currency) == (Decimal("50.00"), Decimal("50.00"), "RUB")
    # The agreement changes to euros in November: no partner-currency total rather than a sum of two currencies.
    ledger_entries_place(entries=[entry_on(paid_in_usd, datetime.date(2026, 11, 5), "-90", "t:usd")])
    paid_in_usd.agreements.update(payout_currency="EUR")
    ExchangeRate.objects.create(currency="EUR", valid_from=datetime.date(2026, 1, 1), rate=Decimal("100"))
    ledger_entries_place(entries=[entry_on(paid_in_usd, datetime.date(2026, 11, 20), "-100", "t:eur")])
    assert CommissionEntry.objects.get(source_key="t:eur").amount_payout == Decimal("-1.00")
    statement_close(period=NOV)
    november = Statement.objects.get(partner=paid_in_usd, period=NOV)
    assert (november.total, november.payout_total, november.payout_currency) == (Decimal("-190.00"), None, "")


def test_every_statement_figure_links_to_its_entries(client_for, paid_in_usd, partner_admin, channel_manager):
    won_in_october(paid_in_usd)
    commission_accrue(on=LATE_IN_OCTOBER)
    statement_close(period=OCT)
    statement = Statement.objects.get(partner=paid_in_usd, period=OCT)
    url = reverse("kpi:payouts:statement_detail", args=[statement.pk])
    page = client_for(partner_admin).get(url).content.decode()
    assert 'href="?kind=accrual#entries"' in page and 'data-figure="total"' in page
    assert "$10.00" in page or "10.00" in page
    accruals = client_for(partner_admin).get(url, {"kind": "accrual"}).context["entries"]
    penalties = client_for(partner_admin).get(url, {"kind": "penalty"}).context["entries"]
    assert [e.kind for e in accruals] == ["accrual"] and penalties == []
    assert sum(e.amount_reporting for e in accruals) == statement.accruals
    # The open period too: its figures add up to the entries behind them.
    commission_adjust(partner=paid_in_usd, amount=Decimal("-90"), reason="Fee", actor=channel_manager)
    response = client_for(partner_admin).get(reverse("kpi:payouts:open_period"), {"kind": "adjustment"})
    assert [e.amount for e in response.context["entries"]] == [Decimal("-90.00")]
    assert (response.context["payout_total"], response.context["payout_currency"]) == (Decimal("-1.00"), "USD")
