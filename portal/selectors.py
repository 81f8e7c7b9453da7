"""Reads for the role home pages: counters across the apps (the composition may import every app)."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from kpi.selectors import commission_month, partners_at_risk, sla_trend, tier_movement_month, tier_progress
from leads.models import OPEN_STAGES, Lead, Offer, OfferStatus, Registration, RegistrationStatus, Stage
from leads.selectors.deals import deal_todo, pipeline_by_stage, pipeline_chart
from leads.selectors.offers import offers_waiting
from leads.selectors.registration import registration_list
from leads.selectors.routing import lead_work_queues, routing_funnel
from partners.models import Partner, PartnerStatus
from partners.selectors import partner_work_queues
from prm.caching import cache_fresh, cache_refresh, within
from prm.models import Notification
from training.selectors import training_due


def vendor_home_summary() -> dict | None:
    """Network-wide counters of the channel dashboard. Counting millions of leads takes a scan, so every channel
    manager shares one result for PRM_DASHBOARD_CACHE_SECONDS (the page says when it was counted), refreshed by one
    request at a time while the others are served the previous one (`cache_fresh`: no stampede at expiry).

    A request counts only what it can count within PRM_DASHBOARD_INLINE_MS a statement: on a network of tens of
    millions of leads the count takes longer than a request may (30 s and more at 20 M on 2 cores), so the request
    queues the periodic job's task and gets None (the page says the figures are being counted) or the last ones."""
    seconds = settings.PRM_DASHBOARD_CACHE_SECONDS
    if seconds <= 0:
        return _vendor_home_count()
    return cache_fresh(key=VENDOR_HOME_KEY, compute=_vendor_home_count_in_request, seconds=seconds)


def _vendor_home_count_in_request() -> dict | None:
    summary = within(ms=settings.PRM_DASHBOARD_INLINE_MS, compute=_vendor_home_count)
    if summary is None:
        from portal.tasks import vendor_home_summary_refresh

        transaction.on_commit(vendor_home_summary_refresh.delay)
    return summary


VENDOR_HOME_KEY = "prm:vendor_home_summary"


def vendor_home_summary_refresh() -> bool:
    """The periodic job's half (`portal.tasks.vendor_home_summary_refresh`, every half freshness period): count
    before the shared figures turn stale, so that on a large network no channel manager's request waits for them."""
    seconds = settings.PRM_DASHBOARD_CACHE_SECONDS
    return cache_refresh(key=VENDOR_HOME_KEY, compute=_vendor_home_count, seconds=seconds) is not None


def _vendor_home_count() -> dict:
    by_status = dict(Partner.objects.values_list("status").annotate(n=Count("id")).order_by())
    leads = Lead.objects.aggregate(
        queue=Count("id", filter=Q(stage__in=[Stage.NEW, Stage.QUEUE])),
        offered=Count("id", filter=Q(stage=Stage.OFFERED)),
        open_deals=Count("id", filter=Q(stage__in=OPEN_STAGES)),
    )
    return {
        "partners_by_status": [(s.label, by_status.get(s.value, 0)) for s in PartnerStatus],
        "partners_by_status_links": [(s.value, s.label, by_status.get(s.value, 0)) for s in PartnerStatus],
        "partners_active": by_status.get(PartnerStatus.ACTIVE, 0),
        "applications": by_status.get(PartnerStatus.APPLIED, 0) + by_status.get(PartnerStatus.UNDER_REVIEW, 0),
        "registrations_to_review": Registration.objects.filter(status=RegistrationStatus.PENDING_REVIEW).count(),
        "counted_at": timezone.now(),
        **leads,
        **_vendor_cockpit(),
    }


def _vendor_cockpit() -> dict:
    """The channel cockpit's panels; the queries live in the apps' selectors."""
    pipeline = pipeline_by_stage()
    funnel = routing_funnel(since=timezone.now() - timedelta(days=30))
    return {
        "queues": lead_work_queues() + partner_work_queues(),
        "funnel": funnel,
        "funnel_chart": {"labels": [f["label"] for f in funnel], "datasets": [{"data": [f["count"] for f in funnel]}]},
        "pipeline": pipeline,
        "pipeline_chart": pipeline_chart(pipeline),
        "sla_trend": sla_trend(days=90),
        "tier_movement": tier_movement_month(),
        "at_risk": partners_at_risk(limit=10),
    }


def partner_home_summary(*, partner: Partner, user) -> dict:
    return {
        "partner": partner,
        "pending_offers": Offer.objects.filter(partner=partner, status=OfferStatus.PENDING).count(),
        "open_deals": Lead.objects.filter(partner=partner, stage__in=OPEN_STAGES).count(),
        "notifications": Notification.objects.filter(user=user).order_by("-created_at")[:5],
        **_partner_cockpit(partner=partner, user=user),
    }


def _partner_cockpit(*, partner: Partner, user) -> dict:
    """The partner cockpit's panels; the queries live in the apps' selectors."""
    expiring = registration_list(viewer=user, filters={"expiring": "14"})
    pipeline = pipeline_by_stage(partner_id=partner.pk)
    return {
        "pipeline": pipeline,
        "pipeline_chart": pipeline_chart(pipeline),
        "commission": commission_month(partner=partner),
        "tier": tier_progress(partner=partner),
        "offers": offers_waiting(viewer=user),
        "todo": deal_todo(viewer=user),
        "expiring": list(expiring[:5]),
        "expiring_count": expiring.count(),
        "training": training_due(user=user, on=timezone.localdate()),
    }
