"""The domain events reach webhook subscribers: each service that makes the change emits the event."""

import pytest

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


def test_lead_flagged_for_reclaim_reaches_the_partners_crm_once(partner_admin, partner_rep, other_partner_rep):
    """The nightly reclaim job flags an untouched routed lead: its partner's CRM hears `lead.reclaim_flagged`
    (with the deadline to work it), once, and no other partner hears it."""
    from datetime import timedelta

    from django.utils import timezone

    from leads.models import LeadReclaim, LeadSource, Stage
    from leads.tasks import leads_reclaim

    own = _subscribe(partner_admin, ["lead.reclaim_flagged"])
    other = _subscribe(
        other_partner_rep.partner.staff.create(email="c@beta.example", role="partner_admin"),
        ["lead.reclaim_flagged"],
    )
    now = timezone.now()
    lead = LeadFactory(
        partner=partner_rep.partner,
        owner=partner_rep,
        source=LeadSource.VENDOR,
        stage=Stage.REGISTERED,
        offered_at=now - timedelta(days=3),
        accepted_at=now - timedelta(days=3),
        first_contact_due=now - timedelta(hours=1),
    )

    leads_reclaim()
    leads_reclaim()  # the next night: still flagged, not announced again

    flag = LeadReclaim.objects.get(lead=lead)
    [delivery] = WebhookDelivery.objects.filter(subscription=own)
    assert delivery.event == "lead.reclaim_flagged"
    assert delivery.payload["partner"] == partner_rep.partner_id
    assert delivery.payload["data"] == {
        "lead": lead.pk,
        "reason": "no_first_contact",
        "flagged_at": flag.flagged_at.isoformat(),
        "reclaim_due": flag.reclaim_due.isoformat(),
    }
    assert not WebhookDelivery.objects.filter(subscription=other).exists()


def test_certification_expiring_reaches_the_partners_crm_once_per_window(partner_admin, other_partner_rep):
    """The daily reminder job's 30- and 7-day warnings go to the holder's partner's CRM as
    `certification.expiring`, each once; another partner's certificates never reach it."""
    import datetime

    from django.utils import timezone

    from prm.models import Role
    from tests.prm.factories import PartnerUserFactory
    from tests.training.factories import CertificationFactory
    from training.models import Certification
    from training.tasks import certifications_remind

    own = _subscribe(partner_admin, ["certification.expiring"])
    today = timezone.localdate()
    holder = PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=partner_admin.partner)
    cert = CertificationFactory(
        user=holder, issued_on=today - datetime.timedelta(days=700), expires_on=today + datetime.timedelta(days=20)
    )
    CertificationFactory(  # another partner's: never on this CRM
        user=other_partner_rep,
        issued_on=today - datetime.timedelta(days=700),
        expires_on=today + datetime.timedelta(days=20),
    )

    certifications_remind()
    certifications_remind()  # idempotent
    Certification.objects.filter(pk=cert.pk).update(expires_on=today + datetime.timedelta(days=6))
    certifications_remind()

    deliveries = WebhookDelivery.objects.filter(subscription=own).order_by("pk")
    assert [d.event for d in deliveries] == ["certification.expiring", "certification.expiring"]
    first, second = (d.payload["data"] for d in deliveries)
    assert first == {
        "certification": cert.pk,
        "user": holder.pk,
        "type": cert.type.code,
        "expires_on": (today + datetime.timedelta(days=20)).isoformat(),
        "days": 30,
    }
    assert (second["days"], second["expires_on"]) == (7, (today + datetime.timedelta(days=6)).isoformat())
    assert {d.payload["partner"] for d in deliveries} == {partner_admin.partner_id}


def test_certification_expired_reaches_the_partners_crm_once(partner_admin):
    """The same daily job announces a certificate that expired (not one revoked, nor one long gone) once."""
    import datetime

    from django.utils import timezone

    from prm.models import Role
    from tests.prm.factories import PartnerUserFactory
    from tests.training.factories import CertificationFactory
    from training.tasks import certifications_remind

    own = _subscribe(partner_admin, ["certification.expired"])
    today = timezone.localdate()
    holder = PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=partner_admin.partner)
    issued = today - datetime.timedelta(days=800)
    expired = CertificationFactory(user=holder, issued_on=issued, expires_on=today - datetime.timedelta(days=1))
    CertificationFactory(  # revoked: not an expiry
        user=holder, issued_on=issued, expires_on=today - datetime.timedelta(days=2), revoked_at=timezone.now()
    )
    CertificationFactory(user=holder, issued_on=issued, expires_on=today - datetime.timedelta(days=60))  # history
    CertificationFactory(user=holder, issued_on=issued, expires_on=today + datetime.timedelta(days=200))  # valid

    certifications_remind()
    certifications_remind()

    [delivery] = WebhookDelivery.objects.filter(subscription=own)
    assert delivery.event == "certification.expired"
    assert delivery.payload["data"] == {
        "certification": expired.pk,
        "user": holder.pk,
        "type": expired.type.code,
        "expires_on": (today - datetime.timedelta(days=1)).isoformat(),
    }


@pytest.mark.django_db
def test_a_routed_offer_reaches_the_winners_crm_and_no_subscriber_costs_no_query():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leads.services.routing import lead_route
    from prm.models import Role
    from tests.leads.routing_factories import region, routing_partner, vendor_lead
    from tests.prm.factories import PartnerUserFactory

    msk = region("msk")
    winner = routing_partner(regions=[msk])
    quiet, lead = vendor_lead(region=msk), vendor_lead(region=msk)
    with CaptureQueriesContext(connection) as queries:
        assert lead_route(lead=quiet).chosen_id == winner.pk
    # Whether anyone subscribes is read with the lead's inputs (the routing pool's version), not asked on its own.
    asked = [q["sql"] for q in queries.captured_queries if "prm_webhooksubscription" in q["sql"]]
    assert len(asked) == 1 and "leads_routingpoolversion" in asked[0]
    assert not WebhookDelivery.objects.exists()

    sub = _subscribe(PartnerUserFactory(partner=winner, role=Role.PARTNER_ADMIN), ["lead.offered"])
    assert lead_route(lead=lead).chosen_id == winner.pk
    delivery = WebhookDelivery.objects.get(subscription=sub)
    assert delivery.event == "lead.offered" and delivery.payload["data"]["lead"] == lead.pk
