"""Reads for the role home pages: counters across the apps (the composition may import every app)."""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from leads.models import OPEN_STAGES, Lead, Offer, OfferStatus, Registration, RegistrationStatus, Stage
from partners.models import Partner, PartnerStatus
from prm.models import Notification
from training.selectors import valid_certifications


def vendor_home_summary() -> dict:
    """Network-wide counters of the channel dashboard. Counting millions of leads takes a scan, so every channel
    manager shares one result for PRM_DASHBOARD_CACHE_SECONDS (the page says when it was counted)."""
    timeout = settings.PRM_DASHBOARD_CACHE_SECONDS
    if timeout <= 0:
        return _vendor_home_count()
    return cache.get_or_set("prm:vendor_home_summary", _vendor_home_count, timeout=timeout)


def _vendor_home_count() -> dict:
    by_status = dict(Partner.objects.values_list("status").annotate(n=Count("id")).order_by())
    leads = Lead.objects.aggregate(
        queue=Count("id", filter=Q(stage__in=[Stage.NEW, Stage.QUEUE])),
        offered=Count("id", filter=Q(stage=Stage.OFFERED)),
        open_deals=Count("id", filter=Q(stage__in=OPEN_STAGES)),
    )
    return {
        "partners_by_status": [(s.label, by_status.get(s.value, 0)) for s in PartnerStatus],
        "partners_active": by_status.get(PartnerStatus.ACTIVE, 0),
        "applications": by_status.get(PartnerStatus.APPLIED, 0) + by_status.get(PartnerStatus.UNDER_REVIEW, 0),
        "registrations_to_review": Registration.objects.filter(status=RegistrationStatus.PENDING_REVIEW).count(),
        "counted_at": timezone.now(),
        **leads,
    }


def partner_home_summary(*, partner: Partner, user) -> dict:
    today = timezone.localdate()
    return {
        "partner": partner,
        "pending_offers": Offer.objects.filter(partner=partner, status=OfferStatus.PENDING).count(),
        "open_deals": Lead.objects.filter(partner=partner, stage__in=OPEN_STAGES).count(),
        "protections_expiring": Registration.objects.filter(
            partner=partner,
            status=RegistrationStatus.APPROVED,
            protected_until__lte=timezone.now() + timedelta(days=7),
        ).count(),
        "certifications_valid": valid_certifications(on=today).filter(partner=partner).count(),
        "certifications_expiring": valid_certifications(on=today)
        .filter(partner=partner, expires_on__lte=today + timedelta(days=30))
        .count(),
        "notifications": Notification.objects.filter(user=user).order_by("-created_at")[:5],
    }
