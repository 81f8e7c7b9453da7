"""The payout cycle: close a month (set-based, single-flight), approve, pay; adjustments and clawbacks.

A statement freezes the entries of its period: closing tags every entry of the partner's open period that is due
(`payable`: dated before the month's end; accruals and overrides also past the partner's holding period) with the
month and inserts the totals in one INSERT … SELECT. Entries booked later — late accruals, adjustments, clawbacks —
stay in the open period and land on the next statement, so nothing in a closed month ever changes but the status.
"""

import datetime
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Agreement, AgreementStatus, Partner, PartnerStatus
from prm.models import User, WebhookEvent
from prm.permissions import is_vendor
from prm.services import audit_record
from prm.texts import N_, compose
from prm.webhooks import webhook_emit

from ..models import CommissionEntry, EntryKind, EntryStatus, Statement, StatementStatus
from ..services.ledger import CLOSE_LOCK_KEY, Rates, ledger_entries_place

CENT = Decimal("0.01")
HELD_KINDS = (EntryKind.ACCRUAL, EntryKind.OVERRIDE)
# Statement column per entry kind; kinds without a column still count in `total`.
KIND_COLUMNS = {
    EntryKind.ACCRUAL: "accruals",
    EntryKind.OVERRIDE: "overrides",
    EntryKind.PENALTY: "penalties",
    EntryKind.CLAWBACK: "clawbacks",
    EntryKind.ADJUSTMENT: "adjustments",
    EntryKind.REIMBURSEMENT: "reimbursements",
}


class StatementEvent:
    APPROVED = WebhookEvent.STATEMENT_APPROVED
    PAID = WebhookEvent.STATEMENT_PAID


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(first: datetime.date) -> datetime.date:
    return (first + datetime.timedelta(days=32)).replace(day=1)


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
    """The one rule that decides which entries a statement of the month ending before `end` pays: entries dated
    before `end`; accruals and overrides also older than their partner's holding period at `end` (younger ones wait
    for the next statement). Deductions (penalties, clawbacks) and corrections are never held."""
    default, own = holds or payout_holds()
    by_days = defaultdict(list)
    for partner_id, days in own.items():
        by_days[days].append(partner_id)
    old_enough = Q(entry_date__lt=end - datetime.timedelta(days=default)) & ~Q(partner_id__in=list(own))
    for days, partner_ids in by_days.items():
        old_enough |= Q(partner_id__in=partner_ids, entry_date__lt=end - datetime.timedelta(days=days))
    return Q(entry_date__lt=end) & (~Q(kind__in=HELD_KINDS) | old_enough)


def payable_month(*, entry: CommissionEntry, hold_days: int, first_open: datetime.date | None = None) -> datetime.date:
    """The month whose statement will pay an open-period entry under `payable`: the month of its date, or for
    accruals and overrides of its date plus the holding period; never a month already closed (`first_open`)."""
    day = entry.entry_date
    if entry.kind in HELD_KINDS:
        day += datetime.timedelta(days=hold_days)
    return max(month_start(day), first_open or month_start(day))


