"""Partner enablement: the resource library, announcements and partner requests to the vendor with the vendor's SLA."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from prm.files import UploadValidator
from prm.models import Role, TimeStampedModel

__all__ = [
    "Announcement",
    "AnnouncementKind",
    "AnnouncementRead",
    "LibraryVisit",
    "PartnerRequest",
    "RequestCategory",
    "RequestMessage",
    "RequestStatus",
    "Resource",
    "ResourceDownload",
    "ResourceKind",
    "ResourceVersion",
    "VendorSla",
]

FILE_EXTENSIONS = ("pdf", "pptx", "docx", "xlsx", "zip", "png", "jpg", "mp4")


validate_enablement_file = UploadValidator(FILE_EXTENSIONS, max_mb=50)


class Targeted(models.Model):
    """Who may see an item: chosen program models (empty = all) and a minimum tier rank (empty = any tier)."""

    # Stored as ",full_cycle,distributor," so one portable LIKE answers "is my model targeted?".
    program_models = models.CharField(max_length=200, blank=True)
    min_tier_rank = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Only partners whose tier rank is at least this; empty means everyone.")
    )

    class Meta:
        abstract = True

    @property
    def program_model_list(self) -> list[str]:
        return [m for m in self.program_models.split(",") if m]

    def set_program_models(self, values) -> None:
        values = [v for v in values if v]
        self.program_models = f",{','.join(values)}," if values else ""


class ResourceKind(models.TextChoices):
    MARKETING = "marketing", _("Marketing material")
    PRICE_LIST = "price_list", _("Price list")
    PRESENTATION = "presentation", _("Presentation")
    GUIDE = "guide", _("Implementation guide")
    TECH_NOTE = "tech_note", _("Technical note")


PARTNER_ROLE_CHOICES = [(r.value, r.label) for r in Role if r.value.startswith("partner_")]


class Resource(Targeted, TimeStampedModel):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=ResourceKind.choices)
    product = models.CharField(max_length=120, blank=True)
    language = models.CharField(max_length=5, default="ru")
    audience = models.CharField(
        max_length=32, choices=PARTNER_ROLE_CHOICES, blank=True, help_text=_("Partner role it is written for.")
    )
    current_version = models.ForeignKey(
        "ResourceVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the current version was published: drives "new since your last visit".
    published_at = models.DateTimeField(null=True, blank=True)
    is_archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [
            models.Index(fields=["is_archived", "-published_at"], name="resource_list_idx"),
            models.Index(fields=["kind", "language"], name="resource_kind_lang_idx"),
        ]

    def __str__(self):
        return self.title


class ResourceVersion(models.Model):
    """One uploaded version; the newest becomes the resource's current version, the older ones stay as history."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to="enablement/resources/%Y/%m/", blank=True, validators=[validate_enablement_file])
    url = models.URLField(blank=True)
    notes = models.CharField(max_length=300, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "number"], name="resource_version_unique"),
            models.CheckConstraint(name="resource_version_file_or_url", condition=~Q(file="") | ~Q(url="")),
        ]

    def __str__(self):
        return f"{self.resource} v{self.number}"

    def clean(self):
        if bool(self.file) == bool(self.url):
            raise ValidationError(_("Upload a file or give a link (one of them)."))


