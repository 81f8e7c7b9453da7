"""Shared mechanisms: users and roles, the audit trail and notifications."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    # Indexed: CRM clients sync incrementally with ?updated_since=.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


class Role(models.TextChoices):
    VENDOR_ADMIN = "vendor_admin", _("Vendor admin")
    CHANNEL_MANAGER = "channel_manager", _("Channel manager")
    PARTNER_ADMIN = "partner_admin", _("Partner admin")
    PARTNER_SALES = "partner_sales", _("Partner sales rep")
    PARTNER_ENGINEER = "partner_engineer", _("Partner engineer")


VENDOR_ROLES = (Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER)
PARTNER_ROLES = (Role.PARTNER_ADMIN, Role.PARTNER_SALES, Role.PARTNER_ENGINEER)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True, role=Role.VENDOR_ADMIN)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractUser):
    """Vendor staff (no partner) or partner staff (exactly one partner); login by e-mail."""

    username = None
    email = models.EmailField(_("e-mail"), unique=True)
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.PARTNER_SALES)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    phone = models.CharField(max_length=40, blank=True)
    job_title = models.CharField(max_length=120, blank=True)
    # Event kinds (Notification.kind) this user wants by e-mail; every notification also lands in the inbox.
    email_events = models.JSONField(default=list, blank=True)
    is_channel_lead = models.BooleanField(
        default=False, help_text=_("Receives escalations of overdue reviews, disputes and requests.")
    )
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = UserManager()

    class Meta:
        ordering = ["last_name", "first_name", "email"]
        constraints = [
            models.CheckConstraint(
                name="user_partner_matches_role",
                condition=(
                    Q(role__in=VENDOR_ROLES, partner__isnull=True) | Q(role__in=PARTNER_ROLES, partner__isnull=False)
                ),
            )
        ]

    def __str__(self):
        return self.get_full_name() or self.email

    @property
    def is_vendor(self) -> bool:
        return self.role in VENDOR_ROLES

    @property
    def is_partner_user(self) -> bool:
        return self.role in PARTNER_ROLES


class AuditEvent(models.Model):
    """Who did what to which object, when and why. Append-only."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64, db_index=True)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("content_type", "object_id")
    # Denormalised so a partner's own history is one indexed query.
    partner = models.ForeignKey("partners.Partner", null=True, blank=True, on_delete=models.CASCADE)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-at"], name="audit_target_idx")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_wanted = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_inbox_idx"),
            models.Index(
                fields=["created_at"],
                name="notification_email_due_idx",
                condition=Q(email_wanted=True, emailed_at=None),
            ),
        ]

    def __str__(self):
        return self.title


class NotificationKind(models.TextChoices):
    """Events a user can choose to receive by e-mail (all of them always reach the in-app inbox)."""

    LEAD_OFFERED = "lead_offered", _("A lead is offered to my company")
    OFFER_EXPIRED = "offer_expired", _("An offer expired or was re-routed")
    REGISTRATION_DECIDED = "registration_decided", _("A deal registration was decided")
    PROTECTION_EXPIRING = "protection_expiring", _("A deal protection is about to expire")
    TIER_CHANGED = "tier_changed", _("Tier changes and warnings")
    CERTIFICATION_EXPIRING = "certification_expiring", _("A certification is about to expire")
    PARTNER_STATUS = "partner_status", _("Partner onboarding and status changes")
    REVIEW_QUEUE = "review_queue", _("Items waiting for my review")
    ESCALATION = "escalation", _("Escalations of overdue work")
    REQUEST_UPDATED = "request_updated", _("Updates to requests and disputes")
    ANNOUNCEMENT = "announcement", _("Announcements")
    SYSTEM = "system", _("System messages")
