"""Customers, leads/deals, registrations with protection windows, routing offers, activities and reviews."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from partners.models import ProgramModel
from prm.files import UploadValidator
from prm.models import TimeStampedModel
from prm.permissions import ScopedQuerySet


class CompanySize(models.TextChoices):
    SMALL = "small", _("Small (< 50)")
    MEDIUM = "medium", _("Medium (50-250)")
    LARGE = "large", _("Large (250-1000)")
    ENTERPRISE = "enterprise", _("Enterprise (1000+)")


class CustomerQuerySet(ScopedQuerySet):
    def of_partner(self, partner_id: int):
        """A partner sees the customers of the deals it sees (its own and those it co-sells)."""
        return self.filter(pk__in=Lead.objects.of_partner(partner_id).values("customer_id"))


class Customer(TimeStampedModel):
    """An end customer. `reserved_for_direct` marks the vendor's named accounts (direct-sales segment)."""

    name = models.CharField(max_length=300)
    normalized_name = models.CharField(max_length=300, db_index=True, editable=False)
    country = models.CharField(max_length=2, default="RU")
    tax_id = models.CharField(max_length=32, blank=True, db_index=True)
    domain = models.CharField(max_length=120, blank=True, db_index=True)
    region = models.ForeignKey("partners.Region", null=True, blank=True, on_delete=models.PROTECT)
    industry = models.ForeignKey("partners.Industry", null=True, blank=True, on_delete=models.PROTECT)
    size = models.CharField(max_length=20, choices=CompanySize.choices, blank=True)
    # No index of its own: the named accounts are found through the partial indexes below and the tax id and domain
    # indexes; a plain index on the flag made PostgreSQL scan every named account for each similar-name probe
    # instead of using the trigram index (6.5 ms against 1.6 ms a name at 500 named accounts).
    reserved_for_direct = models.BooleanField(default=False)
    reserved_reason = models.CharField(max_length=200, blank=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            # Prefix search for soft matches against the vendor's named accounts (registration conflict check).
            models.Index(
                fields=["normalized_name"],
                name="customer_reserved_name_idx",
                opclasses=["varchar_pattern_ops"],
                condition=Q(reserved_for_direct=True),
            ),
        ]

    def __str__(self):
        return self.name


class LeadKind(models.TextChoices):
    LICENSE = "license", _("License purchase")
    IMPLEMENTATION = "implementation", _("Implementation")
    ONSITE_SERVICE = "onsite_service", _("On-site service")


class LeadSource(models.TextChoices):
    PARTNER_REGISTRATION = "registration", _("Registered by partner")
    VENDOR = "vendor", _("Vendor lead")
    API = "api", _("API / CRM sync")
    IMPORT = "import", _("CSV import")
    # A work order a responsible partner subcontracts (leads.delivery.dispatch): it neither claims the customer nor
    # is held back by claims on it (the responsible partner stays the customer's single point of responsibility).
    DISPATCH = "dispatch", _("On-site dispatch of a service ticket")


class Stage(models.TextChoices):
    NEW = "new", _("New (unassigned)")
    OFFERED = "offered", _("Offered to a partner")
    QUEUE = "queue", _("Channel-manager queue")
    REGISTERED = "registered", _("Registered")
    QUALIFIED = "qualified", _("Qualified")
    PROPOSAL = "proposal", _("Proposal")
    NEGOTIATION = "negotiation", _("Negotiation")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")
    # Closed by the registration decision, not by the partner: neither open nor won/lost (win rate unaffected).
    REJECTED = "rejected", _("Registration rejected")


OPEN_STAGES = (Stage.REGISTERED, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION)
CLOSED_STAGES = (Stage.WON, Stage.LOST, Stage.REJECTED)


