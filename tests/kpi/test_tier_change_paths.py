"""Rule 5 — how a tier changes: the nightly run, a manual change on the partner page or in the admin, and a tier
lock all go through `kpi.services.tiers`, so they leave the same trail: one TierChange with a reason code, one
audit row from the `TierAudit` vocabulary, one `tier.changed` webhook of one shape and one inbox message."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from kpi.models import KpiSnapshot, TierAudit, TierChange, TierChangeKind
from kpi.rules import REASONS
from kpi.services.tiers import tier_evaluate
from prm.api_auth import api_key_create
from prm.models import AuditEvent, Notification, NotificationKind, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db

PAYLOAD_KEYS = {
    "id",
    "kind",
    "from_tier",
    "to_tier",
    "effective_on",
    "grace_until",
    "evaluation",
    "reason_code",
    "reason_params",
    "reason",
    "actor",
    "run",
}


def _nightly(partner, tiers, client_for, channel_manager, vendor_admin):
    today = timezone.localdate()
    KpiSnapshot.objects.create(
        partner=partner,
        date=today,
        accepted_in_sla_pct=Decimal("97"),
        certified_people=2,
        certified_by_competency={"security": 2},
    )
    tier_evaluate(on=today)
    return TierChangeKind.PROMOTION


def _manual_partner_page(partner, tiers, client_for, channel_manager, vendor_admin):
    response = client_for(channel_manager).post(
        reverse("partners:tier_set", args=[partner.pk]), {"tier": tiers["gold"].pk, "reason": "Strategic bid"}
    )
    assert response.status_code == 302
    return TierChangeKind.MANUAL


def _lock_page(partner, tiers, client_for, channel_manager, vendor_admin):
    until = timezone.localdate() + datetime.timedelta(days=30)
    response = client_for(channel_manager).post(
        reverse("kpi:tier_lock", args=[partner.pk]),
        {"tier": tiers["gold"].pk, "until": until.isoformat(), "reason": "Strategic bid"},
    )
    assert response.status_code == 302
    return TierChangeKind.LOCK


def _admin_change(partner, tiers, client_for, channel_manager, vendor_admin):
    response = client_for(vendor_admin).post(
        reverse("admin:kpi_tierchange_add"),
        {"partner": partner.pk, "to_tier": tiers["gold"].pk, "note": "Strategic bid"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    return TierChangeKind.MANUAL


def _admin_lock(partner, tiers, client_for, channel_manager, vendor_admin):
    until = timezone.localdate() + datetime.timedelta(days=30)
    response = client_for(vendor_admin).post(
        reverse("admin:kpi_tierlock_add"),
        {"partner": partner.pk, "tier": tiers["gold"].pk, "until": until.isoformat(), "reason": "Strategic bid"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    return TierChangeKind.LOCK


DOORS = {
    "nightly": _nightly,
    "manual_partner_page": _manual_partner_page,
    "lock_page": _lock_page,
    "admin_change": _admin_change,
    "admin_lock": _admin_lock,
}


@pytest.mark.parametrize("door", DOORS)
def test_a_tier_change_leaves_the_same_trail_whatever_the_door(
    door, partner, partner_admin, tiers, client_for, channel_manager, vendor_admin
):
    partner.tier = tiers["registered"]
    partner.save()
    key, _raw = api_key_create(created_by=partner_admin, name="CRM", scopes=["partners:read"])
    sub = WebhookSubscription.objects.create(
        api_key=key, url="http://127.0.0.1:9/hook", events=[TierAudit.WEBHOOK_EVENT], secret="s"
    )

    kind = DOORS[door](partner, tiers, client_for, channel_manager, vendor_admin)

    partner.refresh_from_db()
    assert partner.tier == tiers["gold"]
    change = TierChange.objects.get(partner=partner)
    assert (change.kind, change.from_tier, change.to_tier) == (kind, tiers["registered"], tiers["gold"])
    assert change.reason_code in REASONS
    with translation.override("en"):
        english = change.reason_text
    with translation.override("ru"):
        russian = change.reason_text
    assert "Gold" in english and "Gold" in russian and english != russian

    [event] = AuditEvent.objects.filter(partner=partner, action__startswith="tier.")
    assert event.action == TierAudit.BY_KIND[kind]
    assert event.object_id == str(change.pk)
    assert event.data["reason_code"] == change.reason_code

    [delivery] = WebhookDelivery.objects.filter(subscription=sub)
    assert delivery.event == TierAudit.WEBHOOK_EVENT
    data = delivery.payload["data"]
    assert set(data) == PAYLOAD_KEYS
    assert (data["kind"], data["from_tier"], data["to_tier"]) == (kind, "registered", "gold")
    assert data["reason_code"] == change.reason_code

    assert Notification.objects.filter(user=partner_admin, kind=NotificationKind.TIER_CHANGED).count() == 1


def test_admin_cannot_edit_or_delete_tier_decisions(client_for, vendor_admin, partner, tiers, channel_manager):
    from kpi.services.tiers import tier_change

    change = tier_change(
        partner=partner, to_tier=tiers["silver"], kind=TierChangeKind.MANUAL, actor=channel_manager, note="x"
    )
    client = client_for(vendor_admin)
    assert client.post(reverse("admin:kpi_tierchange_delete", args=[change.pk]), {"post": "yes"}).status_code == 403
    response = client.post(
        reverse("admin:kpi_tierchange_add"), {"partner": partner.pk, "to_tier": tiers["silver"].pk, "note": "again"}
    )
    assert response.status_code == 200  # the same check as the partner page: already has this tier
    assert TierChange.objects.count() == 1
