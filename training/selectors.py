"""Reads of the training app. Partner scoping happens here (`viewer=`), so every page gets the same rule."""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from prm.models import PARTNER_ROLES, User
from prm.permissions import is_partner_admin, is_partner_user, is_vendor

from .models import (
    Certification,
    Course,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    LearningPath,
    LearningPathCourse,
)

CATALOG_FILTERS = ("language", "product", "level", "role", "q")


def valid_certifications(*, on: datetime.date) -> QuerySet[Certification]:
    """The one definition of a certification that counts: issued by `on`, expiring on `on` or later (a certificate
    expiring today is valid all day) and not revoked."""
    return Certification.objects.filter(expires_on__gte=on, issued_on__lte=on, revoked_at__isnull=True)


# --- Catalog -------------------------------------------------------------------------------------------------


def course_catalog(*, viewer, filters: dict) -> QuerySet:
    qs = Course.objects.filter(status=CourseStatus.PUBLISHED).select_related("grants")
    if filters.get("language"):
        qs = qs.filter(language=filters["language"])
    if filters.get("product"):
        qs = qs.filter(product=filters["product"])
    if filters.get("level"):
        qs = qs.filter(level=filters["level"])
    if filters.get("role"):
        qs = qs.filter(Q(audience_role=filters["role"]) | Q(audience_role=""))
    if filters.get("q"):
        qs = qs.filter(Q(title__icontains=filters["q"]) | Q(description__icontains=filters["q"]))
    qs = qs.annotate(lesson_count=Count("lessons", distinct=True))
    if is_partner_user(viewer):
        mine = Enrollment.objects.filter(course=OuterRef("pk"), user=viewer)
        qs = qs.annotate(my_status=Subquery(mine.values("status")[:1]))
    return qs.order_by("title")


def catalog_facets() -> dict:
    published = Course.objects.filter(status=CourseStatus.PUBLISHED)
    return {
        "languages": list(published.order_by("language").values_list("language", flat=True).distinct()),
        "products": list(
            published.exclude(product="").order_by("product").values_list("product", flat=True).distinct()
        ),
    }


def course_get(*, viewer, pk: int) -> Course:
    """Partner staff see published courses only; vendor staff see every course."""
    qs = Course.objects.select_related("grants")
    if not is_vendor(viewer):
        qs = qs.filter(status=CourseStatus.PUBLISHED)
    try:
        return qs.get(pk=pk)
    except Course.DoesNotExist:
        raise Http404 from None


def course_manage_list() -> QuerySet:
    return Course.objects.select_related("grants").annotate(
        lesson_count=Count("lessons", distinct=True),
        question_count=Count("quiz__questions", distinct=True),
        enrolled=Count("enrollments", distinct=True),
    )


# --- Enrolments ----------------------------------------------------------------------------------------------


def enrollments_visible(*, viewer) -> QuerySet:
    """Own enrolments; a partner admin also sees the team's; vendor staff see all."""
    qs = Enrollment.objects.select_related("course", "user", "partner")
    if is_vendor(viewer):
        return qs
    if is_partner_admin(viewer):
        return qs.filter(partner_id=viewer.partner_id)
    if is_partner_user(viewer):
        return qs.filter(user=viewer)
    return qs.none()


def enrollment_get(*, viewer, pk: int, own: bool = False) -> Enrollment:
    """`own=True` for taking lessons and the quiz: only the learner themself."""
    qs = Enrollment.objects.filter(user=viewer) if own else enrollments_visible(viewer=viewer)
    try:
        return qs.select_related("course__grants", "course__quiz", "user", "partner").get(pk=pk)
    except Enrollment.DoesNotExist:
        raise Http404 from None


def my_enrollments(*, user) -> QuerySet:
    return (
        Enrollment.objects.filter(user=user)
        .select_related("course")
        .annotate(
            lessons_total=Count("course__lessons", distinct=True),
            lessons_done=Count("completed_lessons", distinct=True),
        )
        .order_by("-updated_at")
    )


def learning_paths_for(*, user) -> list[LearningPath]:
    """Paths assigned by the partner's program model and the person's role (empty field = everyone)."""
    if not is_partner_user(user):
        return []
    return list(
        LearningPath.objects.filter(
            Q(program_model=user.partner.program_model) | Q(program_model=""), Q(role=user.role) | Q(role="")
        ).prefetch_related(
            Prefetch(
                "learningpathcourse_set",
                queryset=LearningPathCourse.objects.select_related("course").order_by("order"),
            )
        )
    )


# --- Team and reports ----------------------------------------------------------------------------------------


