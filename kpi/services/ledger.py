"""Phase 2 of the nightly run: commission accruals for won deals and SLA penalty entries.

Every automatic entry has a unique `source_key`; rows are inserted with ON CONFLICT DO NOTHING, so a re-run
or a resumed run never books anything twice.
"""

import bisect
import datetime
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, CharField, Exists, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat, TruncDate
from django.utils import timezone

from leads.models import CoSell, Lead, Offer, OfferStatus, Stage
from partners.models import Agreement, AgreementStatus
from prm.bulk import objects_insert
from prm.texts import N_, compose, render

from ..models import CommissionEntry, EntryKind, ExchangeRate, Statement, TierChange
from ..payouts.payable import payable_month, payout_holds, period_first_open
from ..payouts.rates import Overrides, RateTable
from .snapshots import day_end, vendor_tz

CENT = Decimal("0.01")
# Fixed key of the PostgreSQL advisory lock between the period close (exclusive) and booking entries (shared): an
# entry is placed either before a close (and frozen by it) or after it (and placed in the open period).
CLOSE_LOCK_KEY = 0x50524D_5041  # "PRM" "PA"


class Rates:
    """Exchange rates to the reporting currency, loaded once (a small table)."""

    def __init__(self):
        self.by_currency = defaultdict(list)
        for currency, valid_from, rate in ExchangeRate.objects.order_by("currency", "valid_from").values_list(
            "currency", "valid_from", "rate"
        ):
            self.by_currency[currency].append((valid_from, rate))

    def on(self, currency: str, day: datetime.date) -> Decimal | None:
        if currency == settings.PRM_REPORTING_CURRENCY:
            return Decimal(1)
        rows = self.by_currency.get(currency, [])
        i = bisect.bisect_right(rows, (day, Decimal("Infinity"))) - 1
        return rows[i][1] if i >= 0 else None


def _next_month(first: datetime.date) -> datetime.date:
    return (first + datetime.timedelta(days=32)).replace(day=1)


def ledger_entries_place(*, entries: list[CommissionEntry], fx: Rates | None = None) -> list[CommissionEntry]:
    """The one rule that books ledger entries; every door (nightly accruals and penalties, service breaches, MDF
    reimbursements, adjustments, clawbacks) builds unsaved entries with a composed `text` and calls it.

    - Nothing in a closed month changes: an entry dated in a month already closed for its partner is placed on the
      first day of the partner's open period, its own date kept in its line.
    - Each entry gets the month whose statement pays it (`statement_period`, `payable_month`): the month of its
      date, for accruals and overrides of its date plus the partner's holding period as it is now; never a month
      already closed. Closing a month only adds up its entries; a later change of the holding period leaves booked
      entries where they are.
    - The partner's payout currency (its signed agreement's, else the reporting currency) is stored with the rate of
      the entry's own day: amount_payout = amount × payout_rate (empty when no exchange rate is stored). Entries that
      carry payout figures already (clawbacks mirror the entry they offset) keep them.
    - `description` holds the line in English (exports, API).

    Inserted with ON CONFLICT DO NOTHING: an entry whose `source_key` (or MDF claim) is booked already is skipped, so
    retries and concurrent runs book nothing twice.
    """
    if not entries:
        return []
    fx = fx or Rates()
    reporting = settings.PRM_REPORTING_CURRENCY
    partner_ids = {e.partner_id for e in entries}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [CLOSE_LOCK_KEY])
        open_from = {
            partner_id: _next_month(last)
            for partner_id, last in Statement.objects.filter(partner_id__in=partner_ids)
            .values("partner_id")
            .annotate(last=Max("period"))
            .values_list("partner_id", "last")
        }
        program_open = period_first_open()
        default_hold, own_holds = payout_holds(partner_ids=partner_ids)
        payout = _payout_currencies(partner_ids)
        for e in entries:
            day = e.entry_date
            if e.amount_payout is None:
                _payout_figures(e, payout.get(e.partner_id, reporting), fx)
            first_open = open_from.get(e.partner_id)
            if first_open and day < first_open:
                e.entry_date = first_open
                e.text = compose(
                    N_("%(line)s (of %(date)s, booked after that month was closed)"),
                    line=e.text or e.description,
                    date=day,
                )
            hold = own_holds.get(e.partner_id, default_hold)
            e.statement_period = payable_month(entry=e, hold_days=hold, first_open=program_open)
            if e.text:
                e.description = render_english(e.text)[:300]
        return objects_insert(entries, batch_size=2000, skip_conflicts=True)


