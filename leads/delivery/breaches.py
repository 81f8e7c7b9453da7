"""Liability for broken service SLAs: the every-minute breach scan, the partner's penalty in the commission ledger
and the service credit owed to the customer; late milestones.

A breach is booked exactly once whoever sees it first (the job, or a status change that stops a late clock):
the ledger row's `source_key` and the credit's one-to-one clock are unique, rows are inserted with
ON CONFLICT DO NOTHING, and the job claims clocks with SELECT ... FOR UPDATE SKIP LOCKED.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone

from kpi.models import CommissionEntry, EntryKind
from kpi.services.ledger import Rates, ledger_entries_place
from partners.models import Partner
from prm.models import NotificationKind, WebhookEvent
from prm.selectors import channel_managers, partners_admins
from prm.services import audit_record_many, connection_supports_skip_locked, notify, notify_many
from prm.texts import N_, choice, compose
from prm.webhooks import webhook_emit, webhook_emit_many

from .models import ClockAction, ClockEvent, ClockState, Milestone, ServiceContract, ServiceCredit, Ticket, TicketClock

CENT = Decimal("0.01")


def _payload(clock: TicketClock, ticket: Ticket) -> dict:
    return {
        "ticket": ticket.pk,
        "clock": clock.kind,
        "priority": ticket.priority,
        "customer": ticket.customer_id,
        "due_at": clock.due_at,
        "breached_at": clock.breached_at,
        "external_id": ticket.external_id,
        "source_system": ticket.source_system,
    }


def penalty_key(clock: TicketClock) -> str:
    return f"penalty:ticket_clock:{clock.pk}"


def clock_breach_book(
    *, clock: TicketClock, ticket: Ticket, rates: Rates | None = None, recipients: dict | None = None
) -> dict:
    """Book one breached clock's consequences (a status change that stopped a late clock): `clocks_breach_book`."""
    return clocks_breach_book(items=[(clock, ticket)], rates=rates, recipients=recipients)


