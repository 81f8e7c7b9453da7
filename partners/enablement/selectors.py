"""Reads for enablement. `targeted_for` is the ONE visibility rule for resources and announcements."""

from collections.abc import Callable
from datetime import timedelta
from statistics import median

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from partners.models import Partner
from prm.permissions import is_partner_user, is_vendor, scope_for
from training.models import Enrollment, EnrollmentStatus

from .models import (
    ACTIVE_REQUEST_STATUSES,
    Announcement,
    AnnouncementRead,
    LibraryVisit,
    PartnerRequest,
    RequestCategory,
    Resource,
    ResourceDownload,
)

SLA_REPORT_DAYS = 90


def targeted_for(qs: QuerySet, *, viewer) -> QuerySet:
    """Vendor staff see everything; partner staff what targets their program model and tier; others nothing."""
    if is_vendor(viewer):
        return qs
    if not is_partner_user(viewer):
        return qs.none()
    partner = Partner.objects.select_related("tier").only("program_model", "tier__rank").get(pk=viewer.partner_id)
    model_q = Q(program_models="") | Q(program_models__contains=f",{partner.program_model},")
    tier_q = Q(min_tier_rank__isnull=True)
    if partner.tier_id is not None:
        tier_q |= Q(min_tier_rank__lte=partner.tier.rank)
    return qs.filter(model_q & tier_q)


# --- Resource library ----------------------------------------------------------------------------------------


def library_last_visit(*, user):
    return LibraryVisit.objects.filter(user=user).values_list("visited_at", flat=True).first()


def resource_list(*, viewer, filters: dict | None = None, since=None) -> QuerySet[Resource]:
    """Current resources the viewer may see; `is_new` when published after `since` (the viewer's last visit)."""
    filters = filters or {}
    qs = targeted_for(Resource.objects.filter(current_version__isnull=False), viewer=viewer).select_related(
        "current_version"
    )
    if not is_vendor(viewer) or not filters.get("archived"):
        qs = qs.filter(is_archived=False)
    if q := filters.get("q"):
        qs = qs.filter(Q(title__icontains=q) | Q(description__icontains=q))
    for field in ("kind", "language", "audience"):
        if value := filters.get(field):
            qs = qs.filter(**{field: value})
    if product := filters.get("product"):
        qs = qs.filter(product__iexact=product)
    qs = qs.annotate(is_new=Q(published_at__gt=since) if since else Value(False))
    if is_vendor(viewer):
        qs = qs.annotate(
            download_total=Coalesce(Sum("downloads__count"), 0),
            download_partners=Count("downloads", filter=Q(downloads__count__gt=0)),
        )
    return qs.order_by("-published_at", "-id")


def resource_get(*, viewer, pk: int) -> Resource:
    """A resource the viewer may see, or 404 (drafts without a version count as not visible to partners)."""
    qs = targeted_for(Resource.objects.select_related("current_version", "created_by"), viewer=viewer)
    if not is_vendor(viewer):
        qs = qs.filter(is_archived=False, current_version__isnull=False)
    try:
        return qs.get(pk=pk)
    except Resource.DoesNotExist:
        raise Http404 from None


def resource_download_stats(*, resource: Resource) -> QuerySet[ResourceDownload]:
    return resource.downloads.select_related("partner").order_by("-count", "partner__name")


def resource_facets() -> dict:
    return {
        "products": list(
            Resource.objects.exclude(product="").order_by("product").values_list("product", flat=True).distinct()
        ),
        "languages": list(Resource.objects.order_by("language").values_list("language", flat=True).distinct()),
    }


# --- Announcements -------------------------------------------------------------------------------------------


def announcement_list(*, viewer, unread_only: bool = False) -> QuerySet[Announcement]:
    """Published announcements for the viewer, with `is_read` and, for a linked course, `course_passed`."""
    qs = targeted_for(Announcement.objects.select_related("course"), viewer=viewer)
    if not is_vendor(viewer):
        qs = qs.filter(published_at__lte=timezone.now())
    qs = qs.annotate(
        is_read=Exists(AnnouncementRead.objects.filter(announcement=OuterRef("pk"), user_id=viewer.pk)),
        course_passed=Exists(
            Enrollment.objects.filter(user_id=viewer.pk, course=OuterRef("course"), status=EnrollmentStatus.PASSED)
        ),
    )
    if is_vendor(viewer):
        qs = qs.annotate(read_count=Count("reads"))
    if unread_only:
        qs = qs.filter(is_read=False)
    return qs.order_by("-published_at", "-id")


def announcement_get(*, viewer, pk: int) -> Announcement:
    try:
        return announcement_list(viewer=viewer).get(pk=pk)
    except Announcement.DoesNotExist:
        raise Http404 from None


