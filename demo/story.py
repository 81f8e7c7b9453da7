"""The demo's history, told by the portal's own rules: a year of nightly KPI snapshots computed from the seeded
deals, tiers that follow from those KPIs (most partners comfortably in their tier, about 15 % above what their
numbers support, so the next nightly run warns them), and a tier history of first tiers, promotions and a few
demotions whose reasons are stored as code + parameters like the nightly run's own."""

import datetime as dt
import random

from django.utils import timezone

from kpi.models import KpiSnapshot, NightlyRun, RunStatus, TierChange, TierChangeKind
from kpi.rules import requirement_progress, snapshot_values, tier_reached
from kpi.selectors import tiers_with_requirements
from kpi.services.snapshots import kpi_snapshots_compute
from partners.models import Partner, PartnerStatus

from .writer import insert_rows

HISTORY_WEEKS = 52
AT_RISK_SHARE = 0.15


def _names(tier) -> dict:
    return tier.name_i18n()


def _missing(tier, values) -> list[dict]:
    rows = [r for r in requirement_progress(tier=tier, values=values) if not r["met"]]
    if not rows:  # met today, missed back then: the first requirement, a little short
        req = next(iter(tier.reqs), None)
        if req is None:
            return []
        rows = [
            {"metric": req.metric, "competency_names": None, "competency_name": None,
             "value": str(req.threshold * 9 / 10), "threshold": str(req.threshold)}
        ]  # fmt: skip
    return [
        {"metric": r["metric"], "competency_name": r["competency_names"] or r["competency_name"], "value": r["value"],
         "threshold": r["threshold"]}
        for r in rows
    ]  # fmt: skip


def story_seed(*, today: dt.date, seed: int, manager_ids: dict[int, int | None]) -> dict[str, int]:
    """Weekly snapshots for a year up to yesterday (each computed by the nightly KPI rule for its day), a
    succeeded nightly run for each, then tiers and tier history consistent with the latest snapshot."""
    rng = random.Random(f"{seed}:story")
    yesterday = today - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(weeks=k) for k in range(HISTORY_WEEKS, -1, -1)]
    now = timezone.now()
    for day in days:
        kpi_snapshots_compute(on=day)
    NightlyRun.objects.bulk_create(
        NightlyRun(date=day, status=RunStatus.SUCCEEDED, started_at=now, finished_at=now, counts={"demo": True})
        for day in days[:-1]  # the last day is left to the first real nightly run
    )

    tiers = tiers_with_requirements()
    by_rank = {t.rank: t for t in tiers}
    top = max(by_rank)
    latest = {s.partner_id: s for s in KpiSnapshot.objects.filter(date=yesterday)}
    partners = list(
        Partner.objects.filter(status=PartnerStatus.ACTIVE, tier__isnull=False).values_list("id", "joined_at")
    )
    TierChange.objects.all().delete()  # the generic history of the partner step is replaced by this story
    rows, tier_of = [], {}
    for pid, joined in partners:
        values = snapshot_values(latest[pid]) if pid in latest else {}
        reached = tier_reached(tiers=tiers, values=values) or tiers[0]
        at_risk = reached.rank < top and rng.random() < AT_RISK_SHARE
        current = by_rank[reached.rank + 1] if at_risk else reached
        tier_of[pid] = current.pk
        start = max(joined or today - dt.timedelta(days=400), today - dt.timedelta(days=400))
        manager = manager_ids.get(pid)
        roll = rng.random()

        def change(kind, from_tier, to_tier, on, code, params, actor=None, grace=None, pid=pid):
            rows.append(
                (pid, kind, from_tier.pk if from_tier else None, to_tier.pk, on, [], "", code, params, actor,
                 grace, now)
            )  # fmt: skip

        if current.rank > 0 and roll < 0.3:  # promoted during the year
            lower = by_rank[current.rank - 1]
            promoted = today - dt.timedelta(days=rng.randint(40, 300))
            change(TierChangeKind.INITIAL, None, lower, start, "initial", {"tier": _names(lower)})
            if promoted > start:
                change(TierChangeKind.PROMOTION, lower, current, promoted, "promotion", {"tier": _names(current)})
            else:
                rows[-1] = rows[-1][:3] + (current.pk,) + rows[-1][4:8] + ({"tier": _names(current)},) + rows[-1][9:]
        elif current.rank < top and roll < 0.4 and not at_risk:  # warned, then demoted during the year
            higher = by_rank[current.rank + 1]
            warned = today - dt.timedelta(days=rng.randint(60, 250))
            grace = warned + dt.timedelta(days=30)
            missing = _missing(higher, values)
            first = min(start, warned - dt.timedelta(days=90))
            change(TierChangeKind.INITIAL, None, higher, first, "initial", {"tier": _names(higher)})
            change(TierChangeKind.WARNING, higher, higher, warned, "warning",
                   {"tier": _names(higher), "missing": missing, "date": grace.isoformat()}, grace=grace)  # fmt: skip
            change(TierChangeKind.DEMOTION, higher, current, grace + dt.timedelta(days=1), "demotion",
                   {"to": _names(current), "tier": _names(higher), "date": grace.isoformat(), "missing": missing})  # fmt: skip
        else:
            change(TierChangeKind.INITIAL, None, current, start, "initial", {"tier": _names(current)}, manager)
    Partner.objects.filter(pk__in=list(tier_of)).update(tier_id=None)
    for tier in tiers:
        ids = [pid for pid, tid in tier_of.items() if tid == tier.pk]
        Partner.objects.filter(pk__in=ids).update(tier_id=tier.pk)
    insert_rows(
        TierChange,
        ["partner_id", "kind", "from_tier_id", "to_tier_id", "effective_on", "evaluation", "reason", "reason_code",
         "reason_params", "actor_id", "grace_until", "created_at"],
        rows,
    )  # fmt: skip
    return {"KPI snapshots": KpiSnapshot.objects.count(), "tier changes": len(rows)}
