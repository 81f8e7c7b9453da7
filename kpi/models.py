"""Nightly KPI snapshots, composite scores, tier changes and the commission ledger."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partners.models import Metric
from prm.models import BilingualName


class KpiSnapshot(models.Model):
    """One partner's KPIs for one day over a rolling window; kept per day so trends can be drawn."""

    # No index of its own: the unique (partner, date) index serves lookups by partner.
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="kpi_snapshots", db_index=False
    )
    date = models.DateField()
    window_days = models.PositiveSmallIntegerField(default=90)
    offers_total = models.PositiveIntegerField(default=0)
    accepted_in_sla_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    median_accept_minutes = models.DecimalField(max_digits=10, decimal_places=1, null=True, blank=True)
    first_contact_in_sla_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    hygiene_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    win_rate_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    won_revenue_12m = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    avg_cycle_days = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    customer_rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    reviews_count = models.PositiveIntegerField(default=0)
    certified_people = models.PositiveIntegerField(default=0)
    certified_by_competency = models.JSONField(default=dict, blank=True)
    mandatory_training_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # After the sale (leads.delivery.kpis).
    ontime_golive_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    response_in_sla_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    resolution_in_sla_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    reopen_rate_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    checkin_score = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    score = models.DecimalField(max_digits=7, decimal_places=2, default=0)
    score_components = models.JSONField(default=dict, blank=True)
    # Nightly re-runs rewrite the day's row: CRM mirrors sync it by updated_at like everything else.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-date"]
        constraints = [models.UniqueConstraint(fields=["partner", "date"], name="kpi_snapshot_unique")]
        indexes = [models.Index(fields=["date"], name="kpi_snapshot_date_idx")]

    def __str__(self):
        return f"{self.partner_id} @ {self.date}"


class ScoreComponent(BilingualName, models.Model):
    """Data-configured composite score: each metric earns up to `max_points` on a linear scale to `target`."""

    name = models.CharField(max_length=60)
    name_ru = models.CharField(_("name in Russian"), max_length=60, blank=True)
    metric = models.CharField(max_length=32, choices=Metric.choices, unique=True)
    target = models.DecimalField(max_digits=16, decimal_places=2)
    max_points = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.local_name


class TierChangeKind(models.TextChoices):
    PROMOTION = "promotion", _("Promotion")
    DEMOTION = "demotion", _("Demotion")
    WARNING = "warning", _("Warning: requirements not met")
    WARNING_CLEARED = "warning_cleared", _("Warning cleared")
    LOCK = "lock", _("Tier locked")
    MANUAL = "manual", _("Manual change")
    INITIAL = "initial", _("Initial tier")


class TierAudit:
    """The one audit vocabulary of tier decisions (`AuditEvent.action`), whatever the path that made them
    (nightly run, manual change on the partner page or in the admin, tier lock), and the one webhook event."""

    INITIAL = "tier.initial"
    PROMOTION = "tier.promotion"
    DEMOTION = "tier.demotion"
    WARNING = "tier.warning"
    WARNING_CLEARED = "tier.warning_cleared"
    MANUAL = "tier.manual"
    LOCK = "tier.lock"
    UNLOCK = "tier.unlock"
    BY_KIND = {
        TierChangeKind.INITIAL: INITIAL,
        TierChangeKind.PROMOTION: PROMOTION,
        TierChangeKind.DEMOTION: DEMOTION,
        TierChangeKind.WARNING: WARNING,
        TierChangeKind.WARNING_CLEARED: WARNING_CLEARED,
        TierChangeKind.MANUAL: MANUAL,
        TierChangeKind.LOCK: LOCK,
    }
    WEBHOOK_EVENT = "tier.changed"


class TierChange(models.Model):
    """Every tier decision with the value and threshold of each requirement, shown to both sides.

    The reason is stored as a code and parameters (`kpi.rules.REASONS`) and rendered in the reader's language;
    `reason` holds the text of decisions made before reason codes existed.
    """

    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="tier_changes")
    kind = models.CharField(max_length=20, choices=TierChangeKind.choices)
    from_tier = models.ForeignKey("partners.Tier", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey("partners.Tier", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    effective_on = models.DateField()
    evaluation = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    reason_code = models.CharField(max_length=32, blank=True)
    reason_params = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    run = models.ForeignKey("NightlyRun", null=True, blank=True, on_delete=models.SET_NULL)
    grace_until = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_on", "-id"]
        constraints = [
            # A nightly run decides at most once per partner and day, so re-running it changes nothing.
            models.UniqueConstraint(
                fields=["partner", "effective_on", "kind"],
                condition=Q(run__isnull=False),
                name="tier_change_nightly_once",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.effective_on}"

    @property
    def reason_text(self) -> str:
        """The reason in the active language."""
        if not self.reason_code:
            return self.reason
        from .rules import reason_render

        return reason_render(code=self.reason_code, params=self.reason_params)

    @property
    def evaluation_display(self) -> list[dict]:
        """The stored evaluation with each metric's label in the active language."""
        from partners.models import Metric

        labels = dict(Metric.choices)
        return [{**row, "label": labels.get(row.get("metric"), row.get("metric"))} for row in self.evaluation or []]


class TierLock(models.Model):
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="tier_locks")
    tier = models.ForeignKey("partners.Tier", on_delete=models.PROTECT)
    until = models.DateField()
    reason = models.TextField()
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner"],
                condition=Q(released_at__isnull=True),
                name="tier_lock_one_open_per_partner",
            )
        ]

    def __str__(self):
        return f"{self.tier} until {self.until}"