def statement_close(*, period: datetime.date, actor: User | None = None, now: datetime.datetime | None = None) -> int:
    """Close `period` (any day of the month) for every partner that has no statement for it yet; returns how many
    statements were created. Safe to run twice or on several workers at once: the second finds nothing to do."""
    period = month_start(period)
    end = next_month(period)
    if end > timezone.localdate():
        raise ValidationError({"period": _("A month can only be closed after it has ended.")})
    now = now or timezone.now()
    entries, statements = CommissionEntry._meta.db_table, Statement._meta.db_table
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLOSE_LOCK_KEY])
        holds = payout_holds()
        closed = Statement.objects.filter(period=period).values("partner_id")
        tagged = (
            CommissionEntry.objects.filter(payable(end=end, holds=holds), statement_period__isnull=True)
            .exclude(partner_id__in=closed)
            .update(statement_period=period, updated_at=now)
        )
        sums = ", ".join(
            f"COALESCE(SUM(CASE WHEN e.kind = '{kind}' THEN e.amount_reporting END), 0)" for kind in KIND_COLUMNS
        )
        columns = ", ".join(KIND_COLUMNS.values())
        # The partner-currency total exists only when every entry has a payout amount in one and the same currency.
        one_currency = "COUNT(e.id) > 0 AND COUNT(e.amount_payout) = COUNT(e.id) AND MIN(e.payout_currency) = MAX(e.payout_currency)"
        default_hold, own_holds = holds
        holds_sql, holds_params = _holds_relation(own_holds)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {statements} (partner_id, period, status, currency, {columns}, total, entries_count,
                                          payout_currency, payout_total, hold_days, closed_at, updated_at,
                                          payment_reference)
                SELECT p.id, %s, %s, %s, {sums}, COALESCE(SUM(e.amount_reporting), 0), COUNT(e.id),
                       CASE WHEN {one_currency} THEN MIN(e.payout_currency) ELSE '' END,
                       CASE WHEN {one_currency} THEN SUM(e.amount_payout) END,
                       COALESCE(MIN(h.days), %s), %s, %s, ''
                FROM {Partner._meta.db_table} p
                LEFT JOIN {entries} e ON e.partner_id = p.id AND e.statement_period = %s
                LEFT JOIN {holds_sql} ON h.partner_id = p.id
                WHERE (p.status = %s OR e.id IS NOT NULL)
                  AND NOT EXISTS (SELECT 1 FROM {statements} s WHERE s.partner_id = p.id AND s.period = %s)
                GROUP BY p.id
                ON CONFLICT (partner_id, period) DO NOTHING
                """,  # noqa: S608 (table and column names come from the models, values are parameters)
                [
                    period,
                    StatementStatus.CLOSED,
                    settings.PRM_REPORTING_CURRENCY,
                    default_hold,
                    now,
                    now,
                    period,
                    *holds_params,
                    PartnerStatus.ACTIVE,
                    period,
                ],
            )
            created = cursor.rowcount
        if created or tagged:
            audit_record(
                actor=actor,
                action="statement.period_closed",
                data={"period": period.isoformat(), "statements": created, "entries": tagged},
            )
    return created


def _holds_relation(own_holds: dict[int, int]) -> tuple[str, list]:
    """The agreements' own holding periods as a relation h(partner_id, days) for the close's one statement:
    two arrays on PostgreSQL, a VALUES list elsewhere (SQLite, the embedded demo)."""
    if connection.vendor == "postgresql":
        return "unnest(%s::bigint[], %s::int[]) AS h(partner_id, days)", [list(own_holds), list(own_holds.values())]
    if not own_holds:
        return "(SELECT NULL AS partner_id, NULL AS days WHERE 1 = 0) AS h", []
    rows = ", ".join(["(%s, %s)"] * len(own_holds))
    params = [value for pair in own_holds.items() for value in pair]
    return f"(SELECT column1 AS partner_id, column2 AS days FROM (VALUES {rows})) AS h", params


def statements_close_due(*, today: datetime.date | None = None) -> int:
    """The monthly job: close the previous month."""
    today = today or timezone.localdate()
    return statement_close(period=month_start(today) - datetime.timedelta(days=1))


def _locked(statement: Statement) -> Statement:
    return Statement.objects.select_for_update().select_related("partner").get(pk=statement.pk)


def _payload(statement: Statement) -> dict:
    return {
        "statement": statement.pk,
        "period": statement.period.strftime("%Y-%m"),
        "status": statement.status,
        "total": statement.total,
        "currency": statement.currency,
        "payment_reference": statement.payment_reference,
    }


def statement_approve(*, statement: Statement, actor: User) -> Statement:
    """The vendor has reviewed the frozen totals. Approving an approved or paid statement changes nothing."""
    if not is_vendor(actor):
        raise PermissionDenied
    with transaction.atomic():
        locked = _locked(statement)
        if locked.status != StatementStatus.CLOSED:
            return locked
        locked.status = StatementStatus.APPROVED
        locked.approved_at = timezone.now()
        locked.approved_by = actor
        locked.save(update_fields=["status", "approved_at", "approved_by", "updated_at"])
        CommissionEntry.objects.filter(
            partner_id=locked.partner_id, statement_period=locked.period, status=EntryStatus.PENDING
        ).update(status=EntryStatus.APPROVED, updated_at=locked.approved_at)
        audit_record(actor=actor, action="statement.approved", target=locked, data={"total": str(locked.total)})
        webhook_emit(event=StatementEvent.APPROVED, partner=locked.partner_id, payload=_payload(locked))
    return locked


def statement_pay(*, statement: Statement, actor: User, payment_reference: str) -> Statement:
    """Mark an approved statement paid with the bank's reference. Paying a paid statement changes nothing."""
    if not is_vendor(actor):
        raise PermissionDenied
    reference = (payment_reference or "").strip()
    if not reference:
        raise ValidationError({"payment_reference": _("Give the payment reference.")})
    with transaction.atomic():
        locked = _locked(statement)
        if locked.status == StatementStatus.PAID:
            return locked
        if locked.status != StatementStatus.APPROVED:
            raise ValidationError({"status": _("Only an approved statement can be paid.")})
        locked.status = StatementStatus.PAID
        locked.paid_at = timezone.now()
        locked.paid_by = actor
        locked.payment_reference = reference[:120]
        locked.save(update_fields=["status", "paid_at", "paid_by", "payment_reference", "updated_at"])
        CommissionEntry.objects.filter(
            partner_id=locked.partner_id,
            statement_period=locked.period,
            status__in=[EntryStatus.PENDING, EntryStatus.APPROVED],
        ).update(status=EntryStatus.PAID, updated_at=locked.paid_at)
        audit_record(actor=actor, action="statement.paid", target=locked, data={"reference": locked.payment_reference})
        webhook_emit(event=StatementEvent.PAID, partner=locked.partner_id, payload=_payload(locked))
    return locked


