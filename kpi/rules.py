"""The KPI formulas and the tier rule, in plain Python: no queries, no writes.

The nightly run (`kpi.services.snapshots`, `kpi.services.tiers`), the scorecard and the what-if calculator
(`kpi.selectors.scorecard`) all call these functions, so a partner reads the rule that moves its tier:

- KPI arithmetic: `pct`, `quantize`, `minutes`, `score_compute`, `snapshot_values`;
- the tier rule: `requirement_progress` (what each requirement needs), `tier_met`, `tier_reached` and
  `tier_decide` (promote, warn, clear a warning, demote after the grace period);
- tier reasons, stored as a code and parameters and rendered in the reader's language by `reason_render`.
"""

import datetime
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from leads.delivery.kpis import FORMULAS as SERVICE_KPI_FORMULAS
from partners.models import Metric
from prm.l10n import date_format, money_format, number_format, percent_format

from .models import TierChangeKind

# --- KPI formulas --------------------------------------------------------------------------------------------

KPI_FORMULAS = {
    "accepted_in_sla_pct": gettext_lazy(
        "Offers made in the window with status accepted and answered by the deadline, divided by all offers in "
        "the window that were decided (accepted or declined) or expired. Pending and withdrawn offers are left out."
    ),
    "median_accept_minutes": gettext_lazy("Median time from offer to acceptance over offers accepted in the window."),
    "first_contact_in_sla_pct": gettext_lazy(
        "Routed leads accepted in the window whose first contact was logged by the first-contact deadline, divided "
        "by those whose deadline has passed or which already have a first contact."
    ),
    "hygiene_pct": gettext_lazy(
        "Open deals (registered to negotiation) with an activity or an update in the last N days (your SLA "
        "policy's deal update days, default 14), divided by all open deals."
    ),
    "win_rate_pct": gettext_lazy("Deals won in the window divided by deals won or lost in the window."),
    "won_revenue_12m": gettext_lazy(
        "Value of deals won in the last 12 months in the reporting currency, converted at the stored exchange rate "
        "valid on the day each deal was won."
    ),
    "avg_cycle_days": gettext_lazy("Average days from creation to close of the deals won in the window."),
    "customer_rating": gettext_lazy("Average rating of published (verified and moderated) customer reviews."),
    "certified_people": gettext_lazy(
        "Distinct people holding a valid certification (issued, not revoked, expiring today or later), per competency."
    ),
    "mandatory_training_pct": gettext_lazy(
        "Share of your active staff who passed every published mandatory onboarding course meant for their role "
        "(courses for another role do not count against them)."
    ),
    **SERVICE_KPI_FORMULAS,
}
# Post-sale service KPIs (leads.delivery.kpis) stored on the snapshot.
SERVICE_KPI_FIELDS = [
    "ontime_golive_pct",
    "response_in_sla_pct",
    "resolution_in_sla_pct",
    "reopen_rate_pct",
    "checkin_score",
]

# Where each tier/score metric is read from a snapshot.
METRIC_FIELDS = {
    Metric.CERTIFIED_PEOPLE: "certified_people",
    Metric.WON_REVENUE_12M: "won_revenue_12m",
    Metric.SLA_ACCEPTANCE: "accepted_in_sla_pct",
    Metric.SLA_FIRST_CONTACT: "first_contact_in_sla_pct",
    Metric.DEAL_HYGIENE: "hygiene_pct",
    Metric.WIN_RATE: "win_rate_pct",
    Metric.CUSTOMER_RATING: "customer_rating",
    Metric.MANDATORY_TRAINING: "mandatory_training_pct",
    Metric.ONTIME_GOLIVE: "ontime_golive_pct",
    Metric.SLA_RESPONSE: "response_in_sla_pct",
    Metric.SLA_RESOLUTION: "resolution_in_sla_pct",
    Metric.CHECKIN_SCORE: "checkin_score",
}

PERCENT_METRICS = {
    Metric.SLA_ACCEPTANCE,
    Metric.SLA_FIRST_CONTACT,
    Metric.DEAL_HYGIENE,
    Metric.WIN_RATE,
    Metric.MANDATORY_TRAINING,
    Metric.ONTIME_GOLIVE,
    Metric.SLA_RESPONSE,
    Metric.SLA_RESOLUTION,
}


