"""Reads for the KPI screens. The KPI formulas and the tier rule they show live in `kpi.rules`."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Avg, Count, OuterRef, Prefetch, Subquery, Sum
from django.http import Http404
from django.utils import timezone

from partners.models import Partner, PartnerStatus, Tier, TierRequirement
from prm.caching import cache_fresh, cache_refresh
from prm.permissions import is_partner_user, is_vendor

from .models import CommissionEntry, EntryKind, KpiSnapshot, NightlyRun, TierChange, TierChangeKind, TierLock
from .rules import KPI_FORMULAS, requirement_progress, snapshot_values, tier_reached


def tiers_with_requirements() -> list[Tier]:
    """All tiers, lowest first, requirements prefetched so evaluating them costs no further queries."""
    reqs = TierRequirement.objects.select_related("competency")
    tiers = list(Tier.objects.order_by("rank").prefetch_related(Prefetch("requirements", queryset=reqs)))
    for tier in tiers:
        tier.reqs = list(tier.requirements.all())  # plain list: evaluated thousands of times a night
    return tiers


def partner_for_viewer(*, viewer, partner_id: int | None) -> Partner:
    """The partner whose KPI pages the viewer asked for: partner staff only their own (others 404)."""
    if is_partner_user(viewer):
        if partner_id is not None and int(partner_id) != viewer.partner_id:
            raise Http404
        return viewer.partner
    if is_vendor(viewer) and partner_id is not None:
        try:
            return Partner.objects.select_related("tier").get(pk=partner_id)
        except (Partner.DoesNotExist, ValueError) as exc:
            raise Http404 from exc
    raise Http404


def open_lock(*, partner: Partner, on: datetime.date | None = None) -> TierLock | None:
    on = on or timezone.localdate()
    return (
        TierLock.objects.filter(partner=partner, released_at__isnull=True, until__gte=on).select_related("tier").first()
    )


def _standing(*, partner: Partner) -> tuple:
    """The partner's latest snapshot, the tiers, its current and next tier and its KPI values."""
    snapshot = KpiSnapshot.objects.filter(partner=partner).order_by("-date").first()
    tiers = tiers_with_requirements()
    current = next((t for t in tiers if t.pk == partner.tier_id), None)
    higher = [t for t in tiers if current is None or t.rank > current.rank]
    next_tier = higher[0] if higher else None
    values = snapshot_values(snapshot) if snapshot else {"by_competency": {}}
    return snapshot, tiers, current, next_tier, values


def scorecard(*, partner: Partner, values_override: dict | None = None) -> dict:
    """Latest KPIs, score components, next-tier progress and (optionally) a what-if result."""
    snapshot, tiers, current, next_tier, values = _standing(partner=partner)
    data = {
        "partner": partner,
        "snapshot": snapshot,
        "formulas": KPI_FORMULAS,
        "current_tier": current,
        "next_tier": next_tier,
        "current_progress": requirement_progress(tier=current, values=values) if current else [],
        "next_progress": requirement_progress(tier=next_tier, values=values) if next_tier else [],
        "tiers": tiers,
        "values": values,
        "changes": TierChange.objects.filter(partner=partner).select_related("from_tier", "to_tier")[:20],
        "lock": open_lock(partner=partner),
    }
    if values_override is not None:
        merged = {**values, **{k: v for k, v in values_override.items() if k != "by_competency"}}
        merged["by_competency"] = {**values["by_competency"], **values_override.get("by_competency", {})}
        reached = tier_reached(tiers=tiers, values=merged)
        data["what_if"] = {
            "tier": reached,
            "progress": [(t, requirement_progress(tier=t, values=merged)) for t in tiers if t.requirements.all()],
        }
    return data


def kpi_history(*, partner: Partner, days: int = 180) -> list[KpiSnapshot]:
    since = timezone.localdate() - datetime.timedelta(days=days)
    return list(KpiSnapshot.objects.filter(partner=partner, date__gte=since).order_by("date"))