def clocks_breach_book(
    *, items: list[tuple[TicketClock, Ticket]], rates: Rates | None = None, recipients: dict | None = None
) -> dict:
    """Book breached clocks' consequences (call inside the transaction that set their `breached_at`, holding their
    row locks): per clock a penalty entry against the partner's commission and the customer's service credit,
    capped per month at the contract's cap; a webhook, notices and an audit row. Idempotent. A batch costs a fixed
    number of statements whatever its size (contracts locked in id order, one ledger call, one insert each)."""
    if not items:
        return {"penalty": 0, "credit": 0}
    rates = rates or Rates()
    recipients = {} if recipients is None else recipients
    contracts = {
        c.pk: c
        for c in ServiceContract.objects.select_for_update(no_key=True)
        .filter(pk__in={t.contract_id for _c, t in items})
        .order_by("pk")
    }
    clock_ids = [c.pk for c, _t in items]
    penalised = set(
        CommissionEntry.objects.filter(source_key__in=[penalty_key(c) for c, _t in items]).values_list(
            "source_key", flat=True
        )
    )
    credited = set(ServiceCredit.objects.filter(clock_id__in=clock_ids).values_list("clock_id", flat=True))
    breach_recipients_load(partner_ids=[t.partner_id for _c, t in items], cache=recipients)
    entries, credits, booked = [], [], {}
    used = _credits_used(
        contracts=contracts, months={timezone.localdate(c.breached_at).replace(day=1) for c, _t in items}
    )
    for clock, ticket in items:
        contract = contracts[ticket.contract_id]
        day = timezone.localdate(clock.breached_at)
        mine = booked[clock.pk] = {"penalty": 0, "credit": 0}
        if contract.penalty_per_breach > 0 and penalty_key(clock) not in penalised:
            rate = rates.on(contract.penalty_currency, day)
            if rate is not None:
                amount = -contract.penalty_per_breach
                entries.append(
                    CommissionEntry(
                        partner_id=ticket.partner_id,
                        lead_id=contract.lead_id,
                        kind=EntryKind.PENALTY,
                        entry_date=day,
                        amount=amount,
                        currency=contract.penalty_currency,
                        amount_reporting=(amount * rate).quantize(CENT, ROUND_HALF_UP),
                        text=compose(
                            N_("Service SLA breach: ticket #%(ticket)s, %(clock)s"),
                            ticket=ticket.pk,
                            clock=choice(clock, "kind"),
                        ),
                        source_key=penalty_key(clock),
                    )
                )
                mine["penalty"] = 1
        if contract.credit_pct_per_breach > 0 and clock.pk not in credited:
            credit = _credit_new(
                contract=contract,
                ticket=ticket,
                clock=clock,
                reason=ServiceCredit.Reason.BREACH,
                percent=contract.credit_pct_per_breach,
                day=day,
                used=used,
            )
            if credit is not None:
                credits.append(credit)
                mine["credit"] = 1
    ledger_entries_place(entries=entries, fx=rates)
    ServiceCredit.objects.bulk_create(credits, ignore_conflicts=True)
    # CRM mirrors see the breach in the feed.
    Ticket.objects.filter(pk__in={t.pk for _c, t in items}).update(updated_at=timezone.now())
    webhook_emit_many(event=WebhookEvent.TICKET_BREACHED, items=[(t.partner_id, _payload(c, t)) for c, t in items])
    messages = []
    for clock, ticket in items:
        messages += _breach_messages(clock=clock, ticket=ticket, contract=contracts[ticket.contract_id],
                                     recipients=recipients)  # fmt: skip
    notify_many(kind=NotificationKind.SERVICE_SLA, messages=messages)
    audit_record_many(
        actor=None,
        action="ticket.breached",
        items=[(t, t.partner_id, "", {"clock": c.kind, **booked[c.pk]}) for c, t in items],
    )
    return {k: sum(b[k] for b in booked.values()) for k in ("penalty", "credit")}


def breach_recipients(*, partner_id: int, also=(), cache: dict | None = None) -> list:
    """Who hears of a breach or a late milestone: the responsible partner (its admins, plus `also`: the contract's
    support owner, the implementation's owner) and the vendor (the partner's account manager, or every channel
    manager when it has none)."""
    cache = {} if cache is None else cache  # one batch of the job asks once per partner
    if partner_id not in cache:
        breach_recipients_load(partner_ids=[partner_id], cache=cache)
    return [*cache[partner_id], *also]


def breach_recipients_load(*, partner_ids, cache: dict) -> None:
    """Fill `cache` with the recipients of many partners at once (three queries whatever their number)."""
    wanted = {pid for pid in partner_ids if pid not in cache}
    if not wanted:
        return
    if "vendor" not in cache:
        cache["vendor"] = list(channel_managers())
    admins: dict[int, list] = {pid: [] for pid in wanted}
    for user in partners_admins(partner_ids=wanted):
        admins[user.partner_id].append(user)
    for partner in Partner.objects.select_related("account_manager").filter(pk__in=wanted):
        vendor = [partner.account_manager] if partner.account_manager_id else cache["vendor"]
        cache[partner.pk] = [*admins[partner.pk], *vendor]


def _breach_messages(*, clock: TicketClock, ticket: Ticket, contract: ServiceContract, recipients: dict) -> list:
    """The in-portal notice of a breach, one per recipient (code + parameters, read in each reader's language)."""
    users = {
        u.pk: u
        for u in breach_recipients(partner_id=ticket.partner_id, also=[contract.support_owner], cache=recipients)
        if u is not None
    }
    title = compose(N_("SLA breached: ticket #%(id)s %(title)s"), id=ticket.pk, title=ticket.title)
    body = compose(
        N_("The %(clock)s clock of %(customer)s's %(priority)s ticket passed its target at %(due)s."),
        clock=choice(clock, "kind"),
        customer=ticket.customer.name,
        priority=choice(ticket, "priority"),
        due=clock.due_at,
    )
    url = reverse("delivery:ticket_detail", args=[ticket.pk])
    return [(user, title, body, url) for user in users.values()]


