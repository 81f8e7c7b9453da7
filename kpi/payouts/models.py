"""The payout cycle: monthly statements with frozen totals, the effective-dated rate table, distributor overrides."""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

__all__ = ["CommissionRate", "DistributorOverride", "Statement", "StatementStatus"]


class StatementStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")
    APPROVED = "approved", _("Approved")
    PAID = "paid", _("Paid")


class Statement(models.Model):
    """One partner's closed month. Totals are frozen at close in the reporting currency (`amount_reporting` of the
    entries tagged with this period); approval and payment move the status only. The open period has no row."""

    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="statements")
    period = models.DateField(help_text=_("First day of the month."))
    status = models.CharField(max_length=10, choices=StatementStatus.choices, default=StatementStatus.CLOSED)
    currency = models.CharField(max_length=3)
    accruals = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    overrides = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    penalties = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    clawbacks = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    adjustments = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    reimbursements = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    entries_count = models.PositiveIntegerField(default=0)
    # The total in the partner's payout currency: the sum of the entries' stored payout amounts, only when every
    # entry of the period has one in the same currency (never a sum of different currencies).
    payout_currency = models.CharField(max_length=3, blank=True, default="")
    payout_total = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    # The holding period the close applied (the agreement's, else the program default): accruals and overrides
    # dated in the month's last `hold_days` days wait for the next statement.
    hold_days = models.PositiveSmallIntegerField(default=0)
    closed_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payment_reference = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-period", "partner_id"]
        constraints = [
            # Period first: the latest closed month (`period_first_open`, read by every booking) is one index probe.
            models.UniqueConstraint(fields=["period", "partner"], name="statement_one_per_partner_month"),
            models.CheckConstraint(
                name="statement_paid_has_reference",
                condition=~Q(status="paid") | (Q(paid_at__isnull=False) & ~Q(payment_reference="")),
            ),
            models.CheckConstraint(
                name="statement_approved_has_date",
                condition=Q(status__in=["open", "closed"]) | Q(approved_at__isnull=False),
            ),
        ]
        indexes = [models.Index(fields=["status", "period"], name="statement_status_period_idx")]

    def __str__(self):
        return f"{self.partner_id} {self.period:%Y-%m} ({self.status})"

    @property
    def other(self):
        """Entries of kinds without a column of their own (the total always includes them)."""
        known = self.accruals + self.overrides + self.penalties + self.clawbacks + self.adjustments
        return self.total - known - self.reimbursements


class CommissionRate(models.Model):
    """A row of the effective-dated rate table. The rate in force for a won deal: the most specific matching key
    (tier, lead kind, product line; empty = any), its latest version on or before the win date, and in that version
    the highest value slab the deal reaches. The rate applies to the whole deal value."""

    tier = models.ForeignKey("partners.Tier", null=True, blank=True, on_delete=models.CASCADE, related_name="rates")
    lead_kind = models.CharField(max_length=20, blank=True, help_text=_("Empty: any kind of deal."))
    product_line = models.CharField(
        max_length=120, blank=True, help_text=_("Matches deals whose products mention it; empty: any product.")
    )
    min_value = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, help_text=_("Slab: deals of at least this value.")
    )
    valid_from = models.DateField(default=datetime.date(2000, 1, 1))
    rate = models.DecimalField(max_digits=5, decimal_places=4, help_text=_("Share of deal value, e.g. 0.1000."))

    class Meta:
        ordering = ["tier__rank", "lead_kind", "product_line", "-valid_from", "min_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "lead_kind", "product_line", "valid_from", "min_value"],
                name="commission_rate_unique_slab",
                nulls_distinct=False,
            ),
            models.CheckConstraint(name="commission_rate_range", condition=Q(rate__gte=0, rate__lte=1)),
            models.CheckConstraint(name="commission_rate_slab_nonnegative", condition=Q(min_value__gte=0)),
        ]

    def __str__(self):
        return f"{self.tier or '*'}/{self.lead_kind or '*'}/{self.product_line or '*'} ≥{self.min_value}: {self.rate}"


class DistributorOverride(models.Model):
    """A distributor earns `percent` of the value of its resellers' won deals (per reseller share), from a date."""

    distributor = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="override_rates", limit_choices_to={"parent": None}
    )
    valid_from = models.DateField()
    percent = models.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        ordering = ["distributor_id", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["distributor", "valid_from"], name="distributor_override_unique"),
            models.CheckConstraint(name="distributor_override_range", condition=Q(percent__gte=0, percent__lte=100)),
        ]

    def __str__(self):
        return f"{self.distributor_id} {self.percent}% from {self.valid_from}"