def month_bounds(month: str | None) -> tuple[datetime.date, datetime.date]:
    """`YYYY-MM` → [first day, first day of next month); bad or missing input → the current month; a month
    outside 1900-2999 has no statement (404)."""
    try:
        first = datetime.datetime.strptime(month or "", "%Y-%m").date()
    except ValueError:
        first = timezone.localdate().replace(day=1)
    if not 1900 <= first.year <= 2999:
        raise Http404("No statement for this month.")
    nxt = (first + datetime.timedelta(days=32)).replace(day=1)
    return first, nxt


def statement(*, partner: Partner, month: str | None) -> dict:
    first, nxt = month_bounds(month)
    entries = CommissionEntry.objects.filter(partner=partner, entry_date__gte=first, entry_date__lt=nxt).select_related(
        "lead"
    )
    totals = {
        r["kind"]: Decimal(r["total"]).quantize(Decimal("0.01"))
        for r in entries.values("kind").annotate(total=Sum("amount_reporting")).order_by("kind")
    }
    usual = (EntryKind.ACCRUAL, EntryKind.PENALTY, EntryKind.ADJUSTMENT)
    by_kind = [
        (label, totals.get(kind, Decimal("0.00")))
        for kind, label in EntryKind.choices
        if kind in usual or kind in totals
    ]
    from leads.delivery.selectors import service_credits_of_month

    return {
        "partner": partner,
        "month": first,
        "entries": list(entries.order_by("entry_date", "id")),
        "service_credits": service_credits_of_month(partner=partner, first=first, nxt=nxt),
        "by_kind": by_kind,
        "total": sum(totals.values(), Decimal("0.00")),
    }


def network_dashboard(*, days: int = 90) -> dict:
    """The channel managers' KPI page: network-wide figures shared for PRM_DASHBOARD_CACHE_SECONDS (a month's ledger
    is a sum over ~100,000 entries at 100,000 partners, 0.5-1.4 s), the nightly runs live."""
    figures = cache_fresh(
        key=f"{NETWORK_KEY}:{days}",
        compute=lambda: _network_figures(days=days),
        seconds=settings.PRM_DASHBOARD_CACHE_SECONDS,
    )
    ledger = figures["ledger"]
    return {
        **figures,
        "ledger": [(label, ledger.get(kind, Decimal(0))) for kind, label in EntryKind.choices],
        "runs": list(NightlyRun.objects.all()[:10]),
    }


NETWORK_KEY = "prm:kpi_network"


def network_dashboard_refresh(*, days: int = 90) -> bool:
    """The periodic job's half (with the channel dashboard's): recount before the shared figures turn stale."""
    compute = lambda: _network_figures(days=days)  # noqa: E731
    seconds = settings.PRM_DASHBOARD_CACHE_SECONDS
    return cache_refresh(key=f"{NETWORK_KEY}:{days}", compute=compute, seconds=seconds) is not None


def _network_figures(*, days: int) -> dict:
    first = timezone.localdate().replace(day=1)
    tiers = list(
        Partner.objects.filter(status=PartnerStatus.ACTIVE)
        .values("tier__name")
        .annotate(n=Count("id"))
        .order_by("tier__rank")
    )
    ledger = {
        r["kind"]: r["total"]
        for r in CommissionEntry.objects.filter(entry_date__gte=first)
        .values("kind")
        .annotate(total=Sum("amount_reporting"))
        .order_by()
    }
    return {
        "trend": sla_trend(days=days),
        "tiers": {"labels": [t["tier__name"] or "—" for t in tiers], "counts": [t["n"] for t in tiers]},
        "at_risk": partners_at_risk(),
        "ledger": ledger,  # kind → total; labelled in the reader's language when read
        "lowest": lowest_scores(),
    }


def lowest_scores(limit: int = 10) -> list[KpiSnapshot]:
    latest = KpiSnapshot.objects.order_by("-date").values("date")[:1]
    return list(KpiSnapshot.objects.filter(date=Subquery(latest)).select_related("partner").order_by("score")[:limit])