class ExchangeRate(models.Model):
    """Rate to the reporting currency (settings.PRM_REPORTING_CURRENCY) valid from a date."""

    currency = models.CharField(max_length=3)
    valid_from = models.DateField()
    rate = models.DecimalField(max_digits=14, decimal_places=6)

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="exchange_rate_unique"),
            models.CheckConstraint(name="exchange_rate_positive", condition=Q(rate__gt=0)),
        ]

    def __str__(self):
        return f"{self.currency} {self.rate} from {self.valid_from}"


class EntryKind(models.TextChoices):
    ACCRUAL = "accrual", _("Commission accrual")
    PENALTY = "penalty", _("SLA penalty")
    ADJUSTMENT = "adjustment", _("Manual adjustment")
    CLAWBACK = "clawback", _("Clawback of a reversed deal")
    OVERRIDE = "override", _("Distributor override")
    REIMBURSEMENT = "reimbursement", _("MDF reimbursement")


class EntryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    PAID = "paid", _("Paid")
    REVERSED = "reversed", _("Reversed")


class CommissionEntry(models.Model):
    """Append-only ledger. `source_key` makes every automatic entry unique, so re-runs never double-book."""

    # No index of its own: the (partner, entry_date) and (partner, statement_period) indexes serve every lookup.
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="commission_entries", db_index=False
    )
    lead = models.ForeignKey("leads.Lead", null=True, blank=True, on_delete=models.PROTECT)
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    entry_date = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    amount_reporting = models.DecimalField(max_digits=14, decimal_places=2)
    rate = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    share_percent = models.DecimalField(max_digits=5, decimal_places=2, default=100)
    # The line as a text code + parameters (prm.texts), rendered in the reader's language; `description` keeps the
    # English wording for exports and rows booked before texts were composed.
    description = models.CharField(max_length=300)
    text = models.JSONField(null=True, blank=True, editable=False)
    source_key = models.CharField(max_length=120)  # unique: `commission_source_key_unique` (no LIKE index)
    # The partner's payout currency (its agreement's, else the reporting currency) and the rate stored at booking:
    # amount_payout = amount × payout_rate. Empty when no exchange rate was stored for that day.
    payout_currency = models.CharField(max_length=3, blank=True, default="", editable=False)
    payout_rate = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True, editable=False)
    amount_payout = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, editable=False)
    # The payout cycle (kpi.payouts): the month whose statement pays the entry, decided when it is booked
    # (`ledger_entries_place`); the entry is open until that month is closed. Only `status` moves after that.
    statement_period = models.DateField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=10, choices=EntryStatus.choices, default=EntryStatus.PENDING, editable=False)
    fund_claim = models.ForeignKey(
        "kpi.FundClaim", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-entry_date", "-id"]
        verbose_name_plural = "commission entries"
        constraints = [
            models.UniqueConstraint(fields=["source_key"], name="commission_source_key_unique"),
            # An approved MDF claim is reimbursed once, whatever retries or concurrent approvals happen.
            models.UniqueConstraint(
                fields=["fund_claim"], condition=Q(fund_claim__isnull=False), name="commission_claim_reimbursed_once"
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "entry_date"], name="commission_partner_date_idx"),
            models.Index(fields=["partner", "statement_period"], name="commission_partner_period_idx"),
            # Rows inserted without their statement month (the close places them): empty in normal operation.
            models.Index(
                fields=["statement_period"], condition=Q(statement_period__isnull=True), name="commission_unplaced_idx"
            ),
            # The nightly run's "not booked yet" checks look at recent entries of one kind only.
            models.Index(fields=["kind", "entry_date"], name="commission_kind_date_idx"),
            # Which recent deals have their accrual: answered from the index alone (the nightly catch-up).
            models.Index(
                fields=["entry_date", "lead"], name="commission_accrual_lead_idx", condition=Q(kind="accrual")
            ),
        ]

    def __str__(self):
        return f"{self.entry_date} {self.get_kind_display()} {self.amount} {self.currency}"

    @property
    def line(self) -> str:
        """The entry's line in the reader's language."""
        from prm.texts import render

        return render(self.text) if self.text else self.description


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class NightlyRun(models.Model):
    date = models.DateField(unique=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["-date"]

    def __str__(self):
        return f"Nightly run {self.date} ({self.status})"


# The payout cycle and market development funds live in their own modules (kpi/payouts/, kpi/funds/).
from kpi.funds.models import *  # noqa: E402,F401,F403
from kpi.payouts.models import *  # noqa: E402,F401,F403
