"""Reads for statements: the partner's list with the open period, one statement's entries, the payout batch."""

from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum

from prm.permissions import scope_for

from ..models import CommissionEntry, EntryKind, Statement, StatementStatus
from .payable import period_first_open


def statements_visible(*, viewer):
    return scope_for(Statement.objects.select_related("partner"), viewer)


def open_entries(*, partner):
    """The partner's entries not on a statement yet: those booked for the first open month or later (and rows
    inserted without a month, which the next close places)."""
    first_open = period_first_open()
    entries = CommissionEntry.objects.filter(partner=partner)
    if first_open is None:
        return entries
    return entries.filter(Q(statement_period__gte=first_open) | Q(statement_period__isnull=True))


def open_period(*, partner) -> dict:
    """What the partner has earned since its last closed statement (not frozen yet), by kind, in the reporting
    currency and — when every entry has a payout amount in one currency — in the partner's currency."""
    entries = open_entries(partner=partner)
    totals = entries.aggregate(
        total=Sum("amount_reporting"),
        count=Count("id"),
        payout_total=Sum("amount_payout"),
        payout_count=Count("amount_payout"),
        payout_min=Min("payout_currency"),
        payout_max=Max("payout_currency"),
    )
    by_kind = dict(entries.values_list("kind").annotate(s=Sum("amount_reporting")).order_by())
    one_currency = (
        totals["count"] and totals["payout_count"] == totals["count"] and (totals["payout_min"] == totals["payout_max"])
    )
    return {
        "total": totals["total"] or Decimal("0.00"),
        "count": totals["count"],
        "by_kind": [(kind, label, by_kind[kind]) for kind, label in EntryKind.choices if kind in by_kind],
        "payout_currency": totals["payout_min"] if one_currency else "",
        "payout_total": totals["payout_total"] if one_currency else None,
    }


def statement_entries(*, partner, period=None, kind: str | None = None) -> list[CommissionEntry]:
    """Every ledger entry behind a statement's figures (period None: the open period); `kind` narrows them to the
    entries behind one figure."""
    if period:
        qs = CommissionEntry.objects.filter(partner=partner, statement_period=period)
    else:
        qs = open_entries(partner=partner)
    if kind in EntryKind.values:
        qs = qs.filter(kind=kind)
    return list(qs.select_related("lead").order_by("entry_date", "id"))


def payout_batch(*, period) -> list[Statement]:
    """Approved statements of a month: what accounting pays."""
    return list(
        Statement.objects.filter(period=period, status=StatementStatus.APPROVED)
        .select_related("partner")
        .order_by("partner__name")
    )
