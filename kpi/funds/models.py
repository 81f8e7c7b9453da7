"""Market development funds: budget → allocation per partner → fund request → claim with proof → reimbursement.

Money invariants are database constraints: a budget never allocates more than it holds, an allocation never
commits more than it was given, a claim never exceeds the approved request nor is approved above what was claimed,
and a claim is reimbursed by one ledger entry at most (kpi.CommissionEntry.fund_claim is unique).
"""

from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from prm.files import UploadValidator

__all__ = [
    "ActivityType",
    "Allocation",
    "Budget",
    "ClaimStatus",
    "FundClaim",
    "FundRequest",
    "FundRequestStatus",
]

PROOF_EXTENSIONS = ("pdf", "png", "jpg", "jpeg", "docx", "xlsx", "zip")
# What each kind of document starts with: a renamed executable or script is not proof of anything.
PROOF_SIGNATURES = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
    "zip": (b"PK\x03\x04",),
}


@deconstructible
class ProofValidator(UploadValidator):
    """Extension and size (the shared rule), then the file's first bytes must match its extension."""

    def __call__(self, value) -> None:
        super().__call__(value)
        ext = PurePosixPath(value.name).suffix.lower().lstrip(".")
        try:
            value.seek(0)
            head = value.read(8)
            value.seek(0)
        except (OSError, ValueError):
            return  # a stored file that is not open: it was checked when it was uploaded
        if not head.startswith(PROOF_SIGNATURES.get(ext, (b"",))):
            raise ValidationError(
                _("The file is not a real %(ext)s document."), code="file_content", params={"ext": ext}
            )


validate_proof = ProofValidator(PROOF_EXTENSIONS, max_mb=20)


class Budget(models.Model):
    """Money for a period, optionally only for a region's or a program model's partners."""

    name = models.CharField(max_length=200)
    period_start = models.DateField()
    period_end = models.DateField(help_text=_("Last day; unused allocations expire after it."))
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default=settings.PRM_REPORTING_CURRENCY)
    region = models.ForeignKey("partners.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    program_model = models.CharField(max_length=20, blank=True)
    allocated = models.DecimalField(max_digits=14, decimal_places=2, default=0, editable=False)
    expired_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-period_start", "name"]
        constraints = [
            models.CheckConstraint(name="mdf_budget_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(name="mdf_budget_dates", condition=Q(period_end__gte=F("period_start"))),
            models.CheckConstraint(
                name="mdf_budget_not_overallocated", condition=Q(allocated__gte=0, allocated__lte=F("amount"))
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def unallocated(self):
        return self.amount - self.allocated


class Allocation(models.Model):
    """A partner's share of a budget. `committed` is the sum of its approved requests."""

    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="allocations")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="fund_allocations")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    committed = models.DecimalField(max_digits=14, decimal_places=2, default=0, editable=False)
    rule = models.CharField(max_length=60, blank=True, help_text=_("Empty when allocated by hand."))
    expired_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["budget_id", "partner_id"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "partner"], name="mdf_allocation_one_per_partner"),
            models.CheckConstraint(
                name="mdf_allocation_not_overcommitted",
                condition=Q(amount__gte=0, committed__gte=0, committed__lte=F("amount")),
            ),
        ]

    def __str__(self):
        return f"{self.budget} → {self.partner_id}: {self.amount}"

    @property
    def available(self):
        return self.amount - self.committed if self.expired_amount is None else 0


class ActivityType(models.TextChoices):
    EVENT = "event", _("Event or trade show")
    WEBINAR = "webinar", _("Webinar")
    DIGITAL = "digital", _("Digital campaign")
    CONTENT = "content", _("Content and collateral")
    TRAINING = "training", _("Sales or technical training")
    OTHER = "other", _("Other")


class FundRequestStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Waiting for decision")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


class FundRequest(models.Model):
    """A partner's plan for a marketing activity, decided by the vendor within its published SLA."""

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="requests")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="fund_requests")
    activity_type = models.CharField(max_length=20, choices=ActivityType.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField()
    planned_cost = models.DecimalField(max_digits=14, decimal_places=2)
    requested_amount = models.DecimalField(max_digits=14, decimal_places=2)
    expected_leads = models.PositiveIntegerField(default=0)
    expected_pipeline = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    status = models.CharField(max_length=10, choices=FundRequestStatus.choices, default=FundRequestStatus.SUBMITTED)
    approved_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    decision_due_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(name="mdf_request_dates", condition=Q(ends_on__gte=F("starts_on"))),
            models.CheckConstraint(
                name="mdf_request_amounts",
                condition=Q(requested_amount__gt=0, planned_cost__gte=F("requested_amount")),
            ),
            models.CheckConstraint(
                name="mdf_request_approved_amount",
                condition=Q(approved_amount__isnull=True)
                | Q(approved_amount__gt=0, approved_amount__lte=F("requested_amount")),
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "status"], name="mdf_request_partner_idx"),
            models.Index(fields=["status", "decision_due_at"], name="mdf_request_queue_idx"),
        ]

    def __str__(self):
        return self.title


class ClaimStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Waiting for decision")
    APPROVED = "approved", _("Approved and reimbursed")
    REJECTED = "rejected", _("Rejected")


class FundClaim(models.Model):
    """What the activity really cost, with proof of performance; one claim per request."""

    request = models.OneToOneField(FundRequest, on_delete=models.PROTECT, related_name="claim")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="fund_claims")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    # The request's approved amount when the claim was made: the database checks the claim against it.
    cap = models.DecimalField(max_digits=14, decimal_places=2, editable=False)
    proof = models.FileField(upload_to="mdf/proof/%Y/%m/", validators=[validate_proof])
    notes = models.TextField(blank=True)
    leads_generated = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.SUBMITTED)
    approved_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    decision_due_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(name="mdf_claim_within_request", condition=Q(amount__gt=0, amount__lte=F("cap"))),
            models.CheckConstraint(
                name="mdf_claim_approved_within_claim",
                condition=Q(approved_amount__isnull=True) | Q(approved_amount__gt=0, approved_amount__lte=F("amount")),
            ),
        ]
        indexes = [models.Index(fields=["status", "decision_due_at"], name="mdf_claim_queue_idx")]

    def __str__(self):
        return f"Claim for {self.request}"