def _credits_used(*, contracts: dict, months: set) -> dict:
    """Credits already booked per (contract, month) for the months of a batch: one grouped query."""
    if not contracts or not months:
        return {}
    from django.db.models.functions import TruncMonth

    rows = (
        ServiceCredit.objects.filter(contract_id__in=list(contracts), occurred_on__gte=min(months))
        .annotate(month=TruncMonth("occurred_on"))
        .values("contract_id", "month")
        .annotate(s=Sum("amount"))
        .order_by()
    )
    return {(r["contract_id"], r["month"]): r["s"] or Decimal(0) for r in rows}


def _credit_new(*, contract, ticket, clock, reason, percent: Decimal, day, used: dict) -> "ServiceCredit | None":
    """One unsaved service credit of `percent` of the monthly fee, cut to what the month's cap leaves after `used`
    (updated; the caller holds the contract's row lock, so concurrent credits cannot exceed the cap)."""
    if contract.monthly_fee <= 0 or percent <= 0:
        return None
    key = (contract.pk, day.replace(day=1))
    cap = (contract.monthly_fee * contract.credit_cap_pct / 100).quantize(CENT, ROUND_HALF_UP)
    spent = used.get(key, Decimal(0))
    amount = min((contract.monthly_fee * percent / 100).quantize(CENT, ROUND_HALF_UP), max(cap - spent, Decimal(0)))
    if amount <= 0:
        return None
    used[key] = spent + amount
    return ServiceCredit(
        contract=contract,
        ticket=ticket,
        clock=clock,
        partner_id=ticket.partner_id,
        reason=reason,
        percent=percent,
        amount=amount,
        currency=contract.currency,
        occurred_on=day,
    )


def _credit_book(*, contract, ticket, clock, reason, percent: Decimal, day) -> int:
    """One service credit within the month's cap (the caller holds the contract's row lock)."""
    used = _credits_used(contracts={contract.pk: contract}, months={day.replace(day=1)})
    credit = _credit_new(
        contract=contract, ticket=ticket, clock=clock, reason=reason, percent=percent, day=day, used=used
    )
    return len(ServiceCredit.objects.bulk_create([credit], ignore_conflicts=True)) if credit else 0


def downtime_credit_book(*, ticket: Ticket, clock: TicketClock, at) -> int:
    """A resolved P1 incident is downtime: the contract's % per hour of downtime (the resolution clock's covered
    time, pauses excluded) is owed to the customer, within the monthly cap; once per ticket."""
    contract = ServiceContract.objects.select_for_update(no_key=True).get(pk=ticket.contract_id)
    if ServiceCredit.objects.filter(ticket=ticket, reason=ServiceCredit.Reason.DOWNTIME).exists():
        return 0
    hours = (Decimal(clock.elapsed_seconds) / 3600).quantize(CENT, ROUND_HALF_UP)
    return _credit_book(
        contract=contract,
        ticket=ticket,
        clock=None,
        reason=ServiceCredit.Reason.DOWNTIME,
        percent=(contract.credit_pct_per_downtime_hour * hours).quantize(CENT, ROUND_HALF_UP),
        day=timezone.localdate(at),
    )


def _claim(qs, batch: int, of=("self",)):
    # NO KEY UPDATE everywhere in delivery: rows referencing the locked ones (events, credits) can still be inserted.
    if connection_supports_skip_locked():
        qs = qs.select_for_update(skip_locked=True, of=of, no_key=True)
    else:
        qs = qs.select_for_update(no_key=True)
    return list(qs[:batch])