def _reporting(amount: Decimal, currency: str, day: datetime.date, field: str = "currency") -> Decimal:
    rate = Rates().on(currency, day)
    if rate is None:
        raise ValidationError(
            {field: _("No exchange rate for %(currency)s on %(day)s is stored.") % {"currency": currency, "day": day}}
        )
    return (amount * rate).quantize(CENT, ROUND_HALF_UP)


def commission_adjust(
    *,
    partner: Partner,
    amount: Decimal,
    reason: str,
    actor: User,
    currency: str | None = None,
    lead=None,
    key: str | None = None,
) -> CommissionEntry:
    """A manual correction (positive or negative) in the partner's open period, with its reason on the statement.
    `key` makes a retried call book nothing twice."""
    if not is_vendor(actor):
        raise PermissionDenied
    currency = (currency or settings.PRM_REPORTING_CURRENCY).upper()
    errors = {}
    if not (reason or "").strip():
        errors["reason"] = _("Say why the commission is adjusted.")
    if amount is None or amount == 0:
        errors["amount"] = _("An adjustment needs a non-zero amount.")
    if errors:
        raise ValidationError(errors)
    amount = Decimal(amount).quantize(CENT, ROUND_HALF_UP)
    today = timezone.localdate()
    source_key = f"adjustment:{key or uuid.uuid4().hex}"[:120]
    with transaction.atomic():
        existing = CommissionEntry.objects.filter(source_key=source_key).first()
        if existing is not None:
            return existing
        entry = CommissionEntry(
            partner=partner,
            lead=lead,
            kind=EntryKind.ADJUSTMENT,
            entry_date=today,
            amount=amount,
            currency=currency,
            amount_reporting=_reporting(amount, currency, today),
            description=reason.strip()[:300],  # typed by a person: shown as written
            source_key=source_key,
        )
        entry.full_clean()
        ledger_entries_place(entries=[entry])
        entry = CommissionEntry.objects.get(source_key=source_key)
        audit_record(
            actor=actor,
            action="commission.adjusted",
            target=entry,
            partner=partner,
            reason=entry.description,
            data={"amount": str(amount), "currency": currency},
        )
    return entry


def commission_clawback(*, lead, actor: User | None, reason: str = "") -> list[CommissionEntry]:
    """A won deal was reversed or refunded: every accrual and override it earned is offset by a negative entry in
    the open period, at the stored amounts (so it nets to exactly zero in every currency). Entries still in the
    open period are marked reversed; paid ones stay paid. Idempotent per entry (`clawback:<entry id>`)."""
    earned = list(CommissionEntry.objects.filter(lead=lead, kind__in=HELD_KINDS))
    done = set(
        CommissionEntry.objects.filter(source_key__in=[f"clawback:{e.pk}" for e in earned]).values_list(
            "source_key", flat=True
        )
    )
    earned = [e for e in earned if f"clawback:{e.pk}" not in done]
    today = timezone.localdate()
    rows = [
        CommissionEntry(
            partner_id=e.partner_id,
            lead_id=e.lead_id,
            kind=EntryKind.CLAWBACK,
            # An entry still in the open period is offset on the same statement; a closed one on the next.
            entry_date=e.entry_date if e.statement_period is None else today,
            amount=-e.amount,
            currency=e.currency,
            amount_reporting=-e.amount_reporting,
            rate=e.rate,
            share_percent=e.share_percent,
            # The stored payout figures of the entry it offsets: nets to zero in the partner's currency too.
            payout_currency=e.payout_currency,
            payout_rate=e.payout_rate,
            amount_payout=None if e.amount_payout is None else -e.amount_payout,
            description=e.description,
            text=compose(
                N_("Clawback: %(deal)s was reversed (%(kind)s of %(date)s)"),
                deal=lead.title,
                kind=EntryKind(e.kind).label,
                date=e.entry_date,
            ),
            source_key=f"clawback:{e.pk}",
        )
        for e in earned
    ]
    with transaction.atomic():
        created = ledger_entries_place(entries=rows)
        CommissionEntry.objects.filter(
            pk__in=[e.pk for e in earned], statement_period__isnull=True, status=EntryStatus.PENDING
        ).update(status=EntryStatus.REVERSED, updated_at=timezone.now())
        if earned:
            audit_record(
                actor=actor,
                action="commission.clawed_back",
                target=lead,
                reason=reason,
                data={"entries": [e.pk for e in earned]},
            )
    return created