def pct(part, whole) -> Decimal | None:
    """part / whole in percent, two decimals; None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def quantize(value, places: str) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(places), ROUND_HALF_UP)


def minutes(value) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds() / 60
    return quantize(value, "0.1")


def score_compute(*, values: dict, components) -> tuple[Decimal, dict]:
    """Each component earns up to max_points, linearly toward its target; a missing value earns nothing."""
    total = Decimal(0)
    parts = {}
    for c in components:
        value = values.get(c.metric)
        share = min(Decimal(str(value)) / c.target, Decimal(1)) if value is not None and c.target > 0 else Decimal(0)
        points = (share * c.max_points).quantize(Decimal("0.01"), ROUND_HALF_UP)
        total += points
        parts[c.metric] = {
            "name": c.name,
            "names": _name(c),
            "value": str(value) if value is not None else None,
            "target": str(c.target),
            "points": str(points),
            "max_points": c.max_points,
        }
    return total, parts


def snapshot_values(snapshot) -> dict:
    """Tier/score metric values of a snapshot or a snapshot row (metric -> value, "by_competency": {code: n})."""
    get = snapshot.get if isinstance(snapshot, dict) else lambda name: getattr(snapshot, name)
    values = {metric: get(name) for metric, name in METRIC_FIELDS.items()}
    values["by_competency"] = dict(get("certified_by_competency") or {})
    return values


# --- The tier rule -------------------------------------------------------------------------------------------


def _requirements(tier) -> list:
    reqs = getattr(tier, "reqs", None)  # tiers_with_requirements() prefetches them into a plain list
    return reqs if reqs is not None else list(tier.requirements.select_related("competency"))


def _value(req, values: dict):
    if req.competency_id:
        return (values.get("by_competency") or {}).get(req.competency.code, 0)
    return values.get(req.metric)


def _is_met(req, value) -> bool:
    return value is not None and Decimal(str(value)) >= req.threshold


def _local(name) -> str:
    """A name stored in both languages ({"en": ..., "ru": ...}, see prm.models.BilingualName) in the reader's."""
    if isinstance(name, dict):
        return name.get((get_language() or "en").split("-")[0]) or name.get("en") or ""
    return name or ""


def _name(obj):
    """A tier's or competency's name for stored parameters: both languages when the object has them."""
    name_i18n = getattr(obj, "name_i18n", None)
    return name_i18n() if callable(name_i18n) else obj.name


def needed_text(*, metric: str, value, threshold, competency_name=None) -> str:
    """What is still missing for one requirement, in plain words and the reader's language."""
    threshold = Decimal(str(threshold))
    if metric == Metric.CERTIFIED_PEOPLE:
        n = math.ceil(threshold - Decimal(str(value or 0)))
        if competency_name:
            return ngettext(
                "%(n)s more certified person in %(competency)s", "%(n)s more certified people in %(competency)s", n
            ) % {"n": n, "competency": _local(competency_name)}
        return ngettext("%(n)s more certified person", "%(n)s more certified people", n) % {"n": n}
    if metric == Metric.WON_REVENUE_12M:
        return _("%(amount)s more won revenue in the last 12 months") % {
            "amount": money_format(threshold - Decimal(str(value or 0)), None, whole=True)
        }
    fmt = percent_format if metric in PERCENT_METRICS else number_format
    return _("%(label)s %(value)s%(unit)s → needs %(threshold)s%(unit)s") % {
        "label": Metric(metric).label,
        "value": "—" if value is None else fmt(value),
        "threshold": fmt(threshold),
        "unit": "",
    }


def _progress(value, threshold: Decimal) -> int:
    if value is None:
        return 0
    if threshold <= 0:
        return 100
    return int(min(Decimal(str(value)) / threshold, Decimal(1)) * 100)


def requirement_progress(*, tier, values: dict, texts: bool = True) -> list[dict]:
    """Each requirement of `tier` against `values` (metric -> value, plus "by_competency": {code: people}).
    A missing value (no data yet) does not meet a requirement. `texts=False` leaves "needed" empty: a decision
    stores the values, and the text is rendered when someone reads it."""
    rows = []
    for req in _requirements(tier):
        competency = req.competency.code if req.competency_id else None
        competency_name = req.competency.name if competency else None
        competency_names = _name(req.competency) if competency else None
        value = _value(req, values)
        met = _is_met(req, value)
        rows.append(
            {
                "metric": req.metric,
                "label": Metric(req.metric).label,
                "competency": competency,
                "competency_name": competency_name,
                "competency_names": competency_names,
                "value": str(value) if value is not None else None,
                "threshold": str(req.threshold),
                "met": met,
                "progress": _progress(value, req.threshold),
                "needed": ""
                if met or not texts
                else needed_text(
                    metric=req.metric, value=value, threshold=req.threshold, competency_name=competency_names
                ),
            }
        )
    return rows


def tier_met(*, tier, values: dict) -> bool:
    """Whether every requirement of the tier is met: the same test as `requirement_progress`, without the texts."""
    return all(_is_met(req, _value(req, values)) for req in _requirements(tier))


