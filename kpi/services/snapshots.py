"""Phase 1 of the nightly run: KPI snapshots and the composite score, for every partner at once.

Every KPI is one grouped aggregate over its source table (offers, leads, reviews, certifications, staff), so
the number of queries does not depend on the number of partners. The formulas are documented in
`kpi.rules.KPI_FORMULAS` (also shown on the scorecard page); the per-partner arithmetic lives in `kpi.rules`.
"""

import datetime
import statistics
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from leads.delivery.kpis import service_kpis
from leads.models import OPEN_STAGES, Lead, Offer, OfferStatus, Stage
from partners.models import CustomerReview, Partner, PartnerStatus, ReviewStatus
from prm.bulk import rows_json
from prm.parallel import parallel_call
from training.selectors import mandatory_training_completion_by_partner, valid_certified_people_by_partner

from ..models import ExchangeRate, KpiSnapshot, ScoreComponent
from ..rules import SERVICE_KPI_FIELDS, minutes, pct, quantize, score_compute, snapshot_values

# Partners that get a snapshot (tiers are evaluated for active ones only).
SNAPSHOT_STATUSES = (PartnerStatus.ACTIVE, PartnerStatus.ONBOARDING, PartnerStatus.SUSPENDED)

KPI_FIELDS = [
    "window_days",
    "offers_total",
    "accepted_in_sla_pct",
    "median_accept_minutes",
    "first_contact_in_sla_pct",
    "hygiene_pct",
    "win_rate_pct",
    "won_revenue_12m",
    "avg_cycle_days",
    "customer_rating",
    "reviews_count",
    "certified_people",
    "certified_by_competency",
    "mandatory_training_pct",
    *SERVICE_KPI_FIELDS,
    "score",
    "score_components",
]


class Median(Aggregate):
    """PostgreSQL's exact median."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


def vendor_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_end(on: datetime.date) -> datetime.datetime:
    """The end of the run date in the vendor's time zone: windows are [end - N days, end)."""
    return datetime.datetime.combine(on + datetime.timedelta(days=1), datetime.time.min, tzinfo=vendor_tz())


def fx_rate_expr(currency_ref: str, moment_ref: str, *, since: datetime.datetime) -> Case:
    """Rate to the reporting currency in force at a moment: 1 for the reporting currency, else the latest stored
    rate whose day (in the vendor's time zone) has begun; NULL when there is none.

    Stored rates are few, so they go into the statement as constants (newest first per currency, back to the one
    in force at `since`): no lookup per row, and the aggregate around it can run on parallel workers.
    """
    tz = vendor_tz()
    whens = [When(**{currency_ref: settings.PRM_REPORTING_CURRENCY}, then=Value(Decimal(1)))]
    complete = set()  # currencies whose rate in force at `since` is already in
    for currency, valid_from, rate in ExchangeRate.objects.order_by("currency", "-valid_from").values_list(
        "currency", "valid_from", "rate"
    ):
        if currency in complete:
            continue
        begins = datetime.datetime.combine(valid_from, datetime.time.min, tzinfo=tz)
        whens.append(When(**{currency_ref: currency, f"{moment_ref}__gte": begins}, then=Value(rate)))
        if begins <= since:
            complete.add(currency)
    return Case(*whens, default=Value(None), output_field=DecimalField(max_digits=14, decimal_places=6))


def _offer_kpis(start, end) -> dict[int, dict]:
    decided = Q(status__in=[OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED])
    in_sla = Q(status=OfferStatus.ACCEPTED, responded_at__lte=F("deadline"))
    accepted = Q(status=OfferStatus.ACCEPTED, responded_at__isnull=False)
    wait = ExpressionWrapper(F("responded_at") - F("offered_at"), output_field=DurationField())
    aggregates = {"total": Count("id", filter=decided), "in_sla": Count("id", filter=in_sla)}
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggregates["median"] = Median(wait, filter=accepted, output_field=DurationField())
    qs = Offer.objects.filter(offered_at__gte=start, offered_at__lt=end).values("partner_id").annotate(**aggregates)
    out = {r["partner_id"]: r for r in qs.order_by()}
    if not postgres:
        # No percentile_cont elsewhere: one ordered fetch, medians in Python.
        waits = defaultdict(list)
        rows = Offer.objects.filter(accepted, offered_at__gte=start, offered_at__lt=end)
        for pid, offered, responded in rows.values_list("partner_id", "offered_at", "responded_at"):
            waits[pid].append(responded - offered)
        for pid, values in waits.items():
            out.setdefault(pid, {"total": 0, "in_sla": 0})["median"] = statistics.median(values)
    return out