def _required_courses_by_role(*, program_model: str) -> dict[str, list[Course]]:
    """Mandatory onboarding courses plus mandatory courses of the assigned learning paths, per partner role."""
    onboarding = list(Course.objects.filter(status=CourseStatus.PUBLISHED, is_mandatory_onboarding=True))
    path_links = list(
        LearningPathCourse.objects.filter(
            mandatory=True,
            course__status=CourseStatus.PUBLISHED,
        )
        .filter(Q(path__program_model=program_model) | Q(path__program_model=""))
        .select_related("course", "path")
        .order_by("path__name", "order")
    )
    result = {}
    for role in PARTNER_ROLES:
        courses = {c.pk: c for c in onboarding if c.audience_role in ("", role)}
        for link in path_links:
            if link.path.role in ("", role):
                courses.setdefault(link.course_id, link.course)
        result[role] = sorted(courses.values(), key=lambda c: c.title)
    return result


def team_training_status(*, viewer, on: datetime.date) -> dict:
    """Each person of the viewer's partner × the courses required of them, plus their certifications."""
    if not is_partner_admin(viewer):
        raise Http404
    partner = viewer.partner
    staff = list(staff_mandatory_training(on=on).filter(partner=partner).order_by("last_name", "first_name", "email"))
    required = _required_courses_by_role(program_model=partner.program_model)
    status = {
        (e.user_id, e.course_id): e
        for e in Enrollment.objects.filter(partner=partner).only("pk", "user_id", "course_id", "status")
    }
    certs: dict[int, list[Certification]] = {}
    for c in Certification.objects.filter(partner=partner).select_related("type").order_by("expires_on"):
        certs.setdefault(c.user_id, []).append(c)
    all_courses = {c.pk: c for courses in required.values() for c in courses}
    columns = sorted(all_courses.values(), key=lambda c: c.title)
    rows = []
    for person in staff:
        mine = {c.pk for c in required.get(person.role, [])}
        cells = []
        done = 0
        for course in columns:
            if course.pk not in mine:
                cells.append({"required": False})
                continue
            e = status.get((person.pk, course.pk))
            passed = e is not None and e.status == EnrollmentStatus.PASSED
            done += passed
            cells.append(
                {
                    "required": True,
                    "status": e.status if e else "",
                    "status_label": e.get_status_display() if e else "",
                    "passed": passed,
                }
            )
        rows.append(
            {
                "person": person,
                "cells": cells,
                "done": done,
                "required": len(mine),
                "certifications": [(c, c.status_on(on)) for c in certs.get(person.pk, [])],
            }
        )
    # The figure the nightly KPI job stores for this partner, from the same definition.
    kpi = mandatory_training_completion_by_partner(on=on, partner_ids=[partner.pk]).get(partner.pk)
    return {"columns": columns, "rows": rows, "mandatory": kpi}


def certified_people_report(*, filters: dict, on: datetime.date) -> list[dict]:
    """Valid certified people per partner and competency, filtered by competency, region and partner."""
    qs = valid_certifications(on=on)
    if filters.get("competency"):
        qs = qs.filter(type__competency__code=filters["competency"])
    if filters.get("region"):
        qs = qs.filter(partner__regions__code=filters["region"])
    if filters.get("partner"):
        qs = qs.filter(partner_id=filters["partner"])
    return list(
        qs.values("partner_id", "partner__name", "type__competency__code", "type__competency__name")
        .annotate(people=Count("user", distinct=True))
        .order_by("partner__name", "type__competency__name")
    )


def course_completion_rates() -> list[dict]:
    rows = list(
        Course.objects.filter(status__in=[CourseStatus.PUBLISHED, CourseStatus.ARCHIVED])
        .annotate(
            enrolled=Count("enrollments"),
            passed=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.PASSED)),
        )
        .values("pk", "title", "version_major", "version_minor", "enrolled", "passed")
        .order_by("title")
    )
    for r in rows:
        r["rate"] = round(100 * r["passed"] / r["enrolled"]) if r["enrolled"] else 0
    return rows


# --- The definitions the KPI job, the scorecard and the training pages share -----------------------------------
#
# Each one is set-based: one statement for the whole network (the nightly run) or, filtered, for one partner
# (the team page). Nothing else in the code decides what "valid" or "mandatory training complete" means.


def mandatory_courses(*, role) -> QuerySet[Course]:
    """The courses everyone in `role` must pass: published mandatory onboarding courses whose audience is that role
    or everyone. `role` may be an `OuterRef("role")` to correlate with a user row."""
    return Course.objects.filter(
        Q(audience_role="") | Q(audience_role=role), status=CourseStatus.PUBLISHED, is_mandatory_onboarding=True
    )


