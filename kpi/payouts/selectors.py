"""Reads for statements: the partner's list with the open period, one statement's entries, the payout batch."""

from decimal import Decimal

from django.db.models import Sum

from prm.permissions import scope_for

from ..models import CommissionEntry, Statement, StatementStatus


def statements_visible(*, viewer):
    return scope_for(Statement.objects.select_related("partner"), viewer)


def open_period(*, partner) -> dict:
    """What the partner has earned since its last closed statement (not frozen yet)."""
    entries = CommissionEntry.objects.filter(partner=partner, statement_period__isnull=True)
    total = entries.aggregate(s=Sum("amount_reporting"))["s"] or Decimal("0.00")
    return {"total": total, "count": entries.count()}


def statement_entries(*, partner, period=None) -> list[CommissionEntry]:
    """Every ledger entry behind a statement's figures (period None: the open period)."""
    qs = CommissionEntry.objects.filter(partner=partner)
    qs = qs.filter(statement_period=period) if period else qs.filter(statement_period__isnull=True)
    return list(qs.select_related("lead").order_by("entry_date", "id"))


def payout_batch(*, period) -> list[Statement]:
    """Approved statements of a month: what accounting pays."""
    return list(
        Statement.objects.filter(period=period, status=StatementStatus.APPROVED)
        .select_related("partner")
        .order_by("partner__name")
    )