def tier_reached(*, tiers: list, values: dict):
    """The highest tier whose every requirement is met (a tier without requirements is always met)."""
    best = None
    for tier in sorted(tiers, key=lambda t: t.rank):
        if tier_met(tier=tier, values=values):
            best = tier
    return best


@dataclass(frozen=True)
class TierDecision:
    kind: str
    to_tier: object
    reason_code: str
    reason_params: dict
    evaluation: list[dict] = field(default_factory=list)
    grace_until: datetime.date | None = None


EVALUATION_KEYS = ("metric", "competency", "competency_name", "value", "threshold", "met")


def _evaluation(rows: list[dict]) -> list[dict]:
    return [{k: r[k] for k in EVALUATION_KEYS} for r in rows]


def _missing(rows: list[dict]) -> list[dict]:
    """The unmet requirements for a stored reason; the competency in both languages (rendered in the reader's)."""
    return [
        {"metric": r["metric"], "competency_name": r["competency_names"] or r["competency_name"], "value": r["value"],
         "threshold": r["threshold"]}
        for r in rows
        if not r["met"]
    ]  # fmt: skip


def tier_decide(
    *, current, tiers: list, values: dict, last_kind: str | None, last_grace, on: datetime.date, grace_days: int
) -> TierDecision | None:
    """One partner's nightly decision, or None when nothing changes: the first tier reached; promotion to the
    highest tier reached; a warning with a grace period when the current tier's requirements fail; the warning
    cleared when they are met again; demotion to the highest tier reached (or the lowest) after the grace period."""
    best = tier_reached(tiers=tiers, values=values)
    if current is None:
        if best is None:
            return None
        rows = requirement_progress(tier=best, values=values, texts=False)
        return TierDecision(TierChangeKind.INITIAL, best, "initial", {"tier": _name(best)}, _evaluation(rows))
    if best is not None and best.rank > current.rank:
        rows = requirement_progress(tier=best, values=values, texts=False)
        return TierDecision(TierChangeKind.PROMOTION, best, "promotion", {"tier": _name(best)}, _evaluation(rows))
    warned = last_kind == TierChangeKind.WARNING
    if tier_met(tier=current, values=values):
        if not warned:
            return None
        rows = requirement_progress(tier=current, values=values, texts=False)
        return TierDecision(
            TierChangeKind.WARNING_CLEARED, current, "warning_cleared", {"tier": _name(current)}, _evaluation(rows)
        )
    if warned and (last_grace is None or on <= last_grace):
        return None  # still in the grace period
    rows = requirement_progress(tier=current, values=values, texts=False)
    if not warned:
        grace = on + datetime.timedelta(days=grace_days)
        params = {"tier": _name(current), "missing": _missing(rows), "date": grace.isoformat()}
        return TierDecision(TierChangeKind.WARNING, current, "warning", params, _evaluation(rows), grace)
    target = best or tiers[0]
    if target.pk == current.pk:
        return None
    params = {"to": _name(target), "tier": _name(current), "date": last_grace.isoformat(), "missing": _missing(rows)}
    return TierDecision(TierChangeKind.DEMOTION, target, "demotion", params, _evaluation(rows))


# --- Reasons -------------------------------------------------------------------------------------------------

REASONS = {
    "initial": gettext_lazy("First tier assigned from the KPIs: %(tier)s."),
    "promotion": gettext_lazy("Promoted to %(tier)s: every requirement of %(tier)s is met."),
    "warning_cleared": gettext_lazy("Warning cleared: the requirements of %(tier)s are met again."),
    "warning": gettext_lazy(
        "The requirements of %(tier)s are not met (%(missing)s). Unless they are met by %(date)s the tier will "
        "be lowered."
    ),
    "demotion": gettext_lazy(
        "Demoted to %(to)s: the requirements of %(tier)s are still not met after the grace period ended on "
        "%(date)s (%(missing)s)."
    ),
    "manual": gettext_lazy("Tier set to %(tier)s by the vendor: %(note)s"),
    "lock": gettext_lazy("Tier locked at %(tier)s until %(date)s: %(note)s"),
}


def reason_render(*, code: str, params: dict) -> str:
    """A stored reason in the active language (the reader's): tier names and notes as stored, the rest translated."""
    template = REASONS.get(code)
    if template is None:
        return ""
    params = {k: _local(v) if isinstance(v, dict) else v for k, v in params.items()}
    if params.get("date"):
        params["date"] = date_format(params["date"])
    if "missing" in params:
        params["missing"] = "; ".join(needed_text(**m) for m in params["missing"])
    return str(template) % params
