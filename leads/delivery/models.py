"""Post-sale delivery (issue 18): implementations with milestones, service contracts from the vendor's SLA
template, service tickets with response/resolution clocks, service credits and the customer's status links.

Imported at the bottom of leads/models.py, so the models belong to the `leads` app.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from prm.models import TimeStampedModel

__all__ = [
    "ClockAction",
    "ClockEvent",
    "ClockKind",
    "ClockState",
    "CheckIn",
    "Coverage",
    "CustomerLink",
    "Dispatch",
    "Implementation",
    "ImplementationStatus",
    "Milestone",
    "Priority",
    "ServiceContract",
    "ServiceCredit",
    "ServiceReport",
    "SlaTemplate",
    "Ticket",
    "TicketClock",
    "TicketKind",
    "TicketSource",
    "TicketStatus",
]

PCT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


class Priority(models.TextChoices):
    P1 = "p1", _("P1 — critical")
    P2 = "p2", _("P2 — high")
    P3 = "p3", _("P3 — normal")
    P4 = "p4", _("P4 — low")


class Coverage(models.TextChoices):
    BUSINESS_HOURS = "business_hours", _("Business hours in the customer's time zone")
    ALWAYS = "24x7", _("24×7")


def validate_targets(value) -> None:
    """{"p1": {"response_minutes": 30, "resolution_minutes": 240}, ...}: every priority, positive whole minutes,
    resolution not before response."""
    if not isinstance(value, dict) or set(value) != set(Priority.values):
        raise ValidationError(_("Give response and resolution targets for every priority (p1–p4)."))
    for priority, target in value.items():
        if not isinstance(target, dict) or set(target) != {"response_minutes", "resolution_minutes"}:
            raise ValidationError(_("Priority %(p)s needs response_minutes and resolution_minutes.") % {"p": priority})
        response, resolution = target["response_minutes"], target["resolution_minutes"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (response, resolution)):
            raise ValidationError(_("Targets of %(p)s must be positive whole minutes.") % {"p": priority})
        if resolution < response:
            raise ValidationError(
                _("The resolution target of %(p)s is shorter than its response target.") % {"p": priority}
            )


def default_targets() -> dict:
    return {
        "p1": {"response_minutes": 30, "resolution_minutes": 240},
        "p2": {"response_minutes": 120, "resolution_minutes": 960},
        "p3": {"response_minutes": 480, "resolution_minutes": 2400},
        "p4": {"response_minutes": 960, "resolution_minutes": 4800},
    }


class SlaTerms(models.Model):
    """Terms shared by the vendor's published template and each customer's contract (copied from the template)."""

    coverage = models.CharField(max_length=20, choices=Coverage.choices, default=Coverage.BUSINESS_HOURS)
    work_start = models.TimeField(default="09:00")
    work_end = models.TimeField(default="18:00")
    targets = models.JSONField(default=default_targets, validators=[validate_targets])
    onsite_included = models.BooleanField(default=False)
    credit_pct_per_breach = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("5"), validators=PCT, help_text=_("Percent of the monthly fee.")
    )
    credit_pct_per_downtime_hour = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("1"), validators=PCT, help_text=_("Percent of the monthly fee.")
    )
    credit_cap_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("30"),
        validators=PCT,
        help_text=_("Monthly cap, percent of the fee."),
    )
    penalty_per_breach = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text=_("Booked against the partner's commission per breached clock."),
    )
    penalty_currency = models.CharField(max_length=3, default="RUB")

    class Meta:
        abstract = True

    TERM_FIELDS = (
        "coverage",
        "work_start",
        "work_end",
        "targets",
        "onsite_included",
        "credit_pct_per_breach",
        "credit_pct_per_downtime_hour",
        "credit_cap_pct",
        "penalty_per_breach",
        "penalty_currency",
    )

    def target_seconds(self, *, priority: str, kind: str) -> int:
        return int(self.targets[priority][f"{kind}_minutes"]) * 60


class SlaTemplate(SlaTerms, TimeStampedModel):
    """The vendor's published service SLA: the whole network works to it (contracts start as copies)."""

    name = models.CharField(max_length=120, unique=True)
    published = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(name="sla_template_hours_order", condition=Q(work_start__lt=F("work_end")))
        ]

    def __str__(self):
        return self.name


