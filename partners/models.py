"""The partner program: partners, their staff contacts, regions, competencies, tiers and agreements."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from prm.models import BilingualName, TimeStampedModel
from prm.permissions import CatalogueQuerySet, ScopedQuerySet


class Region(BilingualName, models.Model):
    """A territory partners serve: a Russian federal district, an EU country, ... Its time zone drives SLAs."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    name_ru = models.CharField(_("name in Russian"), max_length=120, blank=True)
    country = models.CharField(max_length=2, help_text=_("ISO 3166-1 alpha-2; drives the holiday calendar."))
    subdivision = models.CharField(max_length=10, blank=True, help_text=_("Holiday subdivision code, if any."))
    timezone = models.CharField(max_length=64, default="Europe/Moscow")

    class Meta:
        ordering = ["country", "name"]

    def __str__(self):
        return self.local_name


class Competency(BilingualName, models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    name_ru = models.CharField(_("name in Russian"), max_length=120, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "competencies"

    def __str__(self):
        return self.local_name


class Industry(BilingualName, models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    name_ru = models.CharField(_("name in Russian"), max_length=120, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "industries"

    def __str__(self):
        return self.local_name


class ProgramModel(models.TextChoices):
    FULL_CYCLE = "full_cycle", _("Full-cycle (sell, implement, support)")
    DISTRIBUTOR = "distributor", _("Distributor")
    RESELLER = "reseller", _("Reseller (under a distributor)")
    FRANCHISE = "franchise", _("Franchise")


class PartnerType(models.TextChoices):
    OPERATIONAL = "operational", _("Operational field service")
    SPECIALIST = "specialist", _("Narrow specialist")
    STRATEGIC = "strategic", _("Strategic alliance")


class PartnerStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    UNDER_REVIEW = "under_review", _("Under review")
    AGREEMENT_SIGNED = "agreement_signed", _("Agreement signed")
    ONBOARDING = "onboarding", _("Onboarding")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    TERMINATED = "terminated", _("Terminated")
    REJECTED = "rejected", _("Application rejected")


class PartnerQuerySet(ScopedQuerySet):
    def of_partner(self, partner_id: int):
        """Partner staff see their own company only."""
        return self.filter(pk=partner_id)


# A partner in one of these states has no portal or API access (its users, its keys); reactivating restores it.
ACCESS_BLOCKED_STATUSES = (PartnerStatus.SUSPENDED, PartnerStatus.TERMINATED)


class Tier(BilingualName, models.Model):
    """A commission tier. Requirements live in TierRequirement rows, so the rules are data, not code."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=60)
    name_ru = models.CharField(_("name in Russian"), max_length=60, blank=True)
    rank = models.PositiveSmallIntegerField(unique=True, help_text=_("Higher is better; 0 is the entry tier."))
    commission_rate = models.DecimalField(
        max_digits=5, decimal_places=4, help_text=_("Share of deal value, e.g. 0.1000 for 10%.")
    )
    allocation_weight = models.PositiveIntegerField(default=1, help_text=_("Relative share of routed leads."))
    protection_days = models.PositiveSmallIntegerField(default=90)
    description = models.TextField(blank=True)
    # CRM mirrors sync tiers by updated_at like every other resource.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(
                name="tier_commission_rate_range", condition=Q(commission_rate__gte=0, commission_rate__lte=1)
            )
        ]

    def __str__(self):
        return self.local_name


class Metric(models.TextChoices):
    """What a tier requirement or score component measures; values come from the nightly KPI snapshot."""

    CERTIFIED_PEOPLE = "certified_people", _("Certified people")
    WON_REVENUE_12M = "won_revenue_12m", _("Won revenue, last 12 months")
    SLA_ACCEPTANCE = "sla_acceptance", _("Offers accepted within SLA, %")
    SLA_FIRST_CONTACT = "sla_first_contact", _("First contact within SLA, %")
    DEAL_HYGIENE = "deal_hygiene", _("Open deals kept current, %")
    WIN_RATE = "win_rate", _("Win rate, %")
    CUSTOMER_RATING = "customer_rating", _("Customer rating (1-5)")
    MANDATORY_TRAINING = "mandatory_training", _("Mandatory courses completed, %")
    ONTIME_GOLIVE = "ontime_golive", _("Implementations live on time, %")
    SLA_RESPONSE = "sla_response", _("Service tickets answered within SLA, %")
    SLA_RESOLUTION = "sla_resolution", _("Service tickets resolved within SLA, %")
    CHECKIN_SCORE = "checkin_score", _("Customer check-in and ticket rating (1-5)")


class TierRequirement(models.Model):
    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="requirements")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    competency = models.ForeignKey(
        Competency,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("Only for certified people: count people certified in this competency."),
    )
    threshold = models.DecimalField(max_digits=16, decimal_places=2, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["tier__rank", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "metric", "competency"], name="tier_requirement_unique", nulls_distinct=False
            ),
            models.CheckConstraint(
                name="tier_requirement_competency_only_for_people",
                condition=Q(competency__isnull=True) | Q(metric="certified_people"),
            ),
        ]

    def __str__(self):
        what = f"{self.get_metric_display()}"
        if self.competency_id:
            what += f" ({self.competency})"
        return f"{self.tier}: {what} ≥ {self.threshold}"


class SlaPolicy(models.Model):
    """One SLA for the whole network (several can exist, e.g. for field service); hours are business hours."""

    name = models.CharField(max_length=120, unique=True)
    accept_within_hours = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("4"))
    first_contact_within_hours = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("8"))
    deal_update_days = models.PositiveSmallIntegerField(default=14)
    working_hours_start = models.TimeField(default="09:00")
    working_hours_end = models.TimeField(default="18:00")
    penalty_per_breach = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    penalty_currency = models.CharField(max_length=3, default="RUB")
    description = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(
                name="sla_working_hours_order", condition=Q(working_hours_start__lt=F("working_hours_end"))
            ),
            models.CheckConstraint(
                name="sla_hours_positive",
                condition=Q(accept_within_hours__gt=0, first_contact_within_hours__gt=0),
            ),
        ]

    def __str__(self):
        return self.name


class Partner(TimeStampedModel):
    name = models.CharField(max_length=200)
    legal_name = models.CharField(max_length=300, blank=True)
    country = models.CharField(max_length=2, default="RU")
    tax_id = models.CharField(max_length=32, help_text=_("INN for Russian companies, VAT number elsewhere."))
    website = models.URLField(blank=True)
    email_domain = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    program_model = models.CharField(max_length=20, choices=ProgramModel.choices)
    partner_type = models.CharField(max_length=20, choices=PartnerType.choices)
    status = models.CharField(max_length=20, choices=PartnerStatus.choices, default=PartnerStatus.APPLIED)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="partners")
    regions = models.ManyToManyField(Region, related_name="partners", blank=True)
    competencies = models.ManyToManyField(Competency, related_name="partners", blank=True)
    industries = models.ManyToManyField(Industry, related_name="partners", blank=True)
    home_region = models.ForeignKey(
        Region,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Sets the time zone."),
    )
    exclusive_region = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.PROTECT, related_name="exclusive_partners"
    )
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_partners",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="resellers",
        help_text=_("The distributor a reseller buys through."),
    )
    sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.PROTECT)
    lead_capacity = models.PositiveIntegerField(default=20, help_text=_("Open routed leads the partner can take."))
    sla_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # The latest KPI snapshot's win rate and rating, written by the nightly KPI run (kpi_snapshots_compute) so the
    # router reads them from the row it locks anyway.
    kpi_win_rate = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True, editable=False)
    kpi_rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True, editable=False)
    # Pending offers plus routed leads still open (what lead_capacity limits). Kept exact by database triggers on
    # the offer and lead tables (leads migration 0013), in the transaction that changes them; never written here.
    open_load = models.PositiveIntegerField(default=0, editable=False)
    joined_at = models.DateField(null=True, blank=True)

    objects = PartnerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["country", "tax_id"], name="partner_tax_id_unique"),
            models.CheckConstraint(
                name="partner_parent_only_for_resellers",
                condition=Q(parent__isnull=True) | Q(program_model="reseller"),
            ),
            models.CheckConstraint(name="partner_not_own_parent", condition=~Q(parent=F("id"))),
        ]
        indexes = [
            models.Index(fields=["status", "program_model"], name="partner_status_model_idx"),
            models.Index(fields=["tier", "status"], name="partner_tier_status_idx"),
            models.Index(fields=["sla_score"], name="partner_sla_score_idx"),
            # The directory's order: a page of 50 sorted 100,000 partners (0.35 s a page).
            models.Index(fields=["name"], name="partner_name_idx"),
        ]

    @property
    def has_access(self) -> bool:
        """Its users may sign in and its API keys work (prm.permissions.has_access asks here)."""
        return self.status not in ACCESS_BLOCKED_STATUSES

    def __str__(self):
        return self.name

    @property
    def timezone_name(self) -> str:
        return self.home_region.timezone if self.home_region_id else settings.TIME_ZONE


class ContactRole(models.TextChoices):
    SALES = "sales", _("Sales")
    TECHNICAL = "technical", _("Technical")
    SUPPORT = "support", _("Post-implementation support")
    EXECUTIVE = "executive", _("Executive sponsor")


class PartnerContact(TimeStampedModel):
    """A named person answerable for one area: customers and the vendor know whom to call."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="contacts")
    role = models.CharField(max_length=20, choices=ContactRole.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["partner", "role"]
        constraints = [models.UniqueConstraint(fields=["partner", "role"], name="partner_contact_role_unique")]

    def __str__(self):
        return f"{self.name} ({self.get_role_display()})"


class AgreementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SIGNED = "signed", _("Signed")
    EXPIRED = "expired", _("Expired")
    TERMINATED = "terminated", _("Terminated")


class Agreement(TimeStampedModel):
    """The signed terms both sides see: model, territory, SLA, commission plan and penalties."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="agreements")
    number = models.CharField(max_length=40, unique=True)
    program_model = models.CharField(max_length=20, choices=ProgramModel.choices)
    territory = models.ManyToManyField(Region, blank=True)
    sla_policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT)
    commission_plan = models.TextField(help_text=_("Plain-language commission terms."))
    commission_rate_override = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("Overrides the tier rate when set."),
    )
    payout_currency = models.CharField(
        max_length=3,
        blank=True,
        help_text=_("Currency the partner is paid in (ISO code); empty: the reporting currency."),
    )
    payout_hold_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(365)],
        help_text=_(
            "Days after a win before an accrual or override is payable; empty: the program default (PRM_PAYOUT_HOLD_DAYS)."
        ),
    )
    penalty_terms = models.TextField(blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=AgreementStatus.choices, default=AgreementStatus.DRAFT)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by_partner = models.CharField(max_length=200, blank=True)
    signed_by_vendor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                name="agreement_dates_order",
                condition=Q(ends_on__isnull=True) | Q(ends_on__gt=F("starts_on")),
            ),
            models.UniqueConstraint(
                fields=["partner"], condition=Q(status="signed"), name="agreement_one_signed_per_partner"
            ),
            models.CheckConstraint(
                name="agreement_payout_hold_range",
                condition=Q(payout_hold_days__isnull=True) | Q(payout_hold_days__lte=365),
            ),
        ]

    def __str__(self):
        return self.number


def review_token() -> str:
    return secrets.token_urlsafe(24)


class ReviewStatus(models.TextChoices):
    INVITED = "invited", _("Invitation sent")
    SUBMITTED = "submitted", _("Waiting for moderation")
    PUBLISHED = "published", _("Published")
    REJECTED = "rejected", _("Rejected by moderator")


class CustomerReview(TimeStampedModel):
    """A verified review: only through a one-time link tied to a won deal, moderated before publishing."""

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, related_name="review")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="reviews")
    token = models.CharField(max_length=64, unique=True, default=review_token)
    status = models.CharField(max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.INVITED)
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    text = models.TextField(blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderation_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="review_rating_range", condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5)
            ),
            models.CheckConstraint(
                name="review_submitted_has_rating",
                condition=Q(status="invited") | Q(rating__isnull=False, submitted_at__isnull=False),
            ),
        ]
        indexes = [models.Index(fields=["partner"], name="review_published_idx", condition=Q(status="published"))]


from partners.enablement.models import *  # noqa: E402,F401,F403