class LeadQuerySet(ScopedQuerySet):
    def of_partner(self, partner_id: int):
        """A partner sees its own deals and the deals it co-sells (portal and API alike)."""
        # The (few) co-sold ids first: `partner = X OR EXISTS (co-sell)` cannot use an index and scans every lead.
        cosold = list(CoSell.objects.filter(partner_id=partner_id).values_list("lead_id", flat=True))
        return (
            self.filter(Q(partner_id=partner_id) | Q(pk__in=cosold)) if cosold else self.filter(partner_id=partner_id)
        )


class Lead(TimeStampedModel):
    """A lead becomes a deal once a partner owns it; one record from first contact to won or lost."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="leads")
    # The customer's name as typed on this deal; the customer record may carry another spelling (leads.customers).
    customer_name = models.CharField(max_length=300, blank=True)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_leads"
    )
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=LeadKind.choices, default=LeadKind.LICENSE)
    source = models.CharField(max_length=20, choices=LeadSource.choices, default=LeadSource.VENDOR)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    region = models.ForeignKey("partners.Region", null=True, blank=True, on_delete=models.PROTECT)
    competencies = models.ManyToManyField("partners.Competency", blank=True)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    products = models.CharField(max_length=300, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="RUB")
    expected_close = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    lost_reason = models.CharField(max_length=300, blank=True)
    source_system = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    route_failures = models.PositiveSmallIntegerField(default=0)
    # Stage timestamps: the KPIs (acceptance time, first contact, hygiene, cycle) are computed from these.
    offered_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Set when a routed lead is accepted: the first-contact SLA deadline in the partner's business hours.
    first_contact_due = models.DateTimeField(null=True, blank=True)
    first_contact_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    won_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The MDF activity that sourced the deal (kpi.funds): its pipeline and won revenue are the fund's ROI.
    fund_request = models.ForeignKey(
        "kpi.FundRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "source_system", "external_id"],
                condition=~Q(external_id=""),
                name="lead_external_id_unique",
                nulls_distinct=False,
            ),
            # A dispatched work order whose ticket ended before any field partner accepted it is closed as lost
            # without a partner (leads.delivery.dispatch.work_order_withdraw).
            models.CheckConstraint(
                name="lead_owned_when_worked",
                condition=Q(partner__isnull=False)
                | Q(stage__in=["new", "queue", "offered"])
                | Q(stage="lost", source="dispatch"),
            ),
            models.CheckConstraint(name="lead_won_has_date", condition=~Q(stage="won") | Q(won_at__isnull=False)),
            models.CheckConstraint(
                name="lead_rejected_is_closed", condition=~Q(stage="rejected") | Q(closed_at__isnull=False)
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "stage"], name="lead_partner_stage_idx"),
            models.Index(fields=["stage", "created_at"], name="lead_stage_created_idx"),
            # Vendor staff's pipeline, newest first (its default order): 50 rows from the index, not a sort of every lead.
            models.Index(fields=["created_at", "id"], name="lead_created_idx"),
            models.Index(fields=["partner", "won_at"], name="lead_partner_won_idx", condition=Q(stage="won")),
            # The nightly accruals' catch-up: the ids of the deals won in its window, from the index alone.
            models.Index(fields=["won_at", "id"], name="lead_won_day_idx", condition=Q(stage="won")),
            # The nightly SLA penalties look for missed first contacts due in the KPI window: a small index of the
            # leads not contacted (yet, or in time) instead of a scan of every lead.
            models.Index(
                fields=["first_contact_due"],
                name="lead_contact_missed_idx",
                condition=Q(first_contact_due__isnull=False)
                & (Q(first_contact_at__isnull=True) | Q(first_contact_at__gt=F("first_contact_due"))),
            ),
        ]

    @property
    def is_won(self) -> bool:
        """Read by the layers below the pipeline (a customer review is invited only for a won deal)."""
        return self.stage == Stage.WON

    def __str__(self):
        return self.title


class CoSell(models.Model):
    """Partners sharing one deal with a declared split of commission."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="cosells")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="cosells")
    share_percent = models.DecimalField(max_digits=5, decimal_places=2)
    role = models.CharField(max_length=120, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lead", "partner"], name="cosell_unique"),
            models.CheckConstraint(name="cosell_share_range", condition=Q(share_percent__gt=0, share_percent__lte=100)),
        ]

    def __str__(self):
        return f"{self.partner_id}: {self.share_percent}%"