class ResourceDownload(models.Model):
    """Downloads per (resource, partner): one counter row, incremented with F() so concurrent clicks all count."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="downloads")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="resource_downloads")
    count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["resource", "partner"], name="resource_download_unique")]

    def __str__(self):
        return f"{self.resource_id}/{self.partner_id}: {self.count}"


class LibraryVisit(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="library_visit")
    visited_at = models.DateTimeField()

    def __str__(self):
        return f"{self.user_id} @ {self.visited_at}"


class AnnouncementKind(models.TextChoices):
    PRODUCT_UPDATE = "product_update", _("Product update")
    PROGRAM_CHANGE = "program_change", _("Program change")


class Announcement(Targeted, TimeStampedModel):
    title = models.CharField(max_length=200)
    body = models.TextField()
    kind = models.CharField(max_length=20, choices=AnnouncementKind.choices)
    published_at = models.DateTimeField(db_index=True)
    course = models.ForeignKey(
        "training.Course", null=True, blank=True, on_delete=models.PROTECT, related_name="announcements"
    )
    take_by = models.DateField(null=True, blank=True, help_text=_("Date by which the linked course must be passed."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="announcement_take_by_needs_course", condition=Q(take_by__isnull=True) | Q(course__isnull=False)
            )
        ]

    def __str__(self):
        return self.title


class AnnouncementRead(models.Model):
    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["announcement", "user"], name="announcement_read_unique")]

    def __str__(self):
        return f"{self.announcement_id} read by {self.user_id}"


class RequestCategory(models.TextChoices):
    TECHNICAL = "technical", _("Technical help")
    PRESALES = "presales", _("Pre-sales support")
    COMMERCIAL = "commercial", _("Commercial question")
    DISPUTE = "dispute", _("Dispute (e.g. registration conflict)")
    MDF = "mdf", _("Market development funds (request and claim decisions)")
    OTHER = "other", _("Other")


class VendorSla(models.Model):
    """The vendor's published promise per request category, in business hours of the vendor's calendar."""

    category = models.CharField(max_length=20, choices=RequestCategory.choices, unique=True)
    response_hours = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("8"), validators=[MinValueValidator(Decimal("0.25"))]
    )
    resolution_hours = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("40"), validators=[MinValueValidator(Decimal("0.25"))]
    )
    timezone = models.CharField(max_length=64, default=settings.TIME_ZONE)
    country = models.CharField(max_length=2, default="RU")
    subdivision = models.CharField(max_length=10, blank=True)
    work_start = models.TimeField(default="09:00")
    work_end = models.TimeField(default="18:00")

    class Meta:
        ordering = ["category"]
        verbose_name = "vendor SLA"
        constraints = [
            models.CheckConstraint(name="vendor_sla_hours_order", condition=Q(work_start__lt=F("work_end"))),
            models.CheckConstraint(
                name="vendor_sla_resolution_after_response", condition=Q(resolution_hours__gte=F("response_hours"))
            ),
        ]

    def __str__(self):
        return f"{self.get_category_display()}: {self.response_hours} h / {self.resolution_hours} h"


class RequestStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    WAITING = "waiting", _("Waiting for partner")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


ACTIVE_REQUEST_STATUSES = (RequestStatus.OPEN, RequestStatus.ANSWERED, RequestStatus.WAITING)


class PartnerRequest(TimeStampedModel):
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="vendor_requests")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.CharField(max_length=20, choices=RequestCategory.choices)
    subject = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_requests"
    )
    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.OPEN)
    response_due_at = models.DateTimeField()
    resolution_due_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="request_resolution_after_response", condition=Q(resolution_due_at__gte=F("response_due_at"))
            )
        ]
        indexes = [
            models.Index(fields=["partner", "status"], name="request_partner_status_idx"),
            models.Index(fields=["owner", "status"], name="request_owner_status_idx"),
            models.Index(fields=["created_at"], name="request_created_idx"),
            # The escalation job's scan: only rows not escalated yet.
            models.Index(
                fields=["response_due_at", "resolution_due_at"],
                name="request_escalation_due_idx",
                condition=Q(escalated_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.subject}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_REQUEST_STATUSES


class RequestMessage(models.Model):
    request = models.ForeignKey(PartnerRequest, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    attachment = models.FileField(
        upload_to="enablement/requests/%Y/%m/", blank=True, validators=[validate_enablement_file]
    )
    from_vendor = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "created_at"], name="request_message_idx")]

    def __str__(self):
        return f"#{self.request_id} {self.created_at:%Y-%m-%d %H:%M}"