def partners_at_risk(limit: int = 50) -> list[TierChange]:
    """Warnings that are still each partner's latest tier decision: demotion follows after the grace period."""
    latest = TierChange.objects.filter(partner=OuterRef("partner_id")).order_by("-effective_on", "-id")
    return list(
        TierChange.objects.filter(
            kind=TierChangeKind.WARNING, partner__status=PartnerStatus.ACTIVE, pk=Subquery(latest.values("pk")[:1])
        )
        .select_related("partner", "to_tier")
        .order_by("grace_until", "id")[:limit]
    )


def commission_month(*, partner: Partner, on: datetime.date | None = None) -> dict:
    """This month's ledger for the partner's cockpit: accrued, penalties, the rest, the net (reporting currency)."""
    first = (on or timezone.localdate()).replace(day=1)
    totals = {
        r["kind"]: r["total"] or Decimal(0)
        for r in CommissionEntry.objects.filter(partner=partner, entry_date__gte=first)
        .values("kind")
        .annotate(total=Sum("amount_reporting"))
        .order_by()
    }
    accrued = totals.get(EntryKind.ACCRUAL, Decimal(0))
    penalties = totals.get(EntryKind.PENALTY, Decimal(0))
    return {
        "month": first,
        "accrued": accrued,
        "penalties": penalties,
        "other": sum(totals.values(), Decimal(0)) - accrued - penalties,
        "net": sum(totals.values(), Decimal(0)),
        "currency": settings.PRM_REPORTING_CURRENCY,
    }


def tier_progress(*, partner: Partner) -> dict:
    """The next tier and how far the partner is from each of its requirements (the scorecard's rule)."""
    snapshot, _tiers, current, next_tier, values = _standing(partner=partner)
    progress = requirement_progress(tier=next_tier, values=values) if next_tier else []
    met = sum(1 for p in progress if p.get("met"))
    return {
        "current_tier": current,
        "next_tier": next_tier,
        "progress": progress,
        "met": met,
        "total": len(progress),
        "pct": round(100 * met / len(progress)) if progress else 100,
        "snapshot": snapshot,
    }


def tier_movement_month(*, on: datetime.date | None = None) -> list[dict]:
    """Tier decisions taken this month by kind (promotions, demotions, warnings...), for the channel cockpit."""
    first = (on or timezone.localdate()).replace(day=1)
    counts = dict(
        TierChange.objects.filter(effective_on__gte=first).values_list("kind").annotate(n=Count("id")).order_by()
    )
    shown = (TierChangeKind.PROMOTION, TierChangeKind.DEMOTION, TierChangeKind.WARNING, TierChangeKind.WARNING_CLEARED)
    return [{"kind": k, "label": TierChangeKind(k).label, "count": counts.get(k, 0)} for k in shown]


def sla_trend(*, days: int = 90) -> dict:
    """Network averages per night of the SLA KPIs (acceptance and first contact in SLA, hygiene): the trend charts
    of the KPI dashboard and the channel cockpit."""
    today = timezone.localdate()
    rows = list(
        KpiSnapshot.objects.filter(date__gte=today - datetime.timedelta(days=days))
        .values("date")
        .annotate(
            acceptance=Avg("accepted_in_sla_pct"),
            first_contact=Avg("first_contact_in_sla_pct"),
            hygiene=Avg("hygiene_pct"),
        )
        .order_by("date")
    )

    def series(key):
        return [float(r[key]) if r[key] is not None else None for r in rows]

    return {
        "labels": [r["date"].isoformat() for r in rows],
        "acceptance": series("acceptance"),
        "first_contact": series("first_contact"),
        "hygiene": series("hygiene"),
    }


def network_accept_sla_pct() -> dict | None:
    """The partners' side of the vendor's request SLA report: average share of offers accepted within SLA on the
    latest KPI snapshot date, or None (registered in partners.enablement.selectors by kpi.apps)."""
    latest = KpiSnapshot.objects.order_by("-date").values_list("date", flat=True).first()
    if latest is None:
        return None
    value = KpiSnapshot.objects.filter(date=latest).aggregate(v=Avg("accepted_in_sla_pct"))["v"]
    return {"date": latest, "pct": round(float(value), 1) if value is not None else None}