class RegistrationStatus(models.TextChoices):
    PENDING_REVIEW = "pending_review", _("Waiting for review")
    APPROVED = "approved", _("Approved and protected")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Protection expired")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Registration(TimeStampedModel):
    """A partner's claim on a customer. Rejected ones are kept so the partner sees why."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="registration")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="registrations")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(
        max_length=20, choices=RegistrationStatus.choices, default=RegistrationStatus.PENDING_REVIEW
    )
    protected_from = models.DateTimeField(null=True, blank=True)
    protected_until = models.DateTimeField(null=True, blank=True)
    extended = models.BooleanField(default=False)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_rule = models.CharField(max_length=60, blank=True)
    decision_reason = models.TextField(blank=True)
    # Every claim on the customer that matched (leads.selectors.registration.customer_claims), as it was then.
    matches = models.JSONField(default=list, blank=True)
    # While waiting for review: the vendor's decision deadline in business hours, and when it was escalated.
    review_due = models.DateTimeField(null=True, blank=True)
    review_escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="registration_approved_has_window",
                condition=~Q(status="approved") | Q(protected_until__isnull=False, protected_from__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["status", "protected_until"], name="registration_expiry_idx"),
            models.Index(fields=["partner", "created_at"], name="registration_partner_idx"),
            models.Index(
                fields=["review_due"],
                name="registration_review_due_idx",
                condition=Q(status="pending_review", review_escalated_at__isnull=True),
            ),
        ]

    @property
    def decision_reason_text(self) -> str:
        """The decision reason in the active language (the system's reasons are stored as code + parameters)."""
        from prm.texts import render

        return render(self.decision_reason)

    def __str__(self):
        return f"{self.lead} ({self.get_status_display()})"


class ProtectionWindow(models.Model):
    """One normalised customer key held by an approved registration.

    The partial unique index over active windows is what makes protection race-free: two partners can never
    hold the same tax id, domain or normalised name at once, whatever the timing.
    """

    class KeyKind(models.TextChoices):
        TAX_ID = "tax_id", _("Tax id")
        DOMAIN = "domain", _("Domain")
        NAME = "name", _("Normalised name")

    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="windows")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    key_kind = models.CharField(max_length=10, choices=KeyKind.choices)
    key = models.CharField(max_length=300)
    active = models.BooleanField(default=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key_kind", "key"], condition=Q(active=True), name="protection_active_key_unique"
            ),
            models.CheckConstraint(name="protection_window_order", condition=Q(ends_at__gt=F("starts_at"))),
        ]
        indexes = [
            models.Index(fields=["ends_at"], name="protection_active_end_idx", condition=Q(active=True)),
            # Soft-match candidates are narrowed in SQL by the first word of the normalised name (key LIKE 'x%').
            models.Index(
                fields=["key"],
                name="protection_active_name_idx",
                opclasses=["varchar_pattern_ops"],
                condition=Q(active=True, key_kind="name"),
            ),
        ]

    def __str__(self):
        return f"{self.key_kind}:{self.key}"


class RegistrationDecision(models.Model):
    """One decision on a registration (automatic or by a channel manager): who, when, which rule, what matched."""

    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, choices=RegistrationStatus.choices)
    rule = models.CharField(max_length=60)
    reason = models.TextField(blank=True)
    matches = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["registration", "at"], name="registration_decision_idx")]

    def __str__(self):
        return f"{self.rule} → {self.status}"


