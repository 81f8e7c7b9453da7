"""Courses, quizzes, enrollments and the certifications people earn by passing them."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from partners.models import ProgramModel
from prm.files import UploadValidator
from prm.models import BilingualName, Role, TimeStampedModel
from prm.permissions import ScopedQuerySet


class CertificationType(BilingualName, models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    name_ru = models.CharField(_("name in Russian"), max_length=200, blank=True)
    competency = models.ForeignKey("partners.Competency", on_delete=models.PROTECT, related_name="certification_types")
    validity_months = models.PositiveSmallIntegerField(default=24)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.local_name


def certificate_code() -> str:
    """128 random bits: a code cannot be guessed or enumerated."""
    return secrets.token_hex(16).upper()


class Certification(TimeStampedModel):
    """Held by a person; counts toward tiers only while valid (not expired, not revoked)."""

    type = models.ForeignKey(CertificationType, on_delete=models.PROTECT, related_name="certifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certifications")
    # The partner the person earned it with; kept so tier counts are one aggregate per partner.
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="certifications")
    code = models.CharField(max_length=40, unique=True, default=certificate_code)
    # The short code the certificate had before codes became random; printed certificates still verify with it.
    legacy_code = models.CharField(max_length=20, unique=True, null=True, blank=True, editable=False)
    issued_on = models.DateField()
    expires_on = models.DateField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)
    course_version = models.CharField(max_length=20, blank=True)
    # The course whose quiz issued it (null for imported/manual ones); drives major-version re-certification.
    course = models.ForeignKey(
        "training.Course", null=True, blank=True, on_delete=models.SET_NULL, related_name="certifications"
    )
    warned_30_at = models.DateTimeField(null=True, blank=True)
    warned_7_at = models.DateTimeField(null=True, blank=True)
    # When the `certification.expired` webhook went out (once; see certifications_remind).
    expired_announced_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-issued_on", "-id"]
        constraints = [
            models.CheckConstraint(name="certification_dates_order", condition=Q(expires_on__gt=F("issued_on"))),
            # A double quiz submit can never issue two certificates for the same course version
            # (imported/manual certificates carry no version and are not constrained).
            models.UniqueConstraint(
                fields=["user", "type", "course_version"],
                condition=Q(revoked_at__isnull=True) & ~Q(course_version=""),
                name="certification_once_per_version",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "expires_on"], name="certification_partner_exp_idx"),
            models.Index(fields=["expires_on"], name="certification_expires_idx"),
        ]

    def status_on(self, day) -> str:
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires_on < day else "valid"

    def __str__(self):
        return f"{self.type} — {self.user}"


LESSON_FILE_EXTENSIONS = ("pdf", "pptx", "docx", "xlsx", "zip", "png", "jpg", "jpeg", "mp4")


validate_lesson_file = UploadValidator(LESSON_FILE_EXTENSIONS, max_mb=50)


class CourseLevel(models.TextChoices):
    BASIC = "basic", _("Basic")
    ADVANCED = "advanced", _("Advanced")
    EXPERT = "expert", _("Expert")


class CourseStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    ARCHIVED = "archived", _("Archived")


class CourseQuerySet(ScopedQuerySet):
    def of_partner(self, partner_id: int):
        """The vendor's catalogue: partners see published courses; drafts and archives stay the vendor's."""
        return self.filter(status=CourseStatus.PUBLISHED)


class Course(BilingualName, TimeStampedModel):
    NAME_FIELD = "title"

    title = models.CharField(max_length=200)
    title_ru = models.CharField(_("title in Russian"), max_length=200, blank=True)
    product = models.CharField(max_length=120, blank=True)
    level = models.CharField(max_length=20, choices=CourseLevel.choices, default=CourseLevel.BASIC)
    language = models.CharField(max_length=5, default="ru")
    audience_role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    duration_minutes = models.PositiveIntegerField(default=60)
    description = models.TextField(blank=True)
    version_major = models.PositiveSmallIntegerField(default=1)
    version_minor = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=20, choices=CourseStatus.choices, default=CourseStatus.DRAFT)
    grants = models.ForeignKey(
        CertificationType, null=True, blank=True, on_delete=models.PROTECT, related_name="courses"
    )
    is_mandatory_onboarding = models.BooleanField(default=False)

    objects = CourseQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["status", "language", "level"], name="course_catalog_idx")]

    def __str__(self):
        return self.local_name

    @property
    def version(self) -> str:
        return f"{self.version_major}.{self.version_minor}"


class Lesson(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons")
    order = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.URLField(blank=True)
    attachment = models.FileField(upload_to="lessons/", blank=True, validators=[validate_lesson_file])

    class Meta:
        ordering = ["course", "order"]
        constraints = [models.UniqueConstraint(fields=["course", "order"], name="lesson_order_unique")]

    def __str__(self):
        return self.title


class Quiz(models.Model):
    course = models.OneToOneField(Course, on_delete=models.CASCADE, related_name="quiz")
    passing_score = models.PositiveSmallIntegerField(
        default=80, validators=[MinValueValidator(1), MaxValueValidator(100)], help_text=_("Percent.")
    )
    attempt_limit = models.PositiveSmallIntegerField(default=3)
    cooldown_minutes = models.PositiveIntegerField(default=60)

    class Meta:
        verbose_name_plural = "quizzes"
        constraints = [
            models.CheckConstraint(
                name="quiz_passing_score_range", condition=Q(passing_score__gte=1, passing_score__lte=100)
            )
        ]

    def __str__(self):
        return f"Quiz: {self.course}"


class Question(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", _("Single choice")
        MULTIPLE = "multiple", _("Multiple choice")

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    order = models.PositiveSmallIntegerField()
    text = models.TextField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SINGLE)

    class Meta:
        ordering = ["quiz", "order"]
        constraints = [models.UniqueConstraint(fields=["quiz", "order"], name="question_order_unique")]

    def __str__(self):
        return self.text[:60]


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=300)
    is_correct = models.BooleanField(default=False)

    def __str__(self):
        return self.text


class LearningPath(models.Model):
    name = models.CharField(max_length=200)
    program_model = models.CharField(
        max_length=20, choices=ProgramModel.choices, blank=True, help_text=_("Empty: every program model.")
    )
    role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    courses = models.ManyToManyField(Course, through="LearningPathCourse")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["program_model", "role"], name="learningpath_model_role_idx")]

    def __str__(self):
        return self.name


class LearningPathCourse(models.Model):
    path = models.ForeignKey(LearningPath, on_delete=models.CASCADE)
    course = models.ForeignKey(Course, on_delete=models.CASCADE)
    order = models.PositiveSmallIntegerField()
    mandatory = models.BooleanField(default=True)

    class Meta:
        ordering = ["path", "order"]
        constraints = [models.UniqueConstraint(fields=["path", "course"], name="path_course_unique")]

    def __str__(self):
        return f"{self.order}. {self.course_id}"


class EnrollmentStatus(models.TextChoices):
    ENROLLED = "enrolled", _("Enrolled")
    IN_PROGRESS = "in_progress", _("In progress")
    PASSED = "passed", _("Passed")
    FAILED = "failed", _("Failed (no attempts left)")


class Enrollment(TimeStampedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="enrollments")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(max_length=20, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ENROLLED)
    completed_lessons = models.ManyToManyField(Lesson, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    course_version = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "course"], name="enrollment_unique")]
        indexes = [
            models.Index(fields=["partner", "status"], name="enrollment_partner_status_idx"),
            models.Index(fields=["course", "status"], name="enrollment_course_status_idx"),
        ]

    def __str__(self):
        return f"{self.user} — {self.course}"


class QuizAttempt(models.Model):
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="attempts")
    submitted_at = models.DateTimeField()
    score = models.PositiveSmallIntegerField()
    passed = models.BooleanField()
    answers = models.JSONField(default=dict)
    # Attempts are limited per major version: a new major version re-opens the quiz.
    course_major = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [models.Index(fields=["enrollment", "course_major"], name="quizattempt_enrollment_idx")]

    def __str__(self):
        return f"{self.score}% ({'passed' if self.passed else 'failed'})"
