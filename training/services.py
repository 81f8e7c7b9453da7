"""Writes of the training app: the catalog, enrolment and progress, quiz grading, certificates, reminders."""

import calendar
import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from prm.models import NotificationKind, User, WebhookEvent
from prm.permissions import is_partner_user
from prm.selectors import partners_admins
from prm.services import audit_record, connection_supports_skip_locked, notify
from prm.texts import N_, compose, compose_lines, compose_plural
from prm.webhooks import webhook_emit_many

from .models import (
    Certification,
    Course,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    Lesson,
    Question,
    QuizAttempt,
)

DEFAULT_RECERTIFICATION_GRACE_DAYS = 90


def add_months(day: datetime.date, months: int) -> datetime.date:
    """Calendar months; the day is clamped to the month's length (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def version_major(version: str) -> int:
    try:
        return int((version or "0").split(".")[0])
    except ValueError:
        return 0


# --- Catalog -------------------------------------------------------------------------------------------------


def question_choices_check(*, kind: str, total: int, correct: int) -> None:
    """A question needs two or more choices; single choice has exactly one correct answer, multiple at least one."""
    if total < 2:
        raise ValidationError(_("A question needs at least two choices."))
    if kind == Question.Kind.SINGLE and correct != 1:
        raise ValidationError(_("A single-choice question needs exactly one correct choice."))
    if kind == Question.Kind.MULTIPLE and correct < 1:
        raise ValidationError(_("A multiple-choice question needs at least one correct choice."))


def catalog_save(*, actor: User, form, formsets: Iterable = (), action: str):
    """Save a catalog editor page (a model form and its inline formsets, already valid) in one transaction."""
    with transaction.atomic():
        obj = form.save()
        for formset in formsets:
            formset.instance = obj
            formset.save()
        audit_record(actor=actor, action=action, target=obj)
    return obj


def course_publish(
    *,
    course: Course,
    actor: User,
    bump: str = "none",
    grace_days: int = DEFAULT_RECERTIFICATION_GRACE_DAYS,
) -> Course:
    """Publish a course, optionally as a new minor or major version.

    A new major version requires re-certification: valid certificates issued from older major versions of this
    course get their expiry pulled in to today + `grace_days` (never pushed out) and the holders are notified.
    """
    if bump not in ("none", "minor", "major"):
        raise ValidationError({"bump": _("Unknown version change.")})
    if grace_days < 1:
        raise ValidationError({"grace_days": _("The grace period must be at least one day.")})
    today = timezone.localdate()
    with transaction.atomic():
        course = Course.objects.select_for_update().get(pk=course.pk)
        if not course.lessons.exists():
            raise ValidationError(_("Add at least one lesson before publishing."))
        quiz = getattr(course, "quiz", None)
        if course.grants_id and (quiz is None or not quiz.questions.exists()):
            raise ValidationError(_("A course that grants a certification needs a quiz with questions."))
        old_version = course.version
        if bump == "major":
            course.version_major += 1
            course.version_minor = 0
        elif bump == "minor":
            course.version_minor += 1
        course.status = CourseStatus.PUBLISHED
        course.full_clean()
        course.save()
        audit_record(
            actor=actor,
            action="training.course_published",
            target=course,
            data={"from": old_version, "to": course.version, "bump": bump},
        )
        if bump == "major":
            _recertification_require(course=course, grace_days=grace_days, today=today, actor=actor)
    return course


def _recertification_require(*, course: Course, grace_days: int, today: datetime.date, actor: User) -> int:
    new_expiry = today + datetime.timedelta(days=grace_days)
    old = Certification.objects.filter(course=course, revoked_at__isnull=True, expires_on__gt=new_expiry).exclude(
        course_version__startswith=f"{course.version_major}."
    )
    holders = list(User.objects.filter(certifications__in=old).distinct())
    # Reset the warnings so the holders hear about the new, nearer expiry date.
    changed = old.update(expires_on=new_expiry, warned_30_at=None, warned_7_at=None, updated_at=timezone.now())
    if holders:
        notify(
            users=holders,
            kind=NotificationKind.CERTIFICATION_EXPIRING,
            title=compose(
                N_("Re-certification required: %(course)s v%(version)s"), course=course.title, version=course.version
            ),
            body=compose(
                N_("A new major version of the course was published. Your certificate now expires on %(date)s."),
                date=new_expiry,
            ),
            url=reverse("training:course_detail", args=[course.pk]),
        )
    audit_record(
        actor=actor,
        action="training.recertification_required",
        target=course,
        data={"certifications": changed, "new_expiry": new_expiry.isoformat()},
    )
    return changed


def question_delete(*, question: Question, actor: User) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="training.question_deleted",
            target=question.quiz.course,
            data={"text": question.text[:200]},
        )
        question.delete()


def course_archive(*, course: Course, actor: User) -> Course:
    with transaction.atomic():
        course.status = CourseStatus.ARCHIVED
        course.save(update_fields=["status", "updated_at"])
        audit_record(actor=actor, action="training.course_archived", target=course)
    return course


# --- Enrolment and progress ----------------------------------------------------------------------------------


def enrollment_enrol(*, user: User, course: Course) -> Enrollment:
    """Idempotent: enrolling twice returns the existing enrolment."""
    if not is_partner_user(user):
        raise PermissionDenied
    if course.status != CourseStatus.PUBLISHED:
        raise ValidationError(_("This course is not open for enrolment."))
    try:
        with transaction.atomic():
            enrollment, created = Enrollment.objects.get_or_create(
                user=user, course=course, defaults={"partner_id": user.partner_id, "course_version": course.version}
            )
            if created:
                audit_record(actor=user, action="training.enrolled", target=enrollment)
    except IntegrityError:  # a concurrent double click created it first
        enrollment = Enrollment.objects.get(user=user, course=course)
    return enrollment


def lesson_complete(*, enrollment: Enrollment, lesson: Lesson) -> Enrollment:
    if lesson.course_id != enrollment.course_id:
        raise ValidationError(_("This lesson belongs to another course."))
    with transaction.atomic():
        enrollment.completed_lessons.add(lesson)
        if enrollment.status == EnrollmentStatus.ENROLLED:
            Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ENROLLED).update(
                status=EnrollmentStatus.IN_PROGRESS, updated_at=timezone.now()
            )
            enrollment.status = EnrollmentStatus.IN_PROGRESS
    return enrollment


# --- Quiz ----------------------------------------------------------------------------------------------------


class QuizClosed(ValidationError):
    pass


def quiz_state(*, enrollment: Enrollment, now: datetime.datetime | None = None) -> dict:
    """Whether the person may take the quiz now, and why not. Counts attempts of the current major version only."""
    now = now or timezone.now()
    course = enrollment.course
    quiz = getattr(course, "quiz", None)
    state = {"open": False, "reason": "", "attempts_used": 0, "attempts_left": 0, "retry_at": None}
    if quiz is None:
        state["reason"] = _("This course has no quiz.")
        return state
    major = course.version_major
    attempts = list(
        QuizAttempt.objects.filter(enrollment=enrollment, course_major=major)
        .order_by("-submitted_at")
        .values_list("submitted_at", "passed")
    )
    state["attempts_used"] = len(attempts)
    state["attempts_left"] = max(quiz.attempt_limit - len(attempts), 0)
    if any(passed for _at, passed in attempts):
        state["reason"] = _("You have passed this quiz.")
    elif len(attempts) >= quiz.attempt_limit:
        state["reason"] = _("No attempts left.")
    elif attempts and attempts[0][0] + datetime.timedelta(minutes=quiz.cooldown_minutes) > now:
        state["retry_at"] = attempts[0][0] + datetime.timedelta(minutes=quiz.cooldown_minutes)
        state["reason"] = _("Please wait before the next attempt.")
    else:
        state["open"] = True
    return state


def quiz_grade(*, quiz, answers: Mapping[int, Iterable[int]]) -> tuple[int, dict]:
    """Score in percent: a question counts when the chosen set equals the correct set exactly."""
    questions = list(quiz.questions.prefetch_related("choices"))
    if not questions:
        return 0, {}
    right = 0
    detail = {}
    for q in questions:
        chosen = {int(c) for c in answers.get(q.pk, answers.get(str(q.pk), [])) or []}
        valid = {c.pk for c in q.choices.all()}
        correct = {c.pk for c in q.choices.all() if c.is_correct}
        chosen &= valid
        ok = bool(chosen) and chosen == correct and (q.kind == Question.Kind.MULTIPLE or len(chosen) == 1)
        right += ok
        detail[str(q.pk)] = sorted(chosen)
    return round(100 * right / len(questions)), detail


def quiz_submit(*, enrollment: Enrollment, answers: Mapping[int, Iterable[int]]) -> QuizAttempt:
    """Grade on the server, enforce attempt limit and cooldown, issue the certificate on passing (exactly once).

    The enrolment row is locked for the whole submit, so two concurrent submits are serialised; the
    partial unique constraint on Certification backs this up.
    """
    with transaction.atomic():
        enrollment = (
            Enrollment.objects.select_for_update(of=("self",))
            .select_related("course__quiz", "course__grants", "user")
            .get(pk=enrollment.pk)
        )
        state = quiz_state(enrollment=enrollment)
        if not state["open"]:
            raise QuizClosed(state["reason"])
        course = enrollment.course
        quiz = course.quiz
        now = timezone.now()
        score, detail = quiz_grade(quiz=quiz, answers=answers)
        passed = score >= quiz.passing_score
        attempt = QuizAttempt.objects.create(
            enrollment=enrollment,
            submitted_at=now,
            score=score,
            passed=passed,
            answers=detail,
            course_major=course.version_major,
        )
        if passed:
            enrollment.status = EnrollmentStatus.PASSED
            enrollment.completed_at = now
            enrollment.course_version = course.version
        elif state["attempts_used"] + 1 >= quiz.attempt_limit:
            enrollment.status = EnrollmentStatus.FAILED
        else:
            enrollment.status = EnrollmentStatus.IN_PROGRESS
        enrollment.save(update_fields=["status", "completed_at", "course_version", "updated_at"])
        audit_record(
            actor=enrollment.user,
            action="training.quiz_submitted",
            target=enrollment,
            data={"score": score, "passed": passed, "version": course.version},
        )
        if passed and course.grants_id:
            certification_issue(enrollment=enrollment, on=timezone.localdate())
    return attempt


def certification_issue(*, enrollment: Enrollment, on: datetime.date) -> Certification:
    course = enrollment.course
    cert_type = course.grants
    with transaction.atomic():
        existing = Certification.objects.filter(
            user=enrollment.user_id, type=cert_type, course_version=course.version, revoked_at__isnull=True
        ).first()
        if existing:
            return existing
        cert = Certification(
            type=cert_type,
            user=enrollment.user,
            partner_id=enrollment.partner_id,
            course=course,
            course_version=course.version,
            issued_on=on,
            expires_on=add_months(on, cert_type.validity_months),
        )
        cert.full_clean(validate_unique=False)
        cert.save()
        audit_record(actor=enrollment.user, action="training.certification_issued", target=cert)
    return cert


def certification_revoke(*, certification: Certification, actor: User, reason: str) -> Certification:
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason.")})
    with transaction.atomic():
        certification.revoked_at = timezone.now()
        certification.revoked_reason = reason[:200]
        certification.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
        audit_record(actor=actor, action="training.certification_revoked", target=certification, reason=reason)
    return certification


# --- Recertification reminders -------------------------------------------------------------------------------

REMINDER_WINDOWS = ((7, "warned_7_at"), (30, "warned_30_at"))
# Certificates that expired longer ago than this are not announced any more (a new subscriber, or the first run
# after an upgrade, is not flooded with history).
EXPIRED_LOOKBACK = datetime.timedelta(days=7)


def certifications_remind(*, today: datetime.date | None = None) -> int:
    """Warn holders and their partner admins 30 and 7 days before expiry, once per window.

    Rows are claimed in one transaction with SKIP LOCKED (PostgreSQL) and marked with a conditional UPDATE,
    so concurrent workers and re-runs never send a warning twice. The 7-day pass runs first and also marks
    the 30-day warning, so a certificate that enters both windows at once gets one message. Each warning is also
    the `certification.expiring` webhook; a certificate that has expired is announced as `certification.expired`.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    sent = 0
    for days, field in REMINDER_WINDOWS:
        with transaction.atomic():
            qs = Certification.objects.filter(
                revoked_at__isnull=True,
                expires_on__gte=today,
                expires_on__lte=today + datetime.timedelta(days=days),
                **{f"{field}__isnull": True},
            )
            if field == "warned_30_at":
                qs = qs.filter(warned_7_at__isnull=True)
            locked = qs.select_related("type", "user", "partner").order_by("pk")
            if connection_supports_skip_locked():
                locked = locked.select_for_update(skip_locked=True, of=("self",))
            certs = list(locked)
            if not certs:
                continue
            updates = {field: now, "updated_at": now}
            if field == "warned_7_at":
                updates["warned_30_at"] = Coalesce("warned_30_at", now)
            claimed = set(
                Certification.objects.filter(pk__in=[c.pk for c in certs], **{f"{field}__isnull": True}).values_list(
                    "pk", flat=True
                )
            )
            Certification.objects.filter(pk__in=claimed).update(**updates)
            certs = [c for c in certs if c.pk in claimed]
            sent += _reminders_send(certs=certs, days=days)
            # The partner's CRM hears each warning once too, in the transaction that claimed it.
            webhook_emit_many(
                event=WebhookEvent.CERTIFICATION_EXPIRING,
                items=[(c.partner_id, _certification_payload(c, days=days)) for c in certs],
            )
    certifications_announce_expired(today=today, now=now)
    return sent


