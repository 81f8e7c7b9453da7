"""Reads for step 4, deals worked: the pipeline lists and board, totals, one deal and its timeline."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from leads.models import (
    CLOSED_STAGES,
    OPEN_STAGES,
    Lead,
    RegistrationStatus,
    Stage,
)
from prm.permissions import is_vendor, scope_for
from prm.texts import render

# ?sort= values the pipeline list accepts, each with its tie-breaker; "-" in front sorts descending.
SORTS = {
    "created": ("created_at", "id"),
    "value": ("value", "id"),
    "close": ("expected_close", "id"),
    "stage": ("stage", "id"),
    "title": ("title", "id"),
    "activity": ("last_activity_at", "id"),
}
DEFAULT_SORT = "-created"


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def deal_list(*, viewer, filters: dict | None = None) -> QuerySet[Lead]:
    """Deals the viewer may see: vendor staff all, partner staff their own partner's and those they co-sell.

    Filters (all optional, bad values ignored): stage, state (open/closed), q, owner (a user id, or "me"),
    region, partner and partner_name (vendor staff), close_from / close_to (expected close, inclusive), stale (open
    deals without activity for N days), sort (one of SORTS, "-" for descending)."""
    filters = filters or {}
    qs = scope_for(Lead.objects.select_related("customer", "partner", "owner", "registration", "region"), viewer)
    if (stage := filters.get("stage")) in Stage.values:
        qs = qs.filter(stage=stage)
    if (state := filters.get("state")) in ("open", "closed"):
        qs = qs.filter(stage__in=OPEN_STAGES if state == "open" else CLOSED_STAGES)
    if q := filters.get("q"):
        qs = qs.filter(Q(title__icontains=q) | Q(customer__name__icontains=q))
    owner = filters.get("owner")
    if owner == "me":
        qs = qs.filter(owner_id=viewer.pk)
    elif owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif (owner_id := _int(owner)) is not None:
        qs = qs.filter(owner_id=owner_id)
    if (region := _int(filters.get("region"))) is not None:
        qs = qs.filter(region_id=region)
    if (partner := _int(filters.get("partner"))) is not None and is_vendor(viewer):
        qs = qs.filter(partner_id=partner)
    if (partner_name := filters.get("partner_name")) and is_vendor(viewer):
        qs = qs.filter(partner__name__icontains=partner_name)
    if close_from := _date(filters.get("close_from")):
        qs = qs.filter(expected_close__gte=close_from)
    if close_to := _date(filters.get("close_to")):
        qs = qs.filter(expected_close__lte=close_to)
    if (stale := _int(filters.get("stale"))) is not None:
        cutoff = timezone.now() - datetime.timedelta(days=stale)
        qs = qs.filter(stage__in=OPEN_STAGES).filter(
            Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True, created_at__lt=cutoff)
        )
    if filters.get("contact_due") == "1":
        qs = qs.filter(first_contact_due__isnull=False, first_contact_at__isnull=True, stage__in=OPEN_STAGES)
    return qs.order_by(*deal_sort(filters.get("sort")))


def _date(value) -> datetime.date | None:
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


def deal_sort(sort: str | None) -> list[str]:
    sort = sort if (sort or "").lstrip("-") in SORTS else DEFAULT_SORT
    desc = sort.startswith("-")
    return [("-" if desc else "") + f for f in SORTS[sort.lstrip("-")]]


def deal_get(*, viewer, pk: int) -> Lead:
    return deal_list(viewer=viewer).get(pk=pk)


def money_convert(*, amounts: dict[str, Decimal], on: datetime.date | None = None, rates=None) -> dict:
    """Sums per currency converted to the reporting currency at the rates in force `on` (default today); `rates`,
    the ledger's `Rates` when a caller converts several sums (one read of the rate table for all of them).

    Returns {"total": Decimal, "currency": reporting currency, "by_currency": [(currency, amount)],
    "unconverted": [currencies without a rate]}: amounts without a rate are listed, never added as if they were
    in the reporting currency."""
    on = on or timezone.localdate()
    rates = rates or _rates()
    total, unconverted = Decimal(0), []
    for currency, amount in amounts.items():
        rate = rates.on(currency, on)
        if rate is None:
            unconverted.append(currency)
        else:
            total += (amount or 0) * rate
    return {
        "total": total.quantize(Decimal("0.01")),
        "currency": settings.PRM_REPORTING_CURRENCY,
        "by_currency": sorted(amounts.items()),
        "unconverted": unconverted,
    }


def deal_totals(*, deals: QuerySet[Lead]) -> dict:
    """Count and value of a (filtered) deal list, the value converted to the reporting currency."""
    rows = deals.order_by().values("currency").annotate(n=Count("id"), v=Sum("value"))
    amounts = {r["currency"]: r["v"] or Decimal(0) for r in rows}
    return {"count": sum(r["n"] for r in rows), **money_convert(amounts=amounts)}


def deal_board_deals(*, viewer, filters: dict | None = None) -> QuerySet[Lead]:
    """The deals a board shows: the open ones matching the filters (stage, state and sort are the board's own)."""
    filters = {k: v for k, v in (filters or {}).items() if k not in ("stage", "state", "sort")}
    return deal_list(viewer=viewer, filters=filters).filter(stage__in=OPEN_STAGES)


def deal_board(*, viewer, filters: dict | None = None, per_stage: int = 25) -> list[dict]:
    """The open pipeline by stage: each column's count, converted value and its first deals (closest close first)."""
    deals = deal_board_deals(viewer=viewer, filters=filters)
    per = defaultdict(dict)
    counts = defaultdict(int)
    for r in deals.order_by().values("stage", "currency").annotate(n=Count("id"), v=Sum("value")):
        per[r["stage"]][r["currency"]] = r["v"] or Decimal(0)
        counts[r["stage"]] += r["n"]
    columns = []
    rates = _rates()
    for stage in OPEN_STAGES:
        cards = (
            list(deals.filter(stage=stage).order_by("expected_close", "-value", "id")[:per_stage])
            if counts[stage]
            else []
        )
        columns.append(
            {
                "stage": stage,
                "label": Stage(stage).label,
                "count": counts[stage],
                "money": money_convert(amounts=per[stage], rates=rates),
                "deals": cards,
            }
        )
    return columns


def pipeline_by_stage(*, partner_id: int | None = None) -> list[dict]:
    """Open deals per stage with their converted value, of one partner or (None) the network: the cockpits'
    pipeline chart and tiles."""
    deals = Lead.objects.filter(stage__in=OPEN_STAGES)
    if partner_id is not None:
        deals = deals.filter(partner_id=partner_id)
    per = defaultdict(dict)
    counts = defaultdict(int)
    for r in deals.order_by().values("stage", "currency").annotate(n=Count("id"), v=Sum("value")):
        per[r["stage"]][r["currency"]] = r["v"] or Decimal(0)
        counts[r["stage"]] += r["n"]
    rates = _rates()
    return [
        {"stage": s, "label": Stage(s).label, "count": counts[s], "money": money_convert(amounts=per[s], rates=rates)}
        for s in OPEN_STAGES
    ]


def _rates():
    from kpi.services.ledger import Rates  # the ledger's rate table: one rule for converting money

    return Rates()


def pipeline_chart(pipeline: list[dict]) -> dict:
    """Chart.js data of `pipeline_by_stage`: the value per stage in the reporting currency (json_script-ready)."""
    return {
        "labels": [s["label"] for s in pipeline],
        "datasets": [
            {
                "label": format_lazy(_l("Value, {currency}"), currency=settings.PRM_REPORTING_CURRENCY),
                "data": [float(s["money"]["total"]) for s in pipeline],
            }
        ],
    }


STALE_DAYS = 14


def deal_todo(*, viewer, limit: int = 5) -> dict:
    """The seller's to-do on deals, each as the same filter the pipeline list takes (so a tile links to its list):
    first contacts due (soonest first) and the number of open deals without activity for STALE_DAYS days."""
    due_filters = {"contact_due": "1", "sort": "created"}
    stale_filters = {"stale": str(STALE_DAYS), "sort": "activity"}
    due = deal_list(viewer=viewer, filters=due_filters).order_by("first_contact_due", "id")
    stale = deal_list(viewer=viewer, filters=stale_filters)
    return {
        "contact_due": list(due[:limit]),
        "contact_due_count": due.count(),
        "contact_due_filters": due_filters,
        "stale_count": stale.count(),
        "stale_filters": stale_filters,
        "stale_days": STALE_DAYS,
    }


def deal_export_rows(*, deals: QuerySet[Lead], vendor: bool):
    """Header and rows of the pipeline download (what the list shows, one deal per row)."""
    headers = [_("Deal"), _("Customer"), _("Tax ID")]
    if vendor:
        headers.append(_("Partner"))
    headers += [
        _("Owner"),
        _("Stage"),
        _("Region"),
        _("Value"),
        _("Currency"),
        _("Expected close"),
        _("Last activity"),
        _("Created"),
    ]

    def rows():
        for d in deals.iterator(chunk_size=2000):
            row = [d.title, d.customer.name, d.customer.tax_id]
            if vendor:
                row.append(d.partner.name if d.partner_id else "")
            row += [
                (d.owner.get_full_name() or d.owner.email) if d.owner_id else "",
                d.get_stage_display(),
                d.region.name if d.region_id else "",
                d.value,
                d.currency,
                d.expected_close,
                timezone.localtime(d.last_activity_at).replace(tzinfo=None) if d.last_activity_at else None,
                timezone.localtime(d.created_at).replace(tzinfo=None),
            ]
            yield row

    return headers, rows()


# ---------------------------------------------------------------------------------------------------------------
# The timeline in words: audit rows are stored as codes plus data and told in the reader's language here.

FIELD_LABELS = {
    "contact_name": lambda: _("customer contact"),
    "contact_email": lambda: _("contact e-mail"),
    "contact_phone": lambda: _("contact phone"),
    "products": lambda: _("products"),
    "value": lambda: _("value"),
    "currency": lambda: _("currency"),
    "expected_close": lambda: _("expected close"),
    "notes": lambda: _("notes"),
    "owner": lambda: _("owner"),
}

RULE_LABELS = {
    "auto_no_conflict": lambda: _("approved automatically, no conflict"),
    "hard_conflict": lambda: _("another partner already protects this customer"),
    "vendor_named_account": lambda: _("reserved for the vendor's direct sales"),
    "own_duplicate": lambda: _("your company already protects this customer"),
    "soft_conflict": lambda: _("a similar customer is protected; sent for review"),
    "program_requires_review": lambda: _("the program requires a review"),
    "partner_not_in_good_standing": lambda: _("the partner is not in good standing"),
    "protected_concurrently": lambda: _("another partner registered it at the same moment"),
    "manual_approved": lambda: _("approved by a channel manager"),
    "manual_rejected": lambda: _("rejected by a channel manager"),
    "score_swrr": lambda: _("chosen by score and fair rotation"),
    "manual": lambda: _("assigned by a channel manager"),
    "no_eligible_partner": lambda: _("no eligible partner"),
    "max_failures": lambda: _("too many failed offers"),
}

EVENT_LABELS = {
    "lead.created": lambda d: _("Lead created"),
    "lead.created_via_api": lambda d: _("Created through the API"),
    "lead.updated_via_api": lambda d: _("Updated through the API"),
    "lead.bulk_upserted": lambda d: _("Synced from the partner's CRM"),
    "lead.offered": lambda d: _("Offered to a partner"),
    "lead.queued": lambda d: _("Sent to the channel managers' queue"),
    "lead.assigned": lambda d: _("Assigned by a channel manager"),
    "lead.reclaimed": lambda d: _("Taken back from the partner"),
    "offer.accepted": lambda d: _("Offer accepted"),
    "offer.declined": lambda d: _("Offer declined"),
    "offer.expired": lambda d: _("Offer expired without an answer"),
    "offer.withdrawn": lambda d: _("Offer withdrawn"),
    "deal.stage_changed": lambda d: (
        _("Stage: %(from)s → %(to)s") % {"from": _stage_label(d.get("from")), "to": _stage_label(d.get("to"))}
    ),
    "deal.updated": lambda d: (
        _("Details changed: %(fields)s")
        % {"fields": ", ".join(str(FIELD_LABELS[f]()) if f in FIELD_LABELS else f for f in d.get("changed", {}))}
    ),
    "deal.cosell_set": lambda d: _("Co-selling split changed"),
    "registration.submitted": lambda d: _("Registration submitted"),
    "registration.approved": lambda d: _("Registration approved; the customer is protected"),
    "registration.rejected": lambda d: _("Registration rejected"),
    "registration.pending_review": lambda d: _("Registration sent for review"),
    "registration.extended": lambda d: _("Protection extended"),
    "registration.expired": lambda d: _("Protection expired"),
    "registration.withdrawn": lambda d: _("Registration withdrawn"),
    "registration.protection_released": lambda d: _("Protection released"),
    "commission.clawed_back": lambda d: _("Commission clawed back"),
}


def _stage_label(value) -> str:
    return str(Stage(value).label) if value in Stage.values else (value or "—")


def event_label(action: str, data: dict | None = None) -> str:
    """One audit row in words, in the active language; an unknown code is shown as it is stored."""
    from prm.audit_labels import audit_label

    told = EVENT_LABELS.get(action)
    try:
        return str(told(data or {})) if told else audit_label(action)
    except (KeyError, TypeError, ValueError):
        return audit_label(action)


def rule_label(rule: str) -> str:
    told = RULE_LABELS.get(rule)
    return str(told()) if told else rule


def _change_details(e) -> str:
    """The old → new values of a deal.updated row (owner by name), after the reason if any."""
    if e.action != "deal.updated":
        return e.reason_display
    parts = []
    for field, (old, new) in (e.data or {}).get("changed", {}).items():
        if field == "notes":
            continue  # long text: the record shows it

        def show(v):
            if isinstance(v, dict):
                return v.get("name", "")
            return v if v not in (None, "") else "—"

        label = FIELD_LABELS[field]() if field in FIELD_LABELS else field
        parts.append(f"{label}: {show(old)} → {show(new)}")
    return "; ".join(parts)


def deal_timeline(*, lead: Lead, viewer) -> list[dict]:
    """Activities, recorded changes and registration decisions of one deal, newest first, in words."""
    from prm.services import audit_trail

    items = [
        {
            "at": a.occurred_at,
            "type": "activity",
            "title": f"{a.get_kind_display()}: {a.subject}",
            "actor": a.user,
            "detail": a.notes,
        }
        for a in lead.activities.select_related("user")[:200]
    ]
    items += [
        {
            "at": e.at,
            "type": "change",
            "title": event_label(e.action, e.data),
            "actor": e.actor,
            "detail": _change_details(e),
        }
        for e in audit_trail(target=lead)
    ]
    registration = getattr(lead, "registration", None)
    if registration is not None:
        decided = {f"registration.{s}" for s in RegistrationStatus.values}
        items += [
            {
                "at": e.at,
                "type": "change",
                "title": event_label(e.action, e.data),
                "actor": e.actor,
                "detail": e.reason_display,
            }
            for e in audit_trail(target=registration)
            if e.action not in decided
        ]
        items += [
            {
                "at": d.at,
                "type": "decision",
                "title": f"{d.get_status_display()}: {rule_label(d.rule)}",
                "actor": d.actor,
                "detail": render(d.reason),
                "matches": d.matches if is_vendor(viewer) else [],
            }
            for d in registration.decisions.select_related("actor")
        ]
    return sorted(items, key=lambda i: i["at"], reverse=True)
