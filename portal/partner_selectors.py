"""The partner pages' cross-app reads: a partner's pipeline and tier history, a distributor's resellers and the
public locator's post-sale figures. They combine the program (partners) with the pipeline (leads), KPI snapshots
and the fx table (kpi) and certifications (training), so they live in the composition layer above those apps;
`partners.selectors` holds the program's own reads."""

import datetime

from django.db.models import Avg, Count, DecimalField, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from kpi.models import KpiSnapshot, TierChange
from kpi.services.snapshots import fx_rate_expr
from leads.delivery.models import Implementation, ImplementationStatus
from leads.models import OPEN_STAGES, Lead, Stage
from partners.models import ContactRole, CustomerReview, Partner, PartnerContact, PartnerStatus, ReviewStatus
from partners.selectors import partner_filter_common
from training.selectors import valid_certifications


def _pipeline_aggregates(prefix: str = "") -> dict:
    """Open and won value in the reporting currency: each deal converted at the rate in force when it was won (open
    deals: when they were created), never RUB and EUR added as they are; a deal in a currency without a rate is
    left out."""
    now = timezone.now()
    since = now - datetime.timedelta(days=365)
    open_q = Q(**{f"{prefix}stage__in": OPEN_STAGES})
    won_q = Q(**{f"{prefix}stage": Stage.WON, f"{prefix}won_at__gte": since})
    money = DecimalField(max_digits=16, decimal_places=2)
    today_rate = fx_rate_expr(
        f"{prefix}currency", f"{prefix}created_at", since=datetime.datetime.min.replace(tzinfo=datetime.UTC)
    )
    won_rate = fx_rate_expr(f"{prefix}currency", f"{prefix}won_at", since=since)
    return {
        "open_count": Count(f"{prefix}pk" if prefix else "pk", filter=open_q),
        "open_value": Coalesce(
            Sum(F(f"{prefix}value") * today_rate, filter=open_q, output_field=money), Value(0), output_field=money
        ),
        "won_value_12m": Coalesce(
            Sum(F(f"{prefix}value") * won_rate, filter=won_q, output_field=money), Value(0), output_field=money
        ),
    }


def partner_pipeline_summary(*, partner: Partner) -> dict:
    return Lead.objects.filter(partner=partner).aggregate(**_pipeline_aggregates())


def reseller_pipeline(*, distributor: Partner) -> list[Partner]:
    """A distributor's resellers with their pipeline totals: one aggregate query."""
    return list(
        Partner.objects.filter(parent=distributor)
        .select_related("tier")
        .annotate(**_pipeline_aggregates("leads__"))
        .order_by("name")
    )


def partner_tier_history(*, partner: Partner) -> QuerySet:
    return TierChange.objects.filter(partner=partner).select_related("from_tier", "to_tier", "actor")[:50]


def locator_list(*, filters: dict | None = None) -> QuerySet[Partner]:
    """Public locator: active partners only, with public figures computed by correlated subqueries; after the sale
    the latest nightly SLA compliance, the implementations delivered (signed off) and the named support contact."""
    filters = filters or {}
    today = timezone.localdate()
    published = CustomerReview.objects.filter(partner=OuterRef("pk"), status=ReviewStatus.PUBLISHED).order_by()
    latest = KpiSnapshot.objects.filter(partner=OuterRef("pk")).order_by("-date")
    support = PartnerContact.objects.filter(partner=OuterRef("pk"), role=ContactRole.SUPPORT)
    qs = (
        Partner.objects.filter(status=PartnerStatus.ACTIVE)
        .select_related("tier", "home_region")
        .annotate(
            valid_certifications=Coalesce(
                Subquery(
                    valid_certifications(on=today)
                    .filter(partner=OuterRef("pk"))
                    .order_by()
                    .values("partner")
                    .annotate(n=Count("pk"))
                    .values("n"),
                    output_field=IntegerField(),
                ),
                0,
            ),
            rating=Subquery(
                published.values("partner").annotate(a=Avg("rating")).values("a"),
                output_field=DecimalField(max_digits=3, decimal_places=2),
            ),
            reviews_count=Coalesce(
                Subquery(published.values("partner").annotate(n=Count("pk")).values("n"), output_field=IntegerField()),
                0,
            ),
            median_accept_minutes=Subquery(latest.values("median_accept_minutes")[:1]),
            response_in_sla_pct=Subquery(latest.values("response_in_sla_pct")[:1]),
            resolution_in_sla_pct=Subquery(latest.values("resolution_in_sla_pct")[:1]),
            implementations_delivered=Coalesce(
                Subquery(
                    Implementation.objects.filter(partner=OuterRef("pk"), status=ImplementationStatus.LIVE)
                    .order_by()
                    .values("partner")
                    .annotate(n=Count("pk"))
                    .values("n"),
                    output_field=IntegerField(),
                ),
                0,
            ),
            support_contact=Subquery(support.values("name")[:1]),
            support_email=Subquery(support.values("email")[:1]),
            support_phone=Subquery(support.values("phone")[:1]),
        )
    )
    if q := filters.get("q"):
        qs = qs.filter(name__icontains=q)
    return partner_filter_common(qs, filters).order_by(F("tier__rank").desc(nulls_last=True), "name")


def locator_get(*, pk: int) -> Partner:
    return locator_list().prefetch_related("regions", "competencies", "industries").get(pk=pk)
