"""Shared mechanisms: users and roles, the audit trail and notifications."""

import functools

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    # Indexed: CRM clients sync incrementally with ?updated_since=.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True

    def _get_FIELD_display(self, field):
        """`get_<field>_display()` as Django's, with the field's choices made a dict once: Django rebuilds it on every
        call and hashes (so translates) each lazy label, ~0.1 ms a call, a deal list calls it twice a row."""
        value = getattr(self, field.attname)
        return force_str(_choice_labels(field).get(make_hashable(value), value), strings_only=True)


@functools.cache
def _choice_labels(field) -> dict:
    return dict(make_hashable(field.flatchoices))


class Role(models.TextChoices):
    VENDOR_ADMIN = "vendor_admin", _("Vendor admin")
    CHANNEL_MANAGER = "channel_manager", _("Channel manager")
    PARTNER_ADMIN = "partner_admin", _("Partner admin")
    PARTNER_SALES = "partner_sales", _("Partner sales rep")
    PARTNER_ENGINEER = "partner_engineer", _("Partner engineer")


VENDOR_ROLES = (Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER)
PARTNER_ROLES = (Role.PARTNER_ADMIN, Role.PARTNER_SALES, Role.PARTNER_ENGINEER)


def email_canonical(email: str | None) -> str:
    """The one form of an e-mail address the portal stores, logs in, locks out and compares by: trimmed, lower case."""
    return (email or "").strip().lower()


# Events worth an immediate e-mail by default: each has a deadline measured in hours or days.
TIME_CRITICAL_EVENTS = ("lead_offered", "registration_decided", "protection_expiring", "tier_changed")
USER_LANGUAGES = [("en", "English"), ("ru", "Русский")]


def email_events_default() -> list[str]:
    return list(TIME_CRITICAL_EVENTS)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=email_canonical(email), **extra)
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
        return self.get(email=email_canonical(username))


class User(AbstractUser):
    """Vendor staff (no partner) or partner staff (exactly one partner); login by e-mail."""

    username = None
    # Stored canonical (email_canonical); the constraint on Lower(email) also holds for rows written around it.
    email = models.EmailField(_("e-mail"), unique=True)
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.PARTNER_SALES)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    phone = models.CharField(max_length=40, blank=True)
    job_title = models.CharField(max_length=120, blank=True)
    # Event kinds (Notification.kind) this user wants by e-mail at once; every notification also lands in the inbox.
    # New users get the time-critical ones (an offer's SLA is a few business hours).
    email_events = models.JSONField(default=email_events_default, blank=True)
    # One e-mail a day summing up what came in the day before (notification_digests_send).
    email_digest = models.BooleanField(_("daily digest"), default=False)
    # The language of e-mails (and of the portal after sign-in); empty = the site's default.
    language = models.CharField(_("language"), max_length=8, choices=USER_LANGUAGES, blank=True)
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
            ),
            models.UniqueConstraint(
                Lower("email"), name="user_email_ci_unique", violation_error_message=_("This e-mail is already in use.")
            ),
        ]
        # The vendor's few people among hundreds of thousands of partner staff (account-manager choices, reviewers):
        # without it every partner page scanned every user (0.1–0.2 s at 100,000 partners).
        indexes = [models.Index(fields=["role", "last_name", "first_name", "email"], name="user_role_name_idx")]

    def __str__(self):
        return self.get_full_name() or self.email

    def clean(self):
        super().clean()
        self.email = email_canonical(self.email)

    @property
    def is_vendor(self) -> bool:
        return self.role in VENDOR_ROLES

    @property
    def is_partner_user(self) -> bool:
        return self.role in PARTNER_ROLES


class BilingualName:
    """Reference data (regions, competencies, industries, tiers, courses, ...) named in English (`name`) and in
    Russian (`name_ru`): `str()` and `local_name` give the reader's language, `name_i18n()` both (for texts stored
    as code + parameters, prm.texts). `NAME_FIELD` names the English field when it is not `name`."""

    NAME_FIELD = "name"

    @property
    def local_name(self) -> str:
        from django.utils.translation import get_language

        english = getattr(self, self.NAME_FIELD)
        if (get_language() or "").startswith("ru"):
            return getattr(self, f"{self.NAME_FIELD}_ru", "") or english
        return english

    def name_i18n(self) -> dict:
        english = getattr(self, self.NAME_FIELD)
        return {"en": english, "ru": getattr(self, f"{self.NAME_FIELD}_ru", "") or english}


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

    @property
    def reason_display(self) -> str:
        from .texts import render

        composed = self.data.get("reason") if isinstance(self.data, dict) else None
        return render(composed) if isinstance(composed, dict) else self.reason

    @property
    def action_display(self) -> str:
        from .audit_labels import audit_label

        return audit_label(self.action)


class Notification(models.Model):
    # db_index off: notification_inbox_idx (user, read_at) serves every lookup by user, and one index less is
    # written with each of the thousands of notifications a routing run makes.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    kind = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # The title and body as the system composed them (prm.texts: code + parameters), shown in the reader's
    # language; `title`/`body` keep the English wording (and are all that rows from before it have).
    text = models.JSONField(default=dict, blank=True)
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

    @property
    def title_display(self) -> str:
        from .texts import render

        return render(self.text.get("title")) or self.title

    @property
    def body_display(self) -> str:
        from .texts import render

        return render(self.text.get("body")) or self.body