def tickets_flag_breaches(*, now=None, batch: int = 500) -> dict:
    """Every minute: running clocks past their breach moment are flagged and booked; those past 80 % of their
    target are warned once. Reads only due rows through partial indexes; safe on several workers at once."""
    now = now or timezone.now()
    counts = {"breached": 0, "warned": 0}
    with transaction.atomic():
        due = _claim(
            TicketClock.objects.filter(state=ClockState.RUNNING, breached_at__isnull=True, due_at__lte=now)
            .select_related("ticket__customer")
            .order_by("due_at"),
            batch,
            # The ticket too, in the same order as a status change (ticket, then clocks): a clock whose ticket is
            # being changed is skipped this minute (that change books a late stop itself), never waited for.
            of=("self", "ticket"),
        )
        # Set-based: one UPDATE flags the batch, one booking call books it (a fixed number of statements).
        TicketClock.objects.filter(pk__in=[c.pk for c in due]).update(breached_at=F("due_at"), updated_at=now)
        for clock in due:
            clock.breached_at = clock.due_at
        ClockEvent.objects.bulk_create(
            [
                ClockEvent(
                    clock=clock,
                    action=ClockAction.BREACH,
                    at=now,
                    elapsed_seconds=clock.elapsed_seconds,
                    due_at=clock.due_at,
                )
                for clock in due
            ]
        )
        clocks_breach_book(items=[(clock, clock.ticket) for clock in due])
        counts["breached"] = len(due)
    with transaction.atomic():
        warn = _claim(
            TicketClock.objects.filter(
                state=ClockState.RUNNING, warned_at__isnull=True, breached_at__isnull=True, warn_at__lte=now
            )
            .select_related("ticket")
            .order_by("warn_at"),
            batch,
        )
        events = []
        for clock in warn:
            clock.warned_at = now
            clock.save(update_fields=["warned_at", "updated_at"])
            events.append(
                ClockEvent(
                    clock=clock,
                    action=ClockAction.WARN,
                    at=now,
                    elapsed_seconds=clock.elapsed_seconds,
                    due_at=clock.due_at,
                )
            )
            webhook_emit(
                event=WebhookEvent.TICKET_BREACH_WARNING,
                partner=clock.ticket.partner_id,
                payload=_payload(clock, clock.ticket),
            )
        ClockEvent.objects.bulk_create(events)
        counts["warned"] = len(warn)
    counts["milestones_late"] = milestones_flag_late(today=timezone.localdate(now), batch=batch)
    return counts


def milestones_flag_late(*, today, batch: int = 500) -> int:
    """Milestones past their due date and not done: flagged once (webhook `implementation.milestone_late`)."""
    with transaction.atomic():
        late = _claim(
            Milestone.objects.filter(done_at__isnull=True, late_flagged_at__isnull=True, due_on__lt=today)
            .select_related("implementation__lead", "implementation__owner", "owner")
            .order_by("due_on"),
            batch,
        )
        now = timezone.now()
        Milestone.objects.filter(pk__in=[m.pk for m in late]).update(late_flagged_at=now, updated_at=now)
        cache = {}
        for m in late:
            notify(
                users=breach_recipients(
                    partner_id=m.implementation.partner_id, also=[m.owner, m.implementation.owner], cache=cache
                ),
                kind=NotificationKind.SERVICE_SLA,
                title=compose(N_("Milestone late: %(title)s"), title=m.title),
                body=compose(
                    N_("%(implementation)s: the milestone was due on %(due)s and is not done."),
                    implementation=m.implementation.lead.title,
                    due=m.due_on,
                ),
                url=reverse("delivery:implementation_detail", args=[m.implementation_id]),
            )
            webhook_emit(
                event=WebhookEvent.IMPLEMENTATION_MILESTONE_LATE,
                partner=m.implementation.partner_id,
                payload={
                    "implementation": m.implementation_id,
                    "milestone": m.pk,
                    "title": m.title,
                    "due_on": m.due_on,
                    "lead": m.implementation.lead_id,
                },
            )
    return len(late)