class ServiceContract(SlaTerms, TimeStampedModel):
    """A customer's service agreement with its responsible partner; clocks run in the customer's calendar."""

    customer = models.ForeignKey("leads.Customer", on_delete=models.PROTECT, related_name="service_contracts")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="service_contracts")
    lead = models.ForeignKey("leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    template = models.ForeignKey(SlaTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    number = models.CharField(max_length=40, blank=True)
    timezone = models.CharField(max_length=64, default="Europe/Moscow")
    country = models.CharField(max_length=2, default="RU", help_text=_("Holiday calendar of the customer."))
    subdivision = models.CharField(max_length=10, blank=True)
    monthly_fee = models.DecimalField(max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="RUB")
    support_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    source_system = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.CheckConstraint(name="contract_hours_order", condition=Q(work_start__lt=F("work_end"))),
            models.CheckConstraint(
                name="contract_ends_after_start", condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on"))
            ),
            models.UniqueConstraint(
                fields=["partner", "source_system", "external_id"],
                condition=~Q(external_id=""),
                name="contract_external_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["partner", "customer"], name="contract_partner_customer_idx")]

    def __str__(self):
        return self.number or f"#{self.pk}"

    def clean(self):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        errors = {}
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = _("Unknown time zone.")
        if self.ends_on and self.starts_on and self.ends_on < self.starts_on:
            errors["ends_on"] = _("The contract cannot end before it starts.")
        if self.work_start and self.work_end and str(self.work_start) >= str(self.work_end):
            errors["work_end"] = _("Working hours must end after they start.")
        if errors:
            raise ValidationError(errors)


class ImplementationStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    LIVE = "live", _("Live (signed off)")
    CANCELLED = "cancelled", _("Cancelled")


class Implementation(TimeStampedModel):
    """Opened when a deal is won: the named owner and team who stay with the customer after the sale."""

    lead = models.OneToOneField("leads.Lead", on_delete=models.PROTECT, related_name="implementation")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="implementations")
    customer = models.ForeignKey("leads.Customer", on_delete=models.PROTECT, related_name="implementations")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="implementations")
    planned_go_live = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ImplementationStatus.choices, default=ImplementationStatus.PLANNED)
    signed_off_at = models.DateTimeField(null=True, blank=True)
    signed_off_by = models.CharField(max_length=200, blank=True, help_text=_("Name the customer gave."))
    source_system = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="implementation_live_is_signed_off",
                condition=~Q(status="live") | Q(signed_off_at__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["partner", "source_system", "external_id"],
                condition=~Q(external_id=""),
                name="implementation_external_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["partner", "status"], name="implementation_partner_idx")]

    def __str__(self):
        return str(self.lead)


class Milestone(TimeStampedModel):
    implementation = models.ForeignKey(Implementation, on_delete=models.CASCADE, related_name="milestones")
    title = models.CharField(max_length=200)
    due_on = models.DateField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    done_at = models.DateTimeField(null=True, blank=True)
    # Set once by the every-minute job when the milestone is past due and not done (webhook, notification).
    late_flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(
                fields=["due_on"],
                name="milestone_late_scan_idx",
                condition=Q(done_at__isnull=True, late_flagged_at__isnull=True),
            )
        ]

    def __str__(self):
        return self.title


