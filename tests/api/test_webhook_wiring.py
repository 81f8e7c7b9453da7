"""The domain events reach webhook subscribers: each service that makes the change emits the event."""

from prm.api_auth import api_key_create
from prm.models import WebhookDelivery, WebhookSubscription
from tests.leads.factories import LeadFactory
from tests.partners.factories import TierFactory


def _subscribe(user, events):
    key, _raw = api_key_create(created_by=user, name="CRM", scopes=["leads:read"])
    return WebhookSubscription.objects.create(api_key=key, url="https://crm.example/hook", events=events, secret="s")


def test_stage_change_and_manual_tier_change_emit_to_the_partners_own_subscription(
    partner_admin, other_partner_rep, vendor_admin, channel_manager
):
    from kpi.services.tiers import tier_change
    from leads.services.deals import deal_stage_change

    own = _subscribe(partner_admin, ["deal.stage_changed", "tier.changed"])
    vendor = _subscribe(vendor_admin, ["deal.stage_changed"])
    other = _subscribe(
        other_partner_rep.partner.staff.create(email="a@beta.example", role="partner_admin"),
        ["deal.stage_changed", "tier.changed"],
    )
    deal = LeadFactory(partner=partner_admin.partner, stage="registered")
    deal_stage_change(lead=deal, to_stage="qualified", actor=partner_admin)
    tier_change(
        partner=partner_admin.partner,
        to_tier=TierFactory(code="gold"),
        kind="manual",
        actor=channel_manager,
        note="Audit",
    )

    events = sorted(WebhookDelivery.objects.filter(subscription=own).values_list("event", flat=True))
    assert events == ["deal.stage_changed", "tier.changed"]
    assert (
        WebhookDelivery.objects.get(subscription=own, event="deal.stage_changed").payload["data"]["to"] == "qualified"
    )
    assert WebhookDelivery.objects.filter(subscription=vendor).count() == 1  # vendor keys see every partner
    assert not WebhookDelivery.objects.filter(subscription=other).exists()  # never another partner's events


def test_registration_expiring_and_expired_reach_the_partners_crm(partner_admin, other_partner_rep):
    from datetime import timedelta

    from django.utils import timezone

    from leads.models import Registration, RegistrationStatus
    from leads.services.registration import protections_expire

    own = _subscribe(partner_admin, ["registration.expiring", "registration.expired"])
    other = _subscribe(
        other_partner_rep.partner.staff.create(email="b@beta.example", role="partner_admin"),
        ["registration.expiring", "registration.expired"],
    )
    now = timezone.now()
    soon, gone = (
        Registration.objects.create(
            lead=LeadFactory(partner=partner_admin.partner),
            partner=partner_admin.partner,
            status=RegistrationStatus.APPROVED,
            protected_from=now - timedelta(days=80),
            protected_until=now + delta,
        )
        for delta in (timedelta(days=3), timedelta(minutes=-1))
    )
    assert protections_expire(now=now) == 1
    protections_expire(now=now)  # idempotent: nothing sent twice
    sent = {d.event: d.payload["data"] for d in WebhookDelivery.objects.filter(subscription=own)}
    assert sent["registration.expired"] == {"registration": gone.pk, "lead": gone.lead_id}
    assert sent["registration.expiring"]["registration"] == soon.pk
    assert WebhookDelivery.objects.filter(subscription=own).count() == 2
    assert not WebhookDelivery.objects.filter(subscription=other).exists()