def _lead_kpis(start, end, hygiene_days: set[int]) -> dict[int, dict]:
    in_window = Q(won_at__gte=start, won_at__lt=end)
    won = Q(stage=Stage.WON)
    fc_window = Q(accepted_at__gte=start, accepted_at__lt=end, first_contact_due__isnull=False)
    fc_due = fc_window & (Q(first_contact_due__lt=end) | Q(first_contact_at__isnull=False))
    open_ = Q(stage__in=OPEN_STAGES)
    year_start = end - datetime.timedelta(days=365)
    cycle = ExpressionWrapper(Coalesce("closed_at", "won_at") - F("created_at"), output_field=DurationField())
    aggregates = {
        "fc_total": Count("id", filter=fc_due),
        "fc_ok": Count("id", filter=fc_window & Q(first_contact_at__lte=F("first_contact_due"))),
        "open": Count("id", filter=open_),
        "won": Count("id", filter=won & in_window),
        "lost": Count("id", filter=Q(stage=Stage.LOST, closed_at__gte=start, closed_at__lt=end)),
        "revenue": Sum(
            F("value") * fx_rate_expr("currency", "won_at", since=year_start),
            filter=won & Q(won_at__gte=year_start, won_at__lt=end),
            output_field=DecimalField(max_digits=20, decimal_places=2),
        ),
        "cycle": Avg(cycle, filter=won & in_window),
    }
    for n in hygiene_days:
        cut = end - datetime.timedelta(days=n)
        aggregates[f"fresh_{n}"] = Count(
            "id", filter=open_ & (Q(last_activity_at__gte=cut) | Q(updated_at__gte=cut)), output_field=IntegerField()
        )
    qs = Lead.objects.filter(partner__isnull=False).values("partner_id").annotate(**aggregates)
    return {r["partner_id"]: r for r in qs.order_by()}


def _review_kpis() -> dict[int, dict]:
    published = CustomerReview.objects.filter(status=ReviewStatus.PUBLISHED, rating__isnull=False)
    return {
        r["partner_id"]: r for r in published.values("partner_id").annotate(avg=Avg("rating"), n=Count("id")).order_by()
    }


def _people_kpis(on: datetime.date) -> tuple[dict, dict]:
    """Certified people and mandatory training: the training app's definitions, one statement each."""
    return valid_certified_people_by_partner(on=on), mandatory_training_completion_by_partner(on=on)


_UPSERT_SQL = """
INSERT INTO kpi_kpisnapshot (partner_id, date, updated_at, {columns})
SELECT partner_id, date, now(), {columns} FROM jsonb_to_recordset(%s::jsonb) AS x(
    partner_id bigint, date date, window_days integer, offers_total integer, accepted_in_sla_pct numeric,
    median_accept_minutes numeric, first_contact_in_sla_pct numeric, hygiene_pct numeric, win_rate_pct numeric,
    won_revenue_12m numeric, avg_cycle_days numeric, customer_rating numeric, reviews_count integer,
    certified_people integer, certified_by_competency jsonb, mandatory_training_pct numeric,
    ontime_golive_pct numeric, response_in_sla_pct numeric, resolution_in_sla_pct numeric, reopen_rate_pct numeric,
    checkin_score numeric, score numeric, score_components jsonb)
ON CONFLICT (partner_id, date) DO UPDATE SET updated_at = now(), {updates}
""".format(columns=", ".join(KPI_FIELDS), updates=", ".join(f"{f} = EXCLUDED.{f}" for f in KPI_FIELDS))