class TicketKind(models.TextChoices):
    INCIDENT = "incident", _("Incident")
    REQUEST = "request", _("Service request")
    ONSITE = "onsite", _("On-site work order")


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_CUSTOMER = "waiting_customer", _("Waiting for the customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_TICKET_STATUSES = (TicketStatus.NEW, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CUSTOMER)


class TicketSource(models.TextChoices):
    PARTNER = "partner", _("Partner")
    VENDOR = "vendor", _("Vendor escalation")
    CUSTOMER = "customer", _("Customer status page")
    API = "api", _("ITSM sync (API)")


class Ticket(TimeStampedModel):
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="tickets")
    customer = models.ForeignKey("leads.Customer", on_delete=models.PROTECT, related_name="tickets")
    contract = models.ForeignKey(ServiceContract, on_delete=models.PROTECT, related_name="tickets")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P3)
    kind = models.CharField(max_length=20, choices=TicketKind.choices, default=TicketKind.INCIDENT)
    status = models.CharField(max_length=20, choices=TicketStatus.choices, default=TicketStatus.NEW)
    source = models.CharField(max_length=20, choices=TicketSource.choices, default=TicketSource.PARTNER)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact_name = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    source_system = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "source_system", "external_id"],
                condition=~Q(external_id=""),
                name="ticket_external_id_unique",
            ),
            models.CheckConstraint(
                name="ticket_rating_range", condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5)
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "status"], name="ticket_partner_status_idx"),
            models.Index(fields=["customer", "status"], name="ticket_customer_status_idx"),
            models.Index(fields=["rated_at"], name="ticket_rated_idx", condition=Q(rated_at__isnull=False)),
        ]

    def __str__(self):
        return f"#{self.pk} {self.title}"


class ClockKind(models.TextChoices):
    RESPONSE = "response", _("Response")
    RESOLUTION = "resolution", _("Resolution")


class ClockState(models.TextChoices):
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused (waiting for the customer)")
    STOPPED = "stopped", _("Stopped")
    CANCELLED = "cancelled", _("Cancelled")


class TicketClock(models.Model):
    """One SLA clock of a ticket. `elapsed_seconds` counts covered time (business seconds under business-hour
    coverage) up to `running_since`; `due_at` is the breach moment while running, recomputed on resume."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="clocks")
    kind = models.CharField(max_length=20, choices=ClockKind.choices)
    state = models.CharField(max_length=20, choices=ClockState.choices, default=ClockState.RUNNING)
    target_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    running_since = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    elapsed_seconds = models.PositiveIntegerField(default=0)
    warn_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["ticket", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "kind"], name="ticket_clock_unique"),
            models.CheckConstraint(
                name="ticket_clock_running_has_due",
                condition=~Q(state="running") | Q(due_at__isnull=False, running_since__isnull=False),
            ),
        ]
        indexes = [
            # The every-minute job reads only these: running clocks not yet breached (or not yet warned).
            models.Index(
                fields=["due_at"],
                name="ticket_clock_due_idx",
                condition=Q(state="running", breached_at__isnull=True),
            ),
            models.Index(
                fields=["warn_at"],
                name="ticket_clock_warn_idx",
                condition=Q(state="running", warned_at__isnull=True, breached_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.ticket_id}/{self.kind} ({self.state})"


class ClockAction(models.TextChoices):
    START = "start", _("Started")
    PAUSE = "pause", _("Paused")
    RESUME = "resume", _("Resumed")
    STOP = "stop", _("Stopped")
    CANCEL = "cancel", _("Cancelled")
    REOPEN = "reopen", _("Reopened")
    RETARGET = "retarget", _("Target changed (priority)")
    WARN = "warn", _("Breach approaching")
    BREACH = "breach", _("Breached")


class ClockEvent(models.Model):
    """Append-only audit of every clock change, with the clock's figures after it."""

    clock = models.ForeignKey(TicketClock, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20, choices=ClockAction.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    elapsed_seconds = models.PositiveIntegerField()
    due_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["clock", "at"], name="clock_event_clock_idx")]

    def __str__(self):
        return f"{self.clock_id} {self.action} @ {self.at:%Y-%m-%d %H:%M}"


