"""Reads for the partner program. Visibility is decided here (`viewer=`), so every page shares one rule."""

from decimal import Decimal

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _l

from prm.models import User
from prm.permissions import is_partner_user, scope_for
from prm.queues import queue_ageing

from .models import CustomerReview, Partner, PartnerStatus, ReviewStatus, Tier

PIPELINE_STATUSES = (
    PartnerStatus.APPLIED,
    PartnerStatus.UNDER_REVIEW,
    PartnerStatus.AGREEMENT_SIGNED,
    PartnerStatus.ONBOARDING,
)


def partner_filter_common(qs: QuerySet, filters: dict) -> QuerySet:
    """Filters shared by the directory and the public locator; m2m filters use EXISTS so rows never repeat."""
    if region := filters.get("region"):
        qs = qs.filter(Exists(Partner.regions.through.objects.filter(partner_id=OuterRef("pk"), region__code=region)))
    if competency := filters.get("competency"):
        qs = qs.filter(
            Exists(Partner.competencies.through.objects.filter(partner_id=OuterRef("pk"), competency__code=competency))
        )
    if industry := filters.get("industry"):
        qs = qs.filter(
            Exists(Partner.industries.through.objects.filter(partner_id=OuterRef("pk"), industry__code=industry))
        )
    if partner_type := filters.get("partner_type"):
        qs = qs.filter(partner_type=partner_type)
    if tier := filters.get("tier"):
        qs = qs.filter(tier__code=tier)
    return qs


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None


PARTNER_CHOICES_MAX = 500


def partner_choices() -> list[Partner] | None:
    """Partners for a list's partner filter, by name; None past PARTNER_CHOICES_MAX (a network of thousands: the
    page offers a search by name instead of a drop-down of 100,000 names, which took seconds to render)."""
    limit = PARTNER_CHOICES_MAX
    partners = list(Partner.objects.order_by("name").only("id", "name")[: limit + 1])
    return partners if len(partners) <= limit else None


def partner_list(*, viewer, filters: dict | None = None) -> QuerySet[Partner]:
    """The directory. Vendor staff see every partner; partner staff only their own company."""
    from prm.models import User

    filters = filters or {}
    qs = Partner.objects.select_related("tier", "account_manager", "home_region").annotate(
        staff_count=Coalesce(
            Subquery(
                User.objects.filter(partner=OuterRef("pk"))
                .order_by()
                .values("partner")
                .annotate(n=Count("pk"))
                .values("n"),
                output_field=IntegerField(),
            ),
            0,
        )
    )
    qs = scope_for(qs, viewer)
    if q := filters.get("q"):
        qs = qs.filter(Q(name__icontains=q) | Q(legal_name__icontains=q) | Q(tax_id__icontains=q))
    for field in ("status", "program_model"):
        if value := filters.get(field):
            qs = qs.filter(**{field: value})
    if manager := filters.get("account_manager"):
        qs = qs.filter(account_manager_id=manager) if str(manager).isdigit() else qs.none()
    if (low := _decimal(filters.get("sla_min"))) is not None:
        qs = qs.filter(sla_score__gte=low)
    if (high := _decimal(filters.get("sla_max"))) is not None:
        qs = qs.filter(sla_score__lte=high)
    return partner_filter_common(qs, filters).order_by("name")


def partner_get(*, viewer, pk: int) -> Partner:
    return (
        partner_list(viewer=viewer)
        .select_related("parent", "exclusive_region", "sla_policy")
        .prefetch_related("regions", "competencies", "industries", "contacts")
        .get(pk=pk)
    )


def partner_team(*, partner: Partner) -> QuerySet[User]:
    """The company's user accounts, active ones first (the team page and the partner page)."""
    return User.objects.filter(partner=partner).order_by("-is_active", "last_name", "first_name", "email")


def partner_user_get(*, viewer, pk: int) -> User:
    """A colleague the viewer may manage: only a user of the viewer's own partner (else User.DoesNotExist)."""
    qs = User.objects.filter(partner_id=viewer.partner_id) if is_partner_user(viewer) else User.objects.none()
    return qs.get(pk=pk)


def partner_onboarding_readiness(*, partner: Partner) -> dict:
    """Checklist for activation: every published mandatory onboarding course passed by someone at the partner,
    and at least one valid certification. Two queries whatever the size."""
    from training.models import Course, CourseStatus, Enrollment, EnrollmentStatus
    from training.selectors import valid_certifications as valid_certifications_on

    courses = list(
        Course.objects.filter(status=CourseStatus.PUBLISHED, is_mandatory_onboarding=True)
        .annotate(
            passed=Exists(
                Enrollment.objects.filter(course=OuterRef("pk"), partner=partner, status=EnrollmentStatus.PASSED)
            )
        )
        .order_by("title")
    )
    valid_certifications = valid_certifications_on(on=timezone.localdate()).filter(partner=partner).order_by().count()
    missing = [f"“{c.title}” not passed" for c in courses if not c.passed]
    if not valid_certifications:
        missing.append("no valid certification")
    return {"courses": courses, "valid_certifications": valid_certifications, "missing": missing, "ready": not missing}


def partner_certifications(*, partner: Partner) -> QuerySet:
    """Valid certifications only: expired or revoked ones no longer count."""
    from training.selectors import valid_certifications

    return (
        valid_certifications(on=timezone.localdate()).filter(partner=partner).select_related("type__competency", "user")
    )


def partner_agreement(*, partner: Partner):
    """The signed agreement, or else the latest one of any status."""
    return (
        partner.agreements.select_related("sla_policy", "signed_by_vendor")
        .prefetch_related("territory")
        .order_by("-signed_at", "-created_at")
        .first()
    )


def onboarding_board() -> list[tuple[str, str, list[Partner]]]:
    """Applicants and partners in onboarding, grouped by status, oldest first."""
    partners = list(
        Partner.objects.filter(status__in=PIPELINE_STATUSES)
        .select_related("account_manager")
        .order_by("status_changed_at", "pk")
    )
    return [(s.value, s.label, [p for p in partners if p.status == s]) for s in PIPELINE_STATUSES]


def tier_list() -> QuerySet[Tier]:
    return Tier.objects.prefetch_related("requirements__competency").order_by("rank")


def partner_published_reviews(*, partner: Partner) -> QuerySet[CustomerReview]:
    return CustomerReview.objects.filter(partner=partner, status=ReviewStatus.PUBLISHED).order_by("-submitted_at")[:20]


def review_queue() -> QuerySet[CustomerReview]:
    return (
        CustomerReview.objects.filter(status=ReviewStatus.SUBMITTED)
        .select_related("partner", "lead")
        .order_by("submitted_at")
    )


def partner_work_queues() -> list[dict]:
    """The channel managers' partner queues (applications, reviews to moderate) with their ageing, network-wide."""
    return [
        {
            "key": "applications",
            "label": _l("Applications"),
            "url": "partners:onboarding",
            **queue_ageing(
                Partner.objects.filter(status__in=[PartnerStatus.APPLIED, PartnerStatus.UNDER_REVIEW]), "created_at"
            ),
        },
        {
            "key": "reviews",
            "label": _l("Customer reviews to moderate"),
            "url": "partners:review_queue",
            **queue_ageing(CustomerReview.objects.filter(status=ReviewStatus.SUBMITTED), "submitted_at"),
        },
    ]