class RegistrationPolicy(models.Model):
    """Deal-registration terms per program model; without a row the defaults apply (auto-approval on)."""

    program_model = models.CharField(max_length=20, choices=ProgramModel.choices, unique=True)
    auto_approve = models.BooleanField(default=True, help_text=_("Approve conflict-free registrations at once."))
    protection_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Used when the partner has no tier.")
    )
    extension_days = models.PositiveSmallIntegerField(default=30)

    class Meta:
        verbose_name_plural = "registration policies"

    def __str__(self):
        return self.get_program_model_display()


class OfferStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the partner")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Expired")
    WITHDRAWN = "withdrawn", _("Withdrawn")


ROUTING_RULE_LABELS = {
    "score_swrr": _("Score and rotation"),
    "protected_customer": _("Customer protected by a partner"),
    "exclusive_territory": _("Franchise exclusive territory"),
    "manual": _("Manual"),
    "no_eligible_partner": _("No eligible partner"),
    "max_failures": _("Too many failures"),
    "dispute_transfer": _("Transferred after a dispute"),
}


class RoutingDecision(models.Model):
    """Why a lead went where it went: every candidate with its score, or the manual assignment's reason."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="routing_decisions")
    decided_at = models.DateTimeField(auto_now_add=True)
    chosen = models.ForeignKey("partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    candidates = models.JSONField(default=list, blank=True)
    rule = models.CharField(max_length=60)
    manual = models.BooleanField(default=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        # The routing queue pages through the newest decisions (one per routing, millions at scale).
        indexes = [models.Index(fields=["-decided_at", "-id"], name="routing_decision_recent_idx")]

    def __str__(self):
        return f"{self.rule} → {self.chosen_id}"

    @property
    def rule_display(self) -> str:
        return str(ROUTING_RULE_LABELS.get(self.rule, self.rule))


class Offer(TimeStampedModel):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="offers")
    # db_index off: offer_partner_status_idx (partner, status) serves every lookup by partner, with one index less
    # written with every offer.
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="offers", db_index=False)
    decision = models.ForeignKey(RoutingDecision, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, choices=OfferStatus.choices, default=OfferStatus.PENDING)
    offered_at = models.DateTimeField()
    deadline = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-offered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(status="pending"), name="offer_one_pending_per_lead"),
            models.CheckConstraint(name="offer_deadline_after_offer", condition=Q(deadline__gt=F("offered_at"))),
        ]
        indexes = [
            models.Index(fields=["deadline"], name="offer_pending_deadline_idx", condition=Q(status="pending")),
            models.Index(fields=["partner", "status"], name="offer_partner_status_idx"),
            # The router counts each candidate's pending offers on every decision: a small index of only those.
            models.Index(fields=["partner"], name="offer_pending_partner_idx", condition=Q(status="pending")),
            # The routing queue's "recently expired offers" (a scan of every offer otherwise).
            models.Index(
                fields=["-responded_at", "-id"], name="offer_expired_recent_idx", condition=Q(status="expired")
            ),
            # The nightly SLA penalties: only the breached offers (expired, or accepted after the deadline).
            models.Index(
                fields=["deadline"],
                name="offer_breached_idx",
                condition=Q(status="expired") | Q(status="accepted", responded_at__gt=F("deadline")),
            ),
        ]


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    EMAIL = "email", _("E-mail")
    NOTE = "note", _("Note")


class Activity(TimeStampedModel):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="activities")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    occurred_at = models.DateTimeField()
    subject = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    source_system = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "source_system", "external_id"],
                condition=~Q(external_id=""),
                name="activity_external_id_unique",
            )
        ]
        indexes = [models.Index(fields=["lead", "occurred_at"], name="activity_lead_time_idx")]


class RoutingWeights(models.Model):
    """How the router turns a candidate's data into its share of leads; one row, edited in the admin.

    A candidate's weight is the sum of points: `tier_points` per unit of its tier's allocation weight plus
    up to `sla_points`, `win_rate_points`, `rating_points` and `spare_capacity_points` scaled by how good it is
    (0..1; a missing KPI counts as the neutral 0.5). Partners receive leads in proportion to their weight.
    """

    key = models.CharField(max_length=20, unique=True, default="default", editable=False)
    tier_points = models.PositiveIntegerField(default=100, help_text=_("Points per unit of tier allocation weight."))
    sla_points = models.PositiveIntegerField(default=30, help_text=_("Points for an SLA score of 100%."))
    win_rate_points = models.PositiveIntegerField(default=20, help_text=_("Points for a 100% win rate."))
    rating_points = models.PositiveIntegerField(default=20, help_text=_("Points for a customer rating of 5."))
    spare_capacity_points = models.PositiveIntegerField(
        default=30, help_text=_("Points for a partner with no open routed leads (less as its load grows).")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "routing weights"

    def __str__(self):
        return "Routing weights"


class RoutingCredit(models.Model):
    """A partner's turn in the routing rotation (stride scheduling, leads.services.routing.stride_pick), shared
    by every router process: the earliest turn wins, and only the winner's turn moves.

    A narrow table of its own rather than a column of the partner: a short row costs a fraction of a partner row
    to rewrite (and to log). A partner without a row has turn 0. Written only under the shortlisted partners'
    row locks (leads.services.routing).
    """

    partner = models.OneToOneField(
        "partners.Partner", primary_key=True, on_delete=models.CASCADE, related_name="routing_credit"
    )
    credit = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.partner_id}: {self.credit}"


class RoutingSlot(models.Model):
    """A partner's turn in one of its regions, kept beside whether it can take a lead now, so a router reads the
    earliest turns of a region from an index (`ORDER BY credit, partner LIMIT k`) instead of every partner's.

    A copy, never written by Python code: PostgreSQL triggers (leads migration 0032) keep one row per row of
    Partner.regions, its credit equal to RoutingCredit's (0 without one) and `room` equal to "active with
    open_load < lead_capacity". leads.services.routing filters kind, competencies and refusals in memory while it
    reads a region in pages. On SQLite (no triggers) the router reads the same order by a join instead.
    """

    pk = models.CompositePrimaryKey("region", "partner")
    region = models.ForeignKey(  # the primary key's first column indexes it
        "partners.Region", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    partner = models.ForeignKey("partners.Partner", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    credit = models.BigIntegerField(default=0)
    room = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["region", "credit", "partner"], condition=Q(room=True), name="routing_slot_turns"),
        ]

    def __str__(self):
        return f"{self.region_id}/{self.partner_id}: {self.credit}"


class RoutingPoolVersion(models.Model):
    """One row whose number changes whenever the router's pool changes: a partner's status, program model or type,
    its regions or competencies, or the routing weights.

    Database triggers (migration 0014) set a new random number in the same transaction as the change, whichever
    code makes it, so each process keeps the pool in memory and reloads it only when the number differs. Random
    rather than incremented: a rolled-back change must not leave a number that a later, different change reuses.
    """

    number = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="routing_pool_version_single_row")]

    def __str__(self):
        return f"Routing pool version {self.number}"


# --- Channel conflict (issue 11): availability checks, disputes, reclaiming untouched leads -----------------


class AvailabilityResult(models.TextChoices):
    FREE = "free", _("Free")
    PROTECTED = "protected", _("Protected by another partner")
    RESERVED = "reserved", _("Reserved for the vendor's direct sales")
    SIMILAR = "similar", _("A similar company is protected")
    CLAIMED = "claimed", _("Another partner works a vendor lead for it")


class AvailabilityCheck(models.Model):
    """One availability check by a partner user (logged so enumeration attempts are visible to the vendor)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    tax_id = models.CharField(max_length=32, blank=True)
    domain = models.CharField(max_length=120, blank=True)
    name = models.CharField(max_length=300, blank=True)
    result = models.CharField(max_length=20, choices=AvailabilityResult.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["partner", "at"], name="availability_partner_at_idx"),
            models.Index(fields=["result", "at"], name="availability_result_at_idx"),
        ]

    def __str__(self):
        return f"{self.result} @ {self.at:%Y-%m-%d %H:%M}"


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DECIDED = "decided", _("Decided")


