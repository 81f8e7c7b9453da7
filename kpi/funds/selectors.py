"""Reads for MDF pages and the API: the partner's balance, the vendor's queue with ageing, budget use, ROI."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from leads.models import Lead, Stage
from prm.permissions import scope_for

from ..models import CommissionEntry, EntryKind
from ..services.ledger import Rates
from .models import Allocation, Budget, ClaimStatus, FundClaim, FundRequest, FundRequestStatus


def fund_requests_visible(*, viewer):
    return scope_for(FundRequest.objects.select_related("allocation__budget", "partner"), viewer)


def fund_claims_visible(*, viewer):
    return scope_for(FundClaim.objects.select_related("request", "partner"), viewer)


def partner_funds(*, partner) -> dict:
    allocations = list(
        Allocation.objects.filter(partner=partner).select_related("budget").order_by("-budget__period_start")
    )
    requests = list(
        FundRequest.objects.filter(partner=partner).select_related("allocation__budget", "claim").order_by("-id")
    )
    reimbursed = CommissionEntry.objects.filter(partner=partner, kind=EntryKind.REIMBURSEMENT).aggregate(
        s=Sum("amount_reporting")
    )["s"] or Decimal(0)
    return {"partner": partner, "allocations": allocations, "requests": requests, "reimbursed": reimbursed}


def approval_queue(*, now=None) -> dict:
    """Undecided requests and claims, oldest first, with their age and whether the SLA deadline has passed."""
    now = now or timezone.now()
    requests = list(
        FundRequest.objects.filter(status=FundRequestStatus.SUBMITTED)
        .select_related("partner", "allocation__budget")
        .order_by("decision_due_at", "id")
    )
    claims = list(
        FundClaim.objects.filter(status=ClaimStatus.SUBMITTED)
        .select_related("partner", "request__allocation__budget")
        .order_by("decision_due_at", "id")
    )
    for item in (*requests, *claims):
        item.age_hours = int((now - item.created_at).total_seconds() // 3600)
        item.overdue = item.decision_due_at < now
    return {"requests": requests, "claims": claims}


def budget_use() -> list[Budget]:
    """Each budget with what is allocated, committed by approved requests, reimbursed and expired."""
    budgets = list(Budget.objects.select_related("region").order_by("-period_start", "name"))
    committed = dict(Allocation.objects.values("budget_id").annotate(s=Sum("committed")).values_list("budget_id", "s"))
    expired = dict(
        Allocation.objects.values("budget_id").annotate(s=Sum("expired_amount")).values_list("budget_id", "s")
    )
    reimbursed = dict(
        FundClaim.objects.filter(status=ClaimStatus.APPROVED)
        .values("request__allocation__budget_id")
        .annotate(s=Sum("approved_amount"))
        .values_list("request__allocation__budget_id", "s")
    )
    for b in budgets:
        b.committed = committed.get(b.pk) or Decimal(0)
        b.reimbursed = reimbursed.get(b.pk) or Decimal(0)
        b.expired = expired.get(b.pk) or Decimal(0)
    return budgets


def fund_roi(*, group_by: str = "request") -> list[dict]:
    """Pipeline (open deals) and won revenue of the deals each approved activity sourced, against what it cost.
    Deal values are converted to the reporting currency at today's stored rate, never summed across currencies;
    `group_by` is request, activity_type, region or partner."""
    fx = Rates()
    today = timezone.localdate()
    keys = {
        "request": ("fund_request_id", "fund_request__title"),
        "activity_type": ("fund_request__activity_type", "fund_request__activity_type"),
        "region": ("fund_request__partner__home_region__name", "fund_request__partner__home_region__name"),
        "partner": ("fund_request__partner_id", "fund_request__partner__name"),
    }
    key, label = keys.get(group_by, keys["request"])
    rows = defaultdict(lambda: {"pipeline": Decimal(0), "won": Decimal(0), "deals": 0, "unconverted": set()})
    deals = (
        Lead.objects.filter(fund_request__isnull=False)
        .exclude(stage__in=[Stage.LOST, Stage.REJECTED])
        .values(key, label, "currency")
        .annotate(won=Sum("value", filter=Q(stage=Stage.WON)), open=Sum("value", filter=~Q(stage=Stage.WON)))
        .order_by()
    )
    from django.db.models import Count

    deals = deals.annotate(n=Count("id"))
    for d in deals:
        row = rows[d[key]]
        row["label"] = d[label]
        rate = fx.on(d["currency"], today)
        row["deals"] += d["n"]
        if rate is None:
            row["unconverted"].add(d["currency"])
            continue
        row["won"] += (d["won"] or 0) * rate
        row["pipeline"] += (d["open"] or 0) * rate
    spent_key = {"request": "request_id", "activity_type": "request__activity_type"}.get(
        group_by, {"region": "partner__home_region__name", "partner": "partner_id"}.get(group_by, "request_id")
    )
    spent = (
        FundClaim.objects.filter(status=ClaimStatus.APPROVED)
        .values(spent_key, "request__allocation__budget__currency")
        .annotate(s=Sum("approved_amount"))
        .order_by()
    )
    for s in spent:
        row = rows[s[spent_key]]
        rate = fx.on(s["request__allocation__budget__currency"], today)
        row.setdefault("spent", Decimal(0))
        row["spent"] += (s["s"] or 0) * (rate or 0)
    out = []
    for k, row in rows.items():
        row.setdefault("label", k)
        row.setdefault("spent", Decimal(0))
        row["roi"] = (row["won"] / row["spent"]).quantize(Decimal("0.01")) if row["spent"] else None
        row["key"] = k
        out.append(row)
    return sorted(out, key=lambda r: -r["won"])