def _count(qs: QuerySet) -> Subquery:
    return Coalesce(
        Subquery(qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n"), output_field=IntegerField()),
        0,
    )


def staff_mandatory_training(*, on: datetime.date) -> QuerySet[User]:
    """Active partner staff, each annotated with `mandatory_required`, `mandatory_passed` and `mandatory_complete`
    (passed, by the end of `on`, every course `mandatory_courses` asks of their role). Filter it by partner for
    one team; group it by partner for the network (`mandatory_training_completion_by_partner`)."""
    end = timezone.make_aware(
        datetime.datetime.combine(on + datetime.timedelta(days=1), datetime.time.min), timezone.get_default_timezone()
    )
    passed = Enrollment.objects.filter(
        Q(completed_at__lt=end) | Q(completed_at__isnull=True),
        user_id=OuterRef("pk"),
        status=EnrollmentStatus.PASSED,
        course__in=mandatory_courses(role=OuterRef(OuterRef("role"))),
    )
    return (
        User.objects.filter(role__in=PARTNER_ROLES, partner__isnull=False, is_active=True)
        .annotate(
            mandatory_required=_count(mandatory_courses(role=OuterRef("role"))),
            mandatory_passed=_count(passed),
        )
        .annotate(
            mandatory_complete=ExpressionWrapper(
                Q(mandatory_passed__gte=F("mandatory_required")), output_field=BooleanField()
            )
        )
    )


def mandatory_training_completion_by_partner(
    *, on: datetime.date, partner_ids: list[int] | None = None
) -> dict[int, dict]:
    """{partner_id: {"staff": n, "completed": m, "pct": Decimal}}: the share of active partner staff whose
    mandatory training is complete on `on` (see `staff_mandatory_training`). One SQL statement."""
    staff = staff_mandatory_training(on=on)
    if partner_ids is not None:
        staff = staff.filter(partner_id__in=partner_ids)
    rows = (
        staff.order_by()
        .values("partner_id")
        .annotate(staff=Count("pk"), completed=Count("pk", filter=Q(mandatory_complete=True)))
    )
    return {
        r["partner_id"]: {
            "staff": r["staff"],
            "completed": r["completed"],
            "pct": (Decimal(100 * r["completed"]) / r["staff"]).quantize(Decimal("0.01"), ROUND_HALF_UP),
        }
        for r in rows
        if r["staff"]
    }


def valid_certified_people_by_partner(*, on: datetime.date) -> dict[int, dict]:
    """{partner_id: {"total": people, "by_competency": {code: people}}} counting `valid_certifications` on `on`.

    One SQL statement: distinct people per (partner, competency), with the per-partner distinct total as a
    correlated subquery (a person certified in two competencies counts once in the total).
    """
    valid = valid_certifications(on=on)
    total = (
        valid.filter(partner_id=OuterRef("partner_id"))
        .order_by()
        .values("partner_id")
        .annotate(n=Count("user_id", distinct=True))
        .values("n")
    )
    rows = (
        valid.order_by()
        .values("partner_id", "type__competency__code")
        .annotate(people=Count("user_id", distinct=True), total=Subquery(total, output_field=IntegerField()))
    )
    result: dict[int, dict] = {}
    for r in rows:
        entry = result.setdefault(r["partner_id"], {"total": r["total"], "by_competency": {}})
        entry["by_competency"][r["type__competency__code"]] = r["people"]
    return result


# --- Certificates --------------------------------------------------------------------------------------------


def certifications_visible(*, viewer) -> QuerySet:
    qs = Certification.objects.select_related("type", "user", "partner")
    if is_vendor(viewer):
        return qs
    if is_partner_user(viewer):
        return qs.filter(partner_id=viewer.partner_id)
    return qs.none()


def certificate_by_code(*, code: str) -> Certification:
    try:
        code = code.strip().upper()
        return Certification.objects.select_related("type__competency", "user", "partner").get(
            Q(code=code) | Q(legacy_code=code)
        )
    except Certification.DoesNotExist:
        raise Http404 from None


def training_due(*, user, on: datetime.date, days: int = 30, limit: int = 5) -> dict:
    """The cockpit's training to-do: mandatory courses the user has not passed yet, and the partner's certificates
    (all of them for a partner admin, the user's own otherwise) that expire within `days`, soonest first."""
    passed = Enrollment.objects.filter(user=user, status=EnrollmentStatus.PASSED).values("course_id")
    courses = mandatory_courses(role=user.role).exclude(pk__in=passed).order_by("title")
    expiring = valid_certifications(on=on).filter(
        partner_id=user.partner_id, expires_on__lte=on + datetime.timedelta(days=days)
    )
    if not is_partner_admin(user):
        expiring = expiring.filter(user=user)
    expiring = expiring.select_related("type", "user").order_by("expires_on", "id")
    return {
        "courses": list(courses[:limit]),
        "expiring": list(expiring[:limit]),
        "days": days,
    }