class DisputeOutcome(models.TextChoices):
    UPHOLD = "uphold", _("Uphold (nothing changes)")
    TRANSFER = "transfer", _("Transfer protection")
    COSELL = "cosell", _("Split as co-sell")


DISPUTE_FILE_EXTENSIONS = ("pdf", "docx", "xlsx", "png", "jpg", "zip")


validate_dispute_file = UploadValidator(DISPUTE_FILE_EXTENSIONS, max_mb=20)


class Dispute(TimeStampedModel):
    """A partner contests who holds a customer. `held_registration` (the other side) is shown to vendor staff only."""

    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="disputes")
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    registration = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.SET_NULL, related_name="disputes"
    )
    held_registration = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.SET_NULL, related_name="disputes_against"
    )
    customer_name = models.CharField(max_length=300, blank=True)
    tax_id = models.CharField(max_length=32, blank=True)
    first_contact_date = models.DateField()
    description = models.TextField()
    attachment = models.FileField(upload_to="disputes/%Y/%m/", blank=True, validators=[validate_dispute_file])
    status = models.CharField(max_length=20, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    due_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=DisputeOutcome.choices, blank=True)
    cosell_share = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="dispute_decided_has_outcome",
                condition=Q(status="open") | (~Q(outcome="") & Q(decided_at__isnull=False)),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="dispute_status_due_idx"),
            models.Index(fields=["partner", "created_at"], name="dispute_partner_idx"),
        ]

    def __str__(self):
        return f"Dispute #{self.pk}"


