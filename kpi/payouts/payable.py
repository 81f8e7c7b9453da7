"""When an entry is payable: the holding period rule and the months already closed.

Every ledger entry gets the month whose statement pays it when it is booked (`ledger_entries_place` calls
`payable_month`); closing a month only adds up the entries of that month. `payable` is the same rule as a query
(the data migration that gave open entries their month uses it).
"""

import datetime
from collections import defaultdict

from django.conf import settings
from django.db.models import Max, Q

from partners.models import Agreement, AgreementStatus, Partner

from ..models import CommissionEntry, EntryKind, Statement

HELD_KINDS = (EntryKind.ACCRUAL, EntryKind.OVERRIDE)


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(first: datetime.date) -> datetime.date:
    return (first + datetime.timedelta(days=32)).replace(day=1)


def period_first_open() -> datetime.date | None:
    """The first month no statement is closed for: the month after the latest closed one (None before the first
    close). Entries are never placed on a statement before it, so every entry of a month up to the latest closed one
    is on a statement."""
    last = Statement.objects.aggregate(last=Max("period"))["last"]
    return next_month(last) if last else None


def payout_holds(*, partner_ids=None) -> tuple[int, dict[int, int]]:
    """The holding period rule: the program default (PRM_PAYOUT_HOLD_DAYS), and the partners (of `partner_ids`, or
    all) whose signed agreement sets another number of days."""
    default = settings.PRM_PAYOUT_HOLD_DAYS
    own = Agreement.objects.filter(status=AgreementStatus.SIGNED, payout_hold_days__isnull=False).exclude(
        payout_hold_days=default
    )
    if partner_ids is not None:
        own = own.filter(partner_id__in=partner_ids)
    return default, dict(own.values_list("partner_id", "payout_hold_days"))


def payout_hold_days(*, partner: Partner) -> int:
    """One partner's holding period (what its open period shows)."""
    default, own = payout_holds(partner_ids=[partner.pk])
    return own.get(partner.pk, default)


def payable(*, end: datetime.date, holds: tuple[int, dict[int, int]] | None = None) -> Q:
    """The rule as a query: the entries a statement of the month ending before `end` pays — dated before `end`;
    accruals and overrides also older than their partner's holding period at `end` (younger ones wait for the next
    statement). Deductions (penalties, clawbacks) and corrections are never held. `payable_month` is the same rule
    for one entry."""
    default, own = holds or payout_holds()
    by_days = defaultdict(list)
    for partner_id, days in own.items():
        by_days[days].append(partner_id)
    old_enough = Q(entry_date__lt=end - datetime.timedelta(days=default)) & ~Q(partner_id__in=list(own))
    for days, partner_ids in by_days.items():
        old_enough |= Q(partner_id__in=partner_ids, entry_date__lt=end - datetime.timedelta(days=days))
    return Q(entry_date__lt=end) & (~Q(kind__in=HELD_KINDS) | old_enough)


def payable_month(*, entry: CommissionEntry, hold_days: int, first_open: datetime.date | None = None) -> datetime.date:
    """The month whose statement pays an entry (`payable` for one entry): the month of its date, or for accruals and
    overrides of its date plus the holding period; never a month already closed (before `first_open`)."""
    day = entry.entry_date
    if entry.kind in HELD_KINDS:
        day += datetime.timedelta(days=hold_days)
    return max(month_start(day), first_open or month_start(day))