def _payout_figures(e: CommissionEntry, currency: str, fx: Rates) -> None:
    """The entry's amount in the partner's payout currency at the rate of the entry's own day (empty without one)."""
    e.payout_currency = currency.upper()
    to_reporting, from_payout = fx.on(e.currency, e.entry_date), fx.on(e.payout_currency, e.entry_date)
    e.payout_rate = None
    if e.currency == e.payout_currency:
        e.payout_rate = Decimal(1)
    elif to_reporting is not None and from_payout:
        e.payout_rate = (to_reporting / from_payout).quantize(Decimal("0.00000001"), ROUND_HALF_UP)
    e.amount_payout = None if e.payout_rate is None else (e.amount * e.payout_rate).quantize(CENT, ROUND_HALF_UP)


def _payout_currencies(partner_ids) -> dict[int, str]:
    return dict(
        Agreement.objects.filter(partner_id__in=partner_ids, status=AgreementStatus.SIGNED)
        .exclude(payout_currency="")
        .values_list("partner_id", "payout_currency")
    )


def ledger_payout_backfill(*, batch_size: int = 2000) -> dict:
    """Give entries booked before payout currencies existed (no payout amount) the figures `ledger_entries_place`
    stores today: the partner's payout currency and the rate of the entry's own day. A clawback takes the figures of
    the entry it offsets, so the two still net to zero. Only these three columns are written: statements already
    closed keep their frozen totals. Safe to run again: entries that still have no stored rate are retried, the rest
    are left alone."""
    fx = Rates()
    reporting = settings.PRM_REPORTING_CURRENCY
    fields = ["payout_currency", "payout_rate", "amount_payout", "updated_at"]
    now = timezone.now()
    filled = missing = 0
    todo = CommissionEntry.objects.filter(amount_payout__isnull=True).order_by("id")
    # Entries first, clawbacks after them (they copy the figures of the entry they offset).
    for clawbacks in (False, True):
        last = 0
        while True:
            qs = todo.filter(id__gt=last)
            qs = qs.filter(kind=EntryKind.CLAWBACK) if clawbacks else qs.exclude(kind=EntryKind.CLAWBACK)
            batch = list(
                qs.only("id", "partner_id", "kind", "entry_date", "amount", "currency", "source_key")[:batch_size]
            )
            if not batch:
                break
            last = batch[-1].id
            currencies = _payout_currencies({e.partner_id for e in batch})
            offsets = {}
            if clawbacks:
                offset_ids = [int(key) for _, _, key in (e.source_key.partition(":") for e in batch) if key.isdigit()]
                offsets = {
                    f"clawback:{pk}": (currency, rate, amount)
                    for pk, currency, rate, amount in CommissionEntry.objects.filter(pk__in=offset_ids).values_list(
                        "pk", "payout_currency", "payout_rate", "amount_payout"
                    )
                }
            for e in batch:
                if e.source_key in offsets:
                    e.payout_currency, e.payout_rate, amount = offsets[e.source_key]
                    e.amount_payout = None if amount is None else -amount
                else:
                    _payout_figures(e, currencies.get(e.partner_id, reporting), fx)
                if e.amount_payout is None:
                    missing += 1
                else:
                    filled += 1
                e.updated_at = now
            with transaction.atomic():
                CommissionEntry.objects.bulk_update(batch, fields, batch_size=batch_size)
    return {"filled": filled, "without_rate": missing}


def render_english(text) -> str:
    from django.utils import translation

    with translation.override("en"):
        return render(text)


def rate_override_expr(partner_ref: str):
    """The signed agreement's rate override, when it has one: it wins over the rate table."""
    override = Agreement.objects.filter(
        partner=OuterRef(partner_ref), status=AgreementStatus.SIGNED, commission_rate_override__isnull=False
    )
    return Subquery(override.values("commission_rate_override")[:1])


def tier_on_day_expr(partner_ref: str, day_ref: str):
    """The tier the partner had on a day: the tier after the last change before that day, or the tier before the
    first change on/after it; without history the current tier."""
    history = TierChange.objects.filter(partner=OuterRef(partner_ref))
    before = history.filter(effective_on__lt=OuterRef(day_ref), to_tier__isnull=False).order_by("-effective_on", "-id")
    after = history.filter(effective_on__gte=OuterRef(day_ref), from_tier__isnull=False).order_by("effective_on", "id")
    return Coalesce(
        Subquery(before.values("to_tier_id")[:1]),
        Subquery(after.values("from_tier_id")[:1]),
        F(f"{partner_ref}__tier_id"),
        output_field=BigIntegerField(),
    )


