"""The payout cycle: close a month (set-based, single-flight), approve, pay; adjustments and clawbacks.

Every entry is booked with the month whose statement pays it (`statement_period`, see `payable`). Closing a month
inserts each partner's totals of that month's entries in one INSERT … SELECT and changes no entry; entries booked
later — late accruals, adjustments, clawbacks — go to the first open month, so nothing in a closed month ever
changes but the status.
"""

import datetime
import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Partner, PartnerStatus
from prm.models import User, WebhookEvent
from prm.permissions import is_vendor
from prm.services import audit_record
from prm.texts import N_, compose
from prm.webhooks import webhook_emit

from ..models import CommissionEntry, EntryKind, EntryStatus, Statement, StatementStatus
from ..services.ledger import CLOSE_LOCK_KEY, Rates, ledger_entries_place
from .payable import (  # noqa: F401 (the holding period rule, re-exported for the doors that show it)
    HELD_KINDS,
    month_start,
    next_month,
    payable,
    payable_month,
    payout_hold_days,
    payout_holds,
    period_first_open,
)

CENT = Decimal("0.01")
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
        # Months skipped since the latest closed one (and every month before the first close) have no statement:
        # their entries move onto this one. A close right after the previous month's moves nothing.
        last = Statement.objects.filter(period__lt=period).aggregate(last=Max("period"))["last"]
        moved = 0
        if last is None or next_month(last) < period:
            skipped = CommissionEntry.objects.filter(statement_period__lt=period)
            if last is not None:
                skipped = skipped.filter(statement_period__gt=last)
            moved = skipped.update(statement_period=period, updated_at=now)
        holds = payout_holds()
        # Rows inserted without a month (around `ledger_entries_place`: direct SQL, rows from before months were
        # decided at booking) get it from the same rule now; a partial index makes "none" a single probe.
        unplaced = CommissionEntry.objects.filter(statement_period__isnull=True)
        if unplaced.exists():
            closed = Statement.objects.filter(period=period).values("partner_id")
            moved += (
                unplaced.filter(payable(end=end, holds=holds))
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
                ON CONFLICT (period, partner_id) DO NOTHING
                RETURNING entries_count
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
            counts = [row[0] for row in cursor.fetchall()]
        created = len(counts)
        if created or moved:
            audit_record(
                actor=actor,
                action="statement.period_closed",
                data={"period": period.isoformat(), "statements": created, "entries": sum(counts)},
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
    first_open = period_first_open()

    def is_open(e: CommissionEntry) -> bool:
        return first_open is None or e.statement_period is None or e.statement_period >= first_open

    rows = [
        CommissionEntry(
            partner_id=e.partner_id,
            lead_id=e.lead_id,
            kind=EntryKind.CLAWBACK,
            # An entry still in the open period is offset on the same statement; a closed one on the next.
            entry_date=e.entry_date if is_open(e) else today,
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
        still_open = CommissionEntry.objects.filter(pk__in=[e.pk for e in earned], status=EntryStatus.PENDING)
        first_open = period_first_open()  # read again under the booking's lock: a close may have run meanwhile
        if first_open is not None:
            still_open = still_open.filter(Q(statement_period__gte=first_open) | Q(statement_period__isnull=True))
        still_open.update(status=EntryStatus.REVERSED, updated_at=timezone.now())
        if earned:
            audit_record(
                actor=actor,
                action="commission.clawed_back",
                target=lead,
                reason=reason,
                data={"entries": [e.pk for e in earned]},
            )
    return created
