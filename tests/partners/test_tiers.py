from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from kpi.models import TierAudit, TierChange, TierChangeKind
from kpi.services.tiers import tier_change
from partners import services
from prm.models import AuditEvent, Notification, NotificationKind
from tests.partners.factories import CompetencyFactory, TierFactory, TierRequirementFactory
from tests.prm.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_manual_tier_change_writes_tier_history_and_audit(channel_manager, partner_admin):
    partner = partner_admin.partner
    silver, gold = TierFactory(name="Silver"), TierFactory(name="Gold")
    partner.tier = silver
    partner.save()
    tier_change(partner=partner, to_tier=gold, kind="manual", actor=channel_manager, note="Strategic bid won")
    partner.refresh_from_db()
    assert partner.tier == gold
    change = TierChange.objects.get(partner=partner)
    assert (change.kind, change.from_tier, change.to_tier, change.actor) == (
        TierChangeKind.MANUAL,
        silver,
        gold,
        channel_manager,
    )
    assert change.evaluation == []
    assert change.reason_text == "Tier set to Gold by the vendor: Strategic bid won"
    event = AuditEvent.objects.get(action=TierAudit.MANUAL)
    assert event.reason == "Strategic bid won"
    assert Notification.objects.filter(user=partner_admin, kind=NotificationKind.TIER_CHANGED).exists()


def test_tier_change_needs_a_reason_and_a_different_tier(channel_manager, partner):
    gold = TierFactory()
    with pytest.raises(ValidationError):
        tier_change(partner=partner, to_tier=gold, kind="manual", actor=channel_manager, note=" ")
    tier_change(partner=partner, to_tier=gold, kind="manual", actor=channel_manager, note="ok")
    with pytest.raises(ValidationError):
        tier_change(partner=partner, to_tier=gold, kind="manual", actor=channel_manager, note="again")
    assert TierChange.objects.count() == 1


def test_tier_form_without_reason_is_a_field_error(client_for, channel_manager, partner):
    gold = TierFactory()
    response = client_for(channel_manager).post(reverse("partners:tier_set", args=[partner.pk]), {"tier": gold.pk})
    assert response.status_code == 200
    assert "reason" in response.context["tier_form"].errors
    partner.refresh_from_db()
    assert partner.tier is None


def test_tier_history_shown_on_partner_page(client_for, channel_manager, partner):
    tier_change(
        partner=partner, to_tier=TierFactory(name="Platinum"), kind="manual", actor=channel_manager, note="Alliance"
    )
    body = client_for(channel_manager).get(reverse("partners:detail", args=[partner.pk])).content.decode()
    assert "Manual change" in body
    assert "Alliance" in body


def test_account_manager_change_is_audited(client_for, channel_manager, partner):
    manager = UserFactory(role="channel_manager", first_name="Maria", last_name="Ivanova")
    response = client_for(channel_manager).post(
        reverse("partners:account_manager_set", args=[partner.pk]),
        {"account_manager": manager.pk, "reason": "Regional rebalancing"},
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.account_manager == manager
    event = AuditEvent.objects.get(action="partner.account_manager_changed")
    assert (event.actor, event.reason) == (channel_manager, "Regional rebalancing")


def test_account_manager_must_be_vendor_staff(channel_manager, partner, partner_rep):
    with pytest.raises(ValidationError):
        services.partner_account_manager_set(
            partner=partner, account_manager=partner_rep, actor=channel_manager, reason="x"
        )


def test_tiers_page_shows_requirements_from_data_and_terms(client_for, partner_rep):
    gold = TierFactory(name="Gold", commission_rate=Decimal("0.1500"), allocation_weight=3, protection_days=120)
    TierRequirementFactory(tier=gold, metric="won_revenue_12m", threshold=Decimal("5000000"))
    TierRequirementFactory(
        tier=gold, metric="certified_people", competency=CompetencyFactory(name="Networking"), threshold=Decimal("3")
    )
    body = client_for(partner_rep).get(reverse("partners:tiers")).content.decode()
    assert "Gold" in body
    assert "Won revenue, last 12 months" in body
    assert "5,000,000" in body
    assert "Certified people (Networking)" in body
    assert "15%" in body
    assert "120" in body