class DigestSent(models.Model):
    """One daily digest e-mail per user and day: the constraint keeps several workers from sending it twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    items = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="digest_one_per_user_day")]

    def __str__(self):
        return f"{self.user_id} {self.day}"


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
    SERVICE_SLA = "service_sla", _("Service SLA breaches and customer check-ins")
    ANNOUNCEMENT = "announcement", _("Announcements")
    SYSTEM = "system", _("System messages")


class SsoDomain(models.Model):
    """Single sign-on discovery: users whose e-mail is in `domain` sign in through `app`, an OpenID Connect or SAML
    identity provider configured in the admin (django-allauth's social applications)."""

    domain = models.CharField(_("e-mail domain"), max_length=253, unique=True, help_text=_("e.g. partner.example"))
    app = models.ForeignKey(
        "socialaccount.SocialApp", on_delete=models.CASCADE, related_name="sso_domains", verbose_name=_("provider")
    )
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="sso_domains"
    )

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.CheckConstraint(name="sso_domain_canonical", condition=Q(domain=Lower("domain"))),
        ]

    def __str__(self):
        return f"{self.domain} → {self.app}"

    def clean(self):
        self.domain = self.domain.strip().lower().lstrip("@")


# --- REST API for CRM sync: keys, idempotency, tombstones, webhooks -------------------------------------------------


class ApiKey(models.Model):
    """A CRM's credential. Only the SHA-256 of the secret is stored; `prefix` finds the row without scanning.

    `partner` set: the key sees and changes only that partner's data; empty: a vendor-wide key.
    """

    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    scopes = models.JSONField(default=list, help_text=_('e.g. ["leads:read", "leads:write"]'))
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "-created_at"], name="apikey_partner_idx")]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """The first response to (key, Idempotency-Key); a retry with the same request gets it again."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # empty while the first request runs
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique")]

    def __str__(self):
        return f"{self.api_key_id}:{self.key}"


class Change(models.Model):
    """One write to a syncable row, for the change feed (`/api/v1/changes/`).

    Rows are written by database triggers (prm.api_changes.triggers_install), so every write is here whatever
    made it: a service's save(), a bulk upsert's one statement, a background job's UPDATE, a cascade delete.
    `position` is empty until the feed assigns it, one assigner at a time, to the rows committed by then: a row
    committed later gets a larger position, so a reader that remembers the last position it read skips nothing.
    """

    position = models.BigIntegerField(null=True, blank=True, unique=True)
    resource = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    # A plain id, not a foreign key: the partner itself may be what was deleted. Empty for the vendor's catalogue.
    partner_id = models.BigIntegerField(null=True, blank=True)
    op = models.CharField(max_length=1)  # "u" written, "d" deleted
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["id"], condition=Q(position__isnull=True), name="change_unassigned_idx"),
            models.Index(fields=["partner_id", "position"], name="change_partner_position_idx"),
        ]

    def __str__(self):
        return f"{self.resource}:{self.object_id} {self.op} @{self.position}"


class WebhookEvent(models.TextChoices):
    LEAD_OFFERED = "lead.offered", "lead.offered"
    LEAD_ACCEPTED = "lead.accepted", "lead.accepted"
    OFFER_EXPIRED = "offer.expired", "offer.expired"
    OFFER_WITHDRAWN = "offer.withdrawn", "offer.withdrawn"
    REGISTRATION_DECIDED = "registration.decided", "registration.decided"
    REGISTRATION_WITHDRAWN = "registration.withdrawn", "registration.withdrawn"
    REGISTRATION_EXPIRING = "registration.expiring", "registration.expiring"
    REGISTRATION_EXPIRED = "registration.expired", "registration.expired"
    DEAL_STAGE_CHANGED = "deal.stage_changed", "deal.stage_changed"
    LEAD_RECLAIM_FLAGGED = "lead.reclaim_flagged", "lead.reclaim_flagged"
    DISPUTE_DECIDED = "dispute.decided", "dispute.decided"
    CERTIFICATION_EXPIRING = "certification.expiring", "certification.expiring"
    CERTIFICATION_EXPIRED = "certification.expired", "certification.expired"
    TIER_CHANGED = "tier.changed", "tier.changed"
    TICKET_BREACH_WARNING = "ticket.breach_warning", "ticket.breach_warning"
    TICKET_BREACHED = "ticket.breached", "ticket.breached"
    IMPLEMENTATION_MILESTONE_LATE = "implementation.milestone_late", "implementation.milestone_late"
    CHECKIN_RECEIVED = "checkin.received", "checkin.received"
    MDF_REQUEST_DECIDED = "mdf.request_decided", "mdf.request_decided"
    MDF_CLAIM_DECIDED = "mdf.claim_decided", "mdf.claim_decided"
    STATEMENT_APPROVED = "statement.approved", "statement.approved"
    STATEMENT_PAID = "statement.paid", "statement.paid"


class WebhookSubscription(models.Model):
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    # Kept in clear: it signs every delivery. Shown to the user once, like the key.
    secret = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class WebhookDelivery(models.Model):
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_sub_idx")]

    def __str__(self):
        return f"{self.event} #{self.pk} ({self.status})"
