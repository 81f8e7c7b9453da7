"""Entries still in the open period get the month whose statement will pay them, as `ledger_entries_place` now
decides at booking: the month `payable` says (the holding period of the partner's signed agreement, else the program
default), never a month already closed. One set-based UPDATE per month, oldest first, on SQLite and PostgreSQL."""

import datetime

from django.conf import settings
from django.db import migrations
from django.db.models import Max, Min
from django.utils import timezone


def _month_start(day):
    return day.replace(day=1)


def _next_month(first):
    return (first + datetime.timedelta(days=32)).replace(day=1)


def entries_statement_period(apps, schema_editor):
    CommissionEntry = apps.get_model("kpi", "CommissionEntry")
    Statement = apps.get_model("kpi", "Statement")
    Agreement = apps.get_model("partners", "Agreement")
    todo = CommissionEntry.objects.filter(statement_period__isnull=True)
    bounds = todo.aggregate(first=Min("entry_date"), last=Max("entry_date"))
    if bounds["first"] is None:
        return
    from kpi.payouts.payable import payable  # the rule itself (only imported when there is something to do)

    default = settings.PRM_PAYOUT_HOLD_DAYS
    own = dict(
        Agreement.objects.filter(status="signed", payout_hold_days__isnull=False)
        .exclude(payout_hold_days=default)
        .values_list("partner_id", "payout_hold_days")
    )
    holds = (default, own)
    last_closed = Statement.objects.aggregate(last=Max("period"))["last"]
    month = _next_month(last_closed) if last_closed else _month_start(bounds["first"])
    longest = max([default, *own.values()])
    final = _month_start(bounds["last"] + datetime.timedelta(days=longest))
    now = timezone.now()
    while month <= final:
        todo.filter(payable(end=_next_month(month), holds=holds)).update(statement_period=month, updated_at=now)
        month = _next_month(month)


class Migration(migrations.Migration):
    dependencies = [
        ("kpi", "0015_statement_period_at_booking_close"),
        ("partners", "0013_payout_hold_days_money"),
    ]

    operations = [migrations.RunPython(entries_statement_period, migrations.RunPython.noop)]