def commission_accrue(*, on: datetime.date) -> dict:
    """Accrue commission for deals won up to `on` that have no accrual yet: normally those won that day, plus a
    catch-up of the last PRM_LEDGER_CATCHUP_DAYS (default 90) for nights that were missed.

    value × rate, split by co-sell shares (each co-seller at its own rate; the owner keeps the remainder),
    converted to the reporting currency at the rate valid on the won day. The rate is the agreement's override,
    else the rate table's rate in force on the won day for the tier the partner had then (kpi.payouts.rates).
    A reseller's distributor earns its override percent of the reseller's share as a separate entry.
    """
    tz = vendor_tz()
    end = day_end(on)
    since = end - datetime.timedelta(days=settings.PRM_LEDGER_CATCHUP_DAYS)
    booked = CommissionEntry.objects.filter(
        lead=OuterRef("pk"), kind=EntryKind.ACCRUAL, entry_date__gte=since.date() - datetime.timedelta(days=1)
    )
    # First the ids alone (both sides of the anti-join come from indexes: lead_won_day_idx and
    # commission_accrual_lead_idx), then the few due deals' rows; a won deal always has a partner.
    due_ids = list(
        Lead.objects.filter(stage=Stage.WON, won_at__gte=since, won_at__lt=end)
        .exclude(Exists(booked))
        .order_by()
        .values_list("pk", flat=True)
    )
    due = (
        Lead.objects.filter(pk__in=due_ids, partner__isnull=False)
        .annotate(won_day=TruncDate("won_at", tzinfo=tz))
        .order_by()
    )
    leads = list(
        due.annotate(tier_id=tier_on_day_expr("partner", "won_day"), override=rate_override_expr("partner")).values(
            "id",
            "title",
            "partner_id",
            "partner__parent_id",
            "value",
            "currency",
            "won_day",
            "kind",
            "products",
            "tier_id",
            "override",
        )
    )
    if not leads:
        return {"accruals": 0, "missing_rate": 0}
    cosells = defaultdict(list)
    rows = (
        CoSell.objects.filter(lead__in=[lead["id"] for lead in leads])
        .annotate(won_day=TruncDate("lead__won_at", tzinfo=tz))
        .annotate(tier_id=tier_on_day_expr("partner", "won_day"), override=rate_override_expr("partner"))
        .values("lead_id", "partner_id", "partner__parent_id", "share_percent", "tier_id", "override")
    )
    for r in rows:
        cosells[r["lead_id"]].append(r)
    fx = Rates()
    table, overrides = RateTable(), Overrides()
    entries, missing = [], 0
    for lead in leads:
        rate_fx = fx.on(lead["currency"], lead["won_day"])
        if rate_fx is None:
            missing += 1  # booked by a later run once the exchange rate is stored
            continue
        shares = [c for c in cosells.get(lead["id"], []) if c["partner_id"] != lead["partner_id"]]
        owner_share = Decimal(100) - sum((c["share_percent"] for c in shares), Decimal(0))
        parts = [{**lead, "share_percent": owner_share}] if owner_share > 0 else []
        parts += shares
        for part in parts:
            partner_id, share = part["partner_id"], part["share_percent"]
            rate = part["override"]
            if rate is None:
                rate = table.rate(
                    tier_id=part["tier_id"],
                    kind=lead["kind"],
                    products=lead["products"],
                    value=lead["value"],
                    day=lead["won_day"],
                )
            rate = rate or Decimal(0)
            distributor = part["partner__parent_id"]
            percent = distributor and overrides.percent(distributor_id=distributor, day=lead["won_day"])
            if percent:
                amount = (lead["value"] * share / 100 * percent / 100).quantize(CENT, ROUND_HALF_UP)
                entries.append(
                    CommissionEntry(
                        partner_id=distributor,
                        lead_id=lead["id"],
                        kind=EntryKind.OVERRIDE,
                        entry_date=lead["won_day"],
                        amount=amount,
                        currency=lead["currency"],
                        amount_reporting=(amount * rate_fx).quantize(CENT, ROUND_HALF_UP),
                        rate=percent / 100,
                        share_percent=share,
                        description=f"{lead['title']}"[:300],
                        text=compose(
                            N_("Override on a reseller's deal: %(deal)s (%(share)s%% share)"),
                            deal=lead["title"],
                            share=share,
                        ),
                        source_key=f"override:lead:{lead['id']}:partner:{partner_id}",
                    )
                )
            amount = (lead["value"] * share / 100 * rate).quantize(CENT, ROUND_HALF_UP)
            entries.append(
                CommissionEntry(
                    partner_id=partner_id,
                    lead_id=lead["id"],
                    kind=EntryKind.ACCRUAL,
                    entry_date=lead["won_day"],
                    amount=amount,
                    currency=lead["currency"],
                    amount_reporting=(amount * rate_fx).quantize(CENT, ROUND_HALF_UP),
                    rate=rate,
                    share_percent=share,
                    description=f"{lead['title']}"[:300],
                    text=compose(
                        N_("Deal won: %(deal)s (%(share)s%% share, rate %(rate)s)"),
                        deal=lead["title"],
                        share=share,
                        rate=rate,
                    ),
                    source_key=f"accrual:lead:{lead['id']}:partner:{partner_id}",
                )
            )
    created = ledger_entries_place(entries=entries, fx=fx)
    return {"accruals": len(created), "missing_rate": missing}