class ServiceCredit(models.Model):
    """Money the partner owes the customer under the contract; one per breached clock (unique), capped monthly."""

    class Reason(models.TextChoices):
        BREACH = "breach", _("SLA breach")
        DOWNTIME = "downtime", _("Downtime")

    contract = models.ForeignKey(ServiceContract, on_delete=models.PROTECT, related_name="credits")
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="credits")
    clock = models.OneToOneField(TicketClock, null=True, blank=True, on_delete=models.PROTECT, related_name="credit")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    percent = models.DecimalField(max_digits=7, decimal_places=2)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    occurred_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(reason="downtime"), name="service_credit_one_downtime_per_ticket"
            ),
        ]
        indexes = [models.Index(fields=["contract", "occurred_on"], name="service_credit_contract_idx")]

    def __str__(self):
        return f"{self.amount} {self.currency} ({self.reason})"

    @property
    def text(self) -> dict:
        """The credit's line as a text code + parameters (prm.texts), from the row's own columns: every row, old or
        new, reads in the reader's language."""
        from prm.texts import N_, choice, compose

        return compose(
            N_("Service credit, ticket #%(ticket)s: %(reason)s, %(percent)s%% of the monthly fee"),
            ticket=self.ticket_id,
            reason=choice(self, "reason"),
            percent=self.percent,
        )

    @property
    def line(self) -> str:
        """The credit's line in the reader's language."""
        from prm.texts import render

        return render(self.text)


class CustomerLink(models.Model):
    """A signed link to the customer's status page (no account): one customer's items with one partner.

    The URL carries a signature of (id, nonce); the row decides expiry and revocation.
    """

    customer = models.ForeignKey("leads.Customer", on_delete=models.CASCADE, related_name="status_links")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=32, editable=False)
    email = models.EmailField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "customer"], name="customer_link_idx")]

    def __str__(self):
        return f"{self.customer_id}@{self.partner_id} until {self.expires_at:%Y-%m-%d}"


def checkin_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


class CheckIn(models.Model):
    """The customer's voice after go-live: a short rating 30, 90 and 180 days after sign-off, by a one-time link
    (the review-token pattern). Created once per implementation and day by the daily job (unique constraint)."""

    DAYS = (30, 90, 180)

    implementation = models.ForeignKey(Implementation, on_delete=models.CASCADE, related_name="checkins")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    day = models.PositiveSmallIntegerField(choices=[(d, d) for d in DAYS])
    due_on = models.DateField()
    token = models.CharField(max_length=64, unique=True, default=checkin_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    invited_at = models.DateTimeField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    consent_publish = models.BooleanField(default=False)
    answered_at = models.DateTimeField(null=True, blank=True)
    # The API's `updated_since`, cursor and change feed follow it (an answer changes the row).
    updated_at = models.DateTimeField(auto_now=True, db_default=Now(), db_index=True)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["implementation", "day"], name="checkin_one_per_day"),
            models.CheckConstraint(
                name="checkin_rating_range", condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5)
            ),
            models.CheckConstraint(
                name="checkin_answer_has_rating", condition=Q(answered_at__isnull=True) | Q(rating__isnull=False)
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "answered_at"], name="checkin_partner_idx"),
            models.Index(fields=["created_at"], name="checkin_invite_idx", condition=Q(invited_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.implementation_id} day {self.day}"


class Dispatch(models.Model):
    """An on-site ticket handed to an operational partner in the customer's region (the responsible partner has no
    field presence there). The work order is a lead of kind on-site service, routed and offered like any lead
    (business-hour acceptance deadline, re-routed on expiry); the ticket, its clocks and the liability stay with the
    responsible partner, who sees the work order's clocks. The subcontractor sees only the work order. A ticket
    reopened after its visit ended is dispatched again: a new row and a new work order, the earlier ones kept."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="dispatches")
    work_order = models.OneToOneField("leads.Lead", on_delete=models.PROTECT, related_name="dispatch")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the ticket was resolved or cancelled (leads.delivery.dispatch.work_order_withdraw): the visit is over or
    # no longer wanted, and a reopened ticket may be dispatched again (one live dispatch per ticket).
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=models.Q(ended_at__isnull=True), name="dispatch_one_live_per_ticket"
            ),
        ]

    def __str__(self):
        return f"{self.ticket_id} → {self.work_order_id}"


class ServiceReport(models.Model):
    """The monthly service report e-mailed to a customer's contact: one row per customer, partner and month, so a
    report is sent once whatever the number of workers."""

    customer = models.ForeignKey("leads.Customer", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text=_("The first day of the month reported."))
    email = models.EmailField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-month", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "partner", "month"], name="service_report_once"),
        ]

    def __str__(self):
        return f"{self.customer_id}@{self.partner_id} {self.month:%Y-%m}"