# --- Partner requests ----------------------------------------------------------------------------------------


def request_list(*, viewer, filters: dict | None = None) -> QuerySet[PartnerRequest]:
    """Vendor staff see every request; partner staff only their own partner's."""
    filters = filters or {}
    qs = scope_for(PartnerRequest.objects.select_related("partner", "owner", "opened_by"), viewer)
    for field in ("status", "category"):
        if value := filters.get(field):
            qs = qs.filter(**{field: value})
    if filters.get("mine"):
        qs = qs.filter(owner=viewer)
    if filters.get("overdue"):
        now = timezone.now()
        qs = qs.filter(_overdue_q(now))
    if q := filters.get("q"):
        qs = qs.filter(Q(subject__icontains=q) | Q(partner__name__icontains=q))
    return qs.annotate(message_count=Count("messages")).order_by("-created_at", "-id")


def request_get(*, viewer, pk: int) -> PartnerRequest:
    try:
        return scope_for(PartnerRequest.objects.select_related("partner", "owner", "opened_by"), viewer).get(pk=pk)
    except PartnerRequest.DoesNotExist:
        raise Http404 from None


def _overdue_q(now) -> Q:
    return Q(status__in=ACTIVE_REQUEST_STATUSES) & (
        Q(responded_at__isnull=True, response_due_at__lt=now) | Q(resolution_due_at__lt=now)
    )


def requests_overdue(*, now=None) -> QuerySet[PartnerRequest]:
    """Active requests past a deadline that nobody has escalated yet (the escalation job's selection)."""
    return PartnerRequest.objects.filter(_overdue_q(now or timezone.now()), escalated_at__isnull=True)


# --- The vendor's SLA compliance -----------------------------------------------------------------------------


def _pct(part: int, whole: int):
    return round(100 * part / whole, 1) if whole else None


def vendor_sla_report(*, now=None, days: int = SLA_REPORT_DAYS) -> dict:
    """Share of requests answered and resolved within deadline over the window, median response time.

    A request counts for the response share once it was answered or its response deadline passed (an unanswered,
    overdue request is a breach); likewise for resolution. Response time is wall-clock minutes to the first answer.
    """
    now = now or timezone.now()
    window = PartnerRequest.objects.filter(created_at__gte=now - timedelta(days=days))
    answered = Q(responded_at__isnull=False)
    resolved = Q(resolved_at__isnull=False)
    rows = (
        window.values("category")
        .annotate(
            total=Count("id"),
            response_due=Count("id", filter=answered | Q(response_due_at__lt=now)),
            response_ok=Count("id", filter=answered & Q(responded_at__lte=F("response_due_at"))),
            resolution_due=Count("id", filter=resolved | Q(resolution_due_at__lt=now)),
            resolution_ok=Count("id", filter=resolved & Q(resolved_at__lte=F("resolution_due_at"))),
        )
        .order_by("category")
    )
    minutes: dict[str, list[float]] = {}
    for category, created, responded in window.filter(answered).values_list("category", "created_at", "responded_at"):
        minutes.setdefault(category, []).append((responded - created).total_seconds() / 60)

    def figures(row: dict, values: list[float]) -> dict:
        return {
            "total": row["total"],
            "response_pct": _pct(row["response_ok"], row["response_due"]),
            "resolution_pct": _pct(row["resolution_ok"], row["resolution_due"]),
            "median_response_minutes": round(median(values), 1) if values else None,
        }

    labels = dict(RequestCategory.choices)
    keys = ("total", "response_due", "response_ok", "resolution_due", "resolution_ok")
    overall = dict.fromkeys(keys, 0)
    categories = []
    for row in rows:
        for key in keys:
            overall[key] += row[key]
        categories.append(
            {"category": labels.get(row["category"], row["category"]), **figures(row, minutes.get(row["category"], []))}
        )
    return {
        "days": days,
        "overall": figures(overall, [m for values in minutes.values() for m in values]),
        "categories": categories,
        "partner_sla_pct": partner_network_sla_pct(),
    }


# The partners' side of the report is a KPI figure, and kpi sits above this app: kpi.apps registers its selector
# here at start-up (as it registers its text renderers in prm.texts). Without one the report shows no network figure.
PARTNER_SLA_SOURCE: dict[str, Callable[[], dict | None]] = {}


def partner_network_sla_pct() -> dict | None:
    """The network's offers accepted within SLA on the latest KPI snapshot ({"date", "pct"}), or None."""
    source = PARTNER_SLA_SOURCE.get("network")
    return source() if source is not None else None