def _certification_payload(c: Certification, **extra) -> dict:
    """What a partner's CRM is told about a certificate (the `certification.*` webhooks)."""
    return {
        "certification": c.pk,
        "user": c.user_id,
        "type": c.type.code,
        "expires_on": c.expires_on.isoformat(),
        **extra,
    }


def certifications_announce_expired(*, today: datetime.date, now: datetime.datetime) -> int:
    """`certification.expired` for each certificate that expired (not revoked) in the last week, once: rows are
    claimed with SKIP LOCKED and marked in the same transaction, like the warnings. Returns how many."""
    with transaction.atomic():
        qs = Certification.objects.filter(
            revoked_at__isnull=True,
            expires_on__lt=today,
            expires_on__gte=today - EXPIRED_LOOKBACK,
            expired_announced_at__isnull=True,
        ).select_related("type")
        if connection_supports_skip_locked():
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        certs = list(qs.order_by("pk"))
        if not certs:
            return 0
        claimed = set(
            Certification.objects.filter(pk__in=[c.pk for c in certs], expired_announced_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        Certification.objects.filter(pk__in=claimed).update(expired_announced_at=now)
        webhook_emit_many(
            event=WebhookEvent.CERTIFICATION_EXPIRED,
            items=[(c.partner_id, _certification_payload(c)) for c in certs if c.pk in claimed],
        )
    return len(claimed)


def _reminders_send(*, certs: list[Certification], days: int) -> int:
    url = reverse("training:certifications")
    by_user: dict[int, list[Certification]] = defaultdict(list)
    by_partner: dict[int, list[Certification]] = defaultdict(list)
    for c in certs:
        by_user[c.user_id].append(c)
        by_partner[c.partner_id].append(c)
    count = 0
    for user_certs in by_user.values():
        lines = compose_lines(
            compose(N_("%(name)s: %(date)s"), name=c.type.name, date=c.expires_on) for c in user_certs
        )
        count += notify(
            users=[user_certs[0].user],
            kind=NotificationKind.CERTIFICATION_EXPIRING,
            title=compose_plural(
                N_("Your certification expires within %(n)s day"),
                N_("Your certification expires within %(n)s days"),
                days,
            ),
            body=lines,
            url=url,
        )
    admins: dict[int, list[User]] = defaultdict(list)
    for admin in partners_admins(partner_ids=by_partner):
        admins[admin.partner_id].append(admin)
    for partner_id, partner_certs in by_partner.items():
        recipients = admins.get(partner_id, [])
        if not recipients:
            continue
        lines = compose_lines(
            compose(N_("%(user)s: %(name)s, %(date)s"), user=str(c.user), name=c.type.name, date=c.expires_on)
            for c in partner_certs
        )
        count += notify(
            users=recipients,
            kind=NotificationKind.CERTIFICATION_EXPIRING,
            title=compose_plural(
                N_("Team certifications expire within %(n)s day"),
                N_("Team certifications expire within %(n)s days"),
                days,
            ),
            body=lines,
            url=reverse("training:team"),
        )
    return count
