import datetime
from decimal import Decimal

import pytest

from kpi.models import CommissionEntry, EntryKind, TierChange, TierChangeKind
from kpi.services.ledger import commission_accrue, sla_penalties_book
from leads.models import CoSell, Offer, OfferStatus, Stage
from tests.kpi.conftest import at
from tests.kpi.factories import ExchangeRateFactory
from tests.leads.factories import LeadFactory
from tests.partners.factories import AgreementFactory, SlaPolicyFactory

pytestmark = pytest.mark.django_db


def won(partner, day, **kw):
    return LeadFactory(partner=partner, stage=Stage.WON, won_at=at(day), **kw)


def test_accrual_at_tier_rate_with_cosell_split(partner, other_partner, tiers, day):
    partner.tier = tiers["gold"]  # 15 %
    partner.save()
    other_partner.tier = tiers["silver"]  # 10 %
    other_partner.save()
    lead = won(partner, day, value=Decimal("1000000"))
    CoSell.objects.create(lead=lead, partner=other_partner, share_percent=Decimal("30"))
    assert commission_accrue(on=day)["accruals"] == 2
    mine = CommissionEntry.objects.get(partner=partner)
    theirs = CommissionEntry.objects.get(partner=other_partner)
    assert (mine.amount, mine.share_percent, mine.rate) == (Decimal("105000.00"), Decimal("70"), Decimal("0.1500"))
    assert (theirs.amount, theirs.share_percent) == (Decimal("30000.00"), Decimal("30"))
    assert mine.source_key == f"accrual:lead:{lead.pk}:partner:{partner.pk}"
    assert mine.entry_date == day


def test_accrual_agreement_override_and_currency(partner, tiers, day):
    partner.tier = tiers["silver"]
    partner.save()
    AgreementFactory(partner=partner, commission_rate_override=Decimal("0.2000"))
    ExchangeRateFactory(currency="EUR", valid_from=day - datetime.timedelta(days=40), rate=Decimal("90"))
    ExchangeRateFactory(currency="EUR", valid_from=day - datetime.timedelta(days=1), rate=Decimal("100"))
    ExchangeRateFactory(currency="EUR", valid_from=day + datetime.timedelta(days=1), rate=Decimal("200"))
    won(partner, day, value=Decimal("1000"), currency="EUR")
    commission_accrue(on=day)
    entry = CommissionEntry.objects.get()
    assert (entry.amount, entry.currency, entry.amount_reporting) == (Decimal("200.00"), "EUR", Decimal("20000.00"))


def test_catch_up_uses_the_tier_the_partner_had_on_the_won_day(partner, tiers, day):
    partner.tier = tiers["gold"]
    partner.save()
    # Promoted from Silver to Gold two days after the deal was won.
    TierChange.objects.create(
        partner=partner,
        kind=TierChangeKind.PROMOTION,
        from_tier=tiers["silver"],
        to_tier=tiers["gold"],
        effective_on=day - datetime.timedelta(days=3),
    )
    won(partner, day - datetime.timedelta(days=5), value=Decimal("1000"))
    won(partner, day, value=Decimal("1000"))
    commission_accrue(on=day)
    amounts = sorted(CommissionEntry.objects.values_list("amount", flat=True))
    assert amounts == [Decimal("100.00"), Decimal("150.00")]


def test_missing_exchange_rate_is_booked_later(partner, tiers, day):
    partner.tier = tiers["silver"]
    partner.save()
    won(partner, day, value=Decimal("1000"), currency="USD")
    assert commission_accrue(on=day) == {"accruals": 0, "missing_rate": 1}
    ExchangeRateFactory(currency="USD", valid_from=day, rate=Decimal("90"))
    assert commission_accrue(on=day)["accruals"] == 1


def test_penalties_per_breach_and_idempotent(partner, other_partner, day):
    partner.sla_policy = SlaPolicyFactory(name="Paid", penalty_per_breach=Decimal("5000"))
    partner.save()
    other_partner.sla_policy = SlaPolicyFactory(name="Free", penalty_per_breach=Decimal("0"))
    other_partner.save()
    for p in (partner, other_partner):
        offered = at(day, 9)
        for status, responded in (
            (OfferStatus.EXPIRED, None),
            (OfferStatus.ACCEPTED, offered + datetime.timedelta(hours=5)),  # late
            (OfferStatus.ACCEPTED, offered + datetime.timedelta(hours=1)),  # in time
        ):
            Offer.objects.create(
                lead=LeadFactory(partner=p, stage=Stage.OFFERED),
                partner=p,
                status=status,
                offered_at=offered,
                deadline=offered + datetime.timedelta(hours=4),
                responded_at=responded,
            )
        LeadFactory(partner=p, first_contact_due=at(day, 10))  # missed
        LeadFactory(partner=p, first_contact_due=at(day, 10), first_contact_at=at(day, 9))  # in time
    assert sla_penalties_book(on=day)["penalties"] == 3
    assert sla_penalties_book(on=day)["penalties"] == 0
    entries = CommissionEntry.objects.filter(kind=EntryKind.PENALTY)
    assert set(entries.values_list("partner_id", flat=True)) == {partner.pk}
    assert sum(e.amount for e in entries) == Decimal("-15000")
    assert sorted(e.source_key.split(":")[1] for e in entries) == ["first_contact", "offer", "offer"]
