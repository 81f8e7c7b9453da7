import datetime
from decimal import Decimal

import pytest

from kpi.models import KpiSnapshot, TierChange, TierChangeKind, TierLock
from kpi.rules import requirement_progress, tier_reached
from kpi.selectors import tiers_with_requirements
from kpi.services.tiers import tier_evaluate, tier_lock_set
from prm.models import AuditEvent, Notification, NotificationKind

pytestmark = pytest.mark.django_db


def put(partner, day, *, acceptance, security=0):
    KpiSnapshot.objects.update_or_create(
        partner=partner,
        date=day,
        defaults={
            "accepted_in_sla_pct": Decimal(acceptance) if acceptance is not None else None,
            "certified_people": security,
            "certified_by_competency": {"security": security} if security else {},
        },
    )


def set_tier(partner, tier):
    partner.tier = tier
    partner.save()


def test_requirement_progress_explains_what_is_missing(partner, tiers):
    gold = tiers_with_requirements()[2]
    rows = requirement_progress(tier=gold, values={"sla_acceptance": Decimal("88"), "by_competency": {}})
    needed = {r["metric"]: r for r in rows}
    assert needed["sla_acceptance"]["needed"] == "Offers accepted within SLA, % 88% → needs 95%"
    assert needed["certified_people"]["needed"] == "2 more certified people in Security"
    assert not any(r["met"] for r in rows)
    values = {"sla_acceptance": Decimal("96"), "by_competency": {"security": 2}}
    assert tier_reached(tiers=tiers_with_requirements(), values=values) == tiers["gold"]


def test_promotion_to_highest_met_tier_with_evaluation(partner, partner_admin, tiers, day):
    set_tier(partner, tiers["registered"])
    put(partner, day, acceptance="97", security=2)
    [change] = tier_evaluate(on=day)
    partner.refresh_from_db()
    assert partner.tier == tiers["gold"]
    assert change.kind == TierChangeKind.PROMOTION
    assert change.from_tier == tiers["registered"]
    assert {
        "metric": "certified_people",
        "competency": "security",
        "competency_name": "Security",
        "value": "2",
        "threshold": "2.00",
        "met": True,
    } in (change.evaluation)
    assert "Gold" in change.reason_text
    assert Notification.objects.filter(user=partner_admin, kind=NotificationKind.TIER_CHANGED).count() == 1
    assert AuditEvent.objects.filter(action="tier.promotion", partner=partner).exists()


def test_warning_then_demotion_after_grace_only(partner, tiers, day, settings):
    settings.PRM_TIER_GRACE_DAYS = 30
    set_tier(partner, tiers["gold"])
    put(partner, day, acceptance="85", security=2)  # fails Gold, meets Silver
    [warning] = tier_evaluate(on=day)
    assert warning.kind == TierChangeKind.WARNING
    assert warning.grace_until == day + datetime.timedelta(days=30)
    assert "Offers accepted within SLA" in warning.reason_text
    later = day + datetime.timedelta(days=30)  # last day of grace: still no demotion
    put(partner, later, acceptance="85", security=2)
    assert tier_evaluate(on=later) == []
    after = day + datetime.timedelta(days=31)
    put(partner, after, acceptance="85", security=2)
    [demotion] = tier_evaluate(on=after)
    partner.refresh_from_db()
    assert demotion.kind == TierChangeKind.DEMOTION
    assert partner.tier == tiers["silver"]
    assert demotion.from_tier == tiers["gold"]


def test_warning_cleared_when_requirements_met_again(partner, tiers, day):
    set_tier(partner, tiers["silver"])
    put(partner, day, acceptance="50")
    assert tier_evaluate(on=day)[0].kind == TierChangeKind.WARNING
    nxt = day + datetime.timedelta(days=1)
    put(partner, nxt, acceptance="90")
    [cleared] = tier_evaluate(on=nxt)
    assert cleared.kind == TierChangeKind.WARNING_CLEARED
    partner.refresh_from_db()
    assert partner.tier == tiers["silver"]
    # Failing again later starts a new grace period instead of demoting at once.
    much_later = day + datetime.timedelta(days=60)
    put(partner, much_later, acceptance="50")
    assert tier_evaluate(on=much_later)[0].kind == TierChangeKind.WARNING


def test_lock_freezes_tier(partner, channel_manager, tiers, day):
    set_tier(partner, tiers["silver"])
    from django.utils import timezone

    today = timezone.localdate()
    tier_lock_set(
        partner=partner,
        tier=tiers["silver"],
        until=today + datetime.timedelta(days=10),
        reason="Audit",
        actor=channel_manager,
    )
    put(partner, today, acceptance="99", security=5)
    assert tier_evaluate(on=today) == []
    partner.refresh_from_db()
    assert partner.tier == tiers["silver"]
    # After the lock ends the partner is evaluated again.
    after = today + datetime.timedelta(days=11)
    put(partner, after, acceptance="99", security=5)
    assert tier_evaluate(on=after)[0].kind == TierChangeKind.PROMOTION
    assert TierLock.objects.get(partner=partner).reason == "Audit"
    assert TierChange.objects.filter(partner=partner, kind=TierChangeKind.LOCK, actor=channel_manager).exists()


def test_re_evaluation_same_day_is_a_no_op(partner, tiers, day):
    set_tier(partner, tiers["silver"])
    put(partner, day, acceptance="10")
    assert len(tier_evaluate(on=day)) == 1
    assert tier_evaluate(on=day) == []
    assert TierChange.objects.filter(partner=partner).count() == 1