def _snapshots_upsert(rows: list[dict]) -> None:
    """Insert or overwrite the day's snapshots in one statement.

    On PostgreSQL the rows travel as one JSON parameter (Django's bulk_create spends more time preparing 10,000
    rows × 18 fields than the database spends computing them); elsewhere bulk_create(update_conflicts=True).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_UPSERT_SQL, [rows_json(rows)])
        return
    KpiSnapshot.objects.bulk_create(
        [KpiSnapshot(**row) for row in rows],
        update_conflicts=True,
        unique_fields=["partner", "date"],
        update_fields=[*KPI_FIELDS, "updated_at"],
    )


def kpi_snapshots_compute(*, on: datetime.date) -> int:
    """Compute and store every partner's KPIs and score for `on`. Idempotent: re-running overwrites the day."""
    window = settings.PRM_KPI_WINDOW_DAYS
    end = day_end(on)
    start = end - datetime.timedelta(days=window)
    partners = list(
        Partner.objects.filter(status__in=SNAPSHOT_STATUSES).values_list("id", "sla_policy__deal_update_days")
    )
    hygiene_days = {n or settings.PRM_HYGIENE_DAYS for _pid, n in partners}
    # The lead aggregate takes most of the time: the others run beside it, on a second connection.
    leads, (offers, reviews, people, service) = parallel_call(
        lambda: _lead_kpis(start, end, hygiene_days),
        lambda: (_offer_kpis(start, end), _review_kpis(), _people_kpis(on), service_kpis(start=start, end=end, on=on)),
    )
    certified, training = people
    components = list(ScoreComponent.objects.all())

    rows = []
    for pid, update_days in partners:
        o = offers.get(pid, {})
        ld = leads.get(pid, {})
        rv = reviews.get(pid, {})
        row = {
            "partner_id": pid,
            "date": on,
            "window_days": window,
            "offers_total": o.get("total", 0),
            "accepted_in_sla_pct": pct(o.get("in_sla", 0), o.get("total", 0)),
            "median_accept_minutes": minutes(o.get("median")),
            "first_contact_in_sla_pct": pct(ld.get("fc_ok", 0), ld.get("fc_total", 0)),
            "hygiene_pct": pct(ld.get(f"fresh_{update_days or settings.PRM_HYGIENE_DAYS}", 0), ld.get("open", 0)),
            "win_rate_pct": pct(ld.get("won", 0), ld.get("won", 0) + ld.get("lost", 0)),
            "won_revenue_12m": quantize(ld.get("revenue") or 0, "0.01"),
            "avg_cycle_days": quantize(ld["cycle"].total_seconds() / 86400, "0.1")
            if ld.get("cycle") is not None
            else None,
            "customer_rating": quantize(rv.get("avg"), "0.01"),
            "reviews_count": rv.get("n", 0),
            "certified_people": certified.get(pid, {}).get("total", 0),
            "certified_by_competency": certified.get(pid, {}).get("by_competency", {}),
            "mandatory_training_pct": training.get(pid, {}).get("pct"),
            **{f: service.get(pid, {}).get(f) for f in SERVICE_KPI_FIELDS},
        }
        row["score"], row["score_components"] = score_compute(values=snapshot_values(row), components=components)
        rows.append(row)

    with transaction.atomic():
        _snapshots_upsert(rows)
        _partners_kpis_copy(on=on)
    return len(rows)


# What the router reads from the partner row: the day's score, and the latest snapshot's win rate and rating.
# One set-based UPDATE on PostgreSQL (a join, and an index seek per partner for its latest snapshot) that writes a
# partner row once, and only when one of its values changes (the partner row is wide, has many indexes, and routing
# keeps it hot; two statements rewrote every partner twice on the first night).
_PARTNER_KPIS_SQL = """
UPDATE partners_partner p
SET sla_score = COALESCE(t.score, p.sla_score), kpi_win_rate = l.win_rate_pct, kpi_rating = l.customer_rating
FROM kpi_kpisnapshot t
CROSS JOIN LATERAL (
    SELECT x.win_rate_pct, x.customer_rating FROM kpi_kpisnapshot x
    WHERE x.partner_id = t.partner_id AND x.date >= t.date ORDER BY x.date DESC LIMIT 1
) l
WHERE t.date = %(on)s AND t.partner_id = p.id
  AND ((t.score IS NOT NULL AND p.sla_score IS DISTINCT FROM t.score)
    OR p.kpi_win_rate IS DISTINCT FROM l.win_rate_pct OR p.kpi_rating IS DISTINCT FROM l.customer_rating)
"""


def _partners_kpis_copy(*, on: datetime.date) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_PARTNER_KPIS_SQL, {"on": on})
        return
    # The portable statements (SQLite: the demo).
    # Routing reads the score from the partner row; one UPDATE for everyone.
    todays = Subquery(KpiSnapshot.objects.filter(partner=OuterRef("pk"), date=on).values("score")[:1])
    (
        Partner.objects.annotate(new_score=todays)
        .filter(new_score__isnull=False)
        .filter(Q(sla_score__isnull=True) | ~Q(sla_score=F("new_score")))
        .update(sla_score=todays)
    )
    # The router reads the latest snapshot's win rate and rating from the partner row too.
    latest = KpiSnapshot.objects.filter(partner=OuterRef("pk")).order_by("-date")
    Partner.objects.filter(pk__in=KpiSnapshot.objects.filter(date=on).values("partner_id")).update(
        kpi_win_rate=Subquery(latest.values("win_rate_pct")[:1]),
        kpi_rating=Subquery(latest.values("customer_rating")[:1]),
    )