OFFER_BREACH = N_("SLA breach: offer not accepted within the deadline")
CONTACT_BREACH = N_("SLA breach: first contact not logged in time")


def _not_booked(prefix: str, since: datetime.date):
    key = Concat(Value(prefix), Cast(OuterRef("pk"), CharField()), output_field=CharField())
    booked = CommissionEntry.objects.filter(kind=EntryKind.PENALTY, entry_date__gte=since, source_key=key)
    return ~Exists(booked)


def sla_penalties_book(*, on: datetime.date) -> dict:
    """One penalty per breached offer (expired, or accepted after its deadline) and per missed first contact,
    under the partner's SLA policy; nothing when the policy's penalty is 0. Breaches in the KPI window only."""
    tz = vendor_tz()
    end = day_end(on)
    start = end - datetime.timedelta(days=settings.PRM_KPI_WINDOW_DAYS)
    penalised = Q(partner__sla_policy__penalty_per_breach__gt=0)
    since = start.date() - datetime.timedelta(days=1)  # penalties are dated by the breach, inside the window
    fields = (
        "id",
        "partner_id",
        "day",
        "partner__sla_policy__penalty_per_breach",
        "partner__sla_policy__penalty_currency",
    )
    offers = (
        Offer.objects.filter(penalised, deadline__gte=start, deadline__lt=end)
        .filter(Q(status=OfferStatus.EXPIRED) | Q(status=OfferStatus.ACCEPTED, responded_at__gt=F("deadline")))
        .filter(_not_booked("penalty:offer:", since))
        .annotate(day=TruncDate("deadline", tzinfo=tz))
        .order_by()
        .values(*fields, "lead_id")
    )
    contacts = (
        Lead.objects.filter(penalised, first_contact_due__gte=start, first_contact_due__lt=end)
        .filter(Q(first_contact_at__isnull=True) | Q(first_contact_at__gt=F("first_contact_due")))
        .filter(_not_booked("penalty:first_contact:lead:", since))
        .annotate(day=TruncDate("first_contact_due", tzinfo=tz))
        .order_by()
        .values(*fields)
    )
    fx = Rates()
    entries, missing = [], 0

    def add(row, lead_id, key, text):
        nonlocal missing
        amount = -row["partner__sla_policy__penalty_per_breach"]
        currency = row["partner__sla_policy__penalty_currency"]
        rate_fx = fx.on(currency, row["day"])
        if rate_fx is None:
            missing += 1
            return
        entries.append(
            CommissionEntry(
                partner_id=row["partner_id"],
                lead_id=lead_id,
                kind=EntryKind.PENALTY,
                entry_date=row["day"],
                amount=amount,
                currency=currency,
                amount_reporting=(amount * rate_fx).quantize(CENT, ROUND_HALF_UP),
                description="",
                text=text,
                source_key=key,
            )
        )

    for row in offers:
        add(row, row["lead_id"], f"penalty:offer:{row['id']}", compose(OFFER_BREACH))
    for row in contacts:
        add(row, row["id"], f"penalty:first_contact:lead:{row['id']}", compose(CONTACT_BREACH))
    created = ledger_entries_place(entries=entries, fx=fx)
    return {"penalties": len(created), "missing_rate": missing}