class ReclaimReason(models.TextChoices):
    NO_FIRST_CONTACT = "no_first_contact", _("No first contact within the SLA")
    IDLE = "idle", _("No activity on the open deal")


class LeadReclaim(models.Model):
    """A lead flagged as untouched; reclaimed after the grace period unless the partner works it (then cleared).

    Rows with reclaimed_at set are what the KPIs count per partner.
    """

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="reclaims")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=20, choices=ReclaimReason.choices)
    flagged_at = models.DateTimeField()
    reclaim_due = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    reclaimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-flagged_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(cleared_at__isnull=True, reclaimed_at__isnull=True),
                name="lead_reclaim_one_open_flag",
            ),
        ]
        indexes = [
            models.Index(
                fields=["reclaim_due"],
                name="lead_reclaim_open_due_idx",
                condition=Q(cleared_at__isnull=True, reclaimed_at__isnull=True),
            ),
            models.Index(fields=["partner", "reclaimed_at"], name="lead_reclaim_partner_idx"),
        ]

    def __str__(self):
        return f"{self.lead_id}: {self.reason}"


class LeadImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class LeadImport(models.Model):
    """A CSV file of vendor leads, imported by a Celery job (leads.services.intake.lead_import_run). The same file
    uploaded again is the same import (unique SHA-256): its result, no second set of leads."""

    file = models.FileField(upload_to="imports/%Y/%m/")
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, unique=True)
    encoding = models.CharField(max_length=40, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    status = models.CharField(max_length=10, choices=LeadImportStatus.choices, default=LeadImportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [[line, message], ...]
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.filename or f"import #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (LeadImportStatus.DONE, LeadImportStatus.FAILED)

    @property
    def rows_done(self) -> int:
        return self.rows_created + self.rows_failed

    @property
    def progress_percent(self) -> int:
        """Share of the file's rows handled so far (updated after each committed chunk while running)."""
        if self.is_finished:
            return 100
        return min(100, self.rows_done * 100 // self.rows_total) if self.rows_total else 0


from leads.delivery.models import *  # noqa: E402,F401,F403
