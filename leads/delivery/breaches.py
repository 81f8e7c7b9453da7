"""Liability for broken service SLAs: the every-minute breach scan, the partner's penalty in the commission ledger
and the service credit owed to the customer; late milestones.

A breach is booked exactly once whoever sees it first (the job, or a status change that stops a late clock):
the ledger row's `source_key` and the credit's one-to-one clock are unique, rows are inserted with
ON CONFLICT DO NOTHING, and the job claims clocks with SELECT ... FOR UPDATE SKIP LOCKED.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from kpi.models import CommissionEntry, EntryKind
from kpi.services.ledger import Rates, ledger_entries_place
from partners.models import Partner
from prm.models import NotificationKind, WebhookEvent
from prm.selectors import channel_managers, partners_admins
from prm.services import audit_record, connection_supports_skip_locked, notify
from prm.texts import N_, choice, compose
from prm.webhooks import webhook_emit

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
    """Book a breached clock's consequences (call inside the transaction that set `breached_at`, holding the clock's
    row lock): a penalty entry against the partner's commission and the customer's service credit, capped per
    month at the contract's cap; a webhook. Idempotent."""
    contract = ServiceContract.objects.select_for_update(no_key=True).get(pk=ticket.contract_id)
    day = timezone.localdate(clock.breached_at)
    booked = {"penalty": 0, "credit": 0}
    if contract.penalty_per_breach > 0:
        rate = (rates or Rates()).on(contract.penalty_currency, day)
        if rate is not None and not CommissionEntry.objects.filter(source_key=penalty_key(clock)).exists():
            amount = -contract.penalty_per_breach
            ledger_entries_place(
                entries=[
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
                ],
                fx=rates,
            )
            booked["penalty"] = 1
    if contract.credit_pct_per_breach > 0 and not ServiceCredit.objects.filter(clock=clock).exists():
        booked["credit"] = _credit_book(
            contract=contract,
            ticket=ticket,
            clock=clock,
            reason=ServiceCredit.Reason.BREACH,
            percent=contract.credit_pct_per_breach,
            day=day,
        )
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())  # CRM mirrors see the breach in the feed
    webhook_emit(event=WebhookEvent.TICKET_BREACHED, partner=ticket.partner_id, payload=_payload(clock, ticket))
    breach_notify(clock=clock, ticket=ticket, contract=contract, recipients=recipients)
    audit_record(actor=None, action="ticket.breached", target=ticket, data={"clock": clock.kind, **booked})
    return booked


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


def breach_notify(
    *, clock: TicketClock, ticket: Ticket, contract: ServiceContract, recipients: dict | None = None
) -> None:
    """In-portal notification of a breach (code + parameters, read in each reader's language)."""
    notify(
        users=breach_recipients(partner_id=ticket.partner_id, also=[contract.support_owner], cache=recipients),
        kind=NotificationKind.SERVICE_SLA,
        title=compose(N_("SLA breached: ticket #%(id)s %(title)s"), id=ticket.pk, title=ticket.title),
        body=compose(
            N_("The %(clock)s clock of %(customer)s's %(priority)s ticket passed its target at %(due)s."),
            clock=choice(clock, "kind"),
            customer=ticket.customer.name,
            priority=choice(ticket, "priority"),
            due=clock.due_at,
        ),
        url=reverse("delivery:ticket_detail", args=[ticket.pk]),
    )


def _credit_book(*, contract, ticket, clock, reason, percent: Decimal, day) -> int:
    """One service credit of `percent` of the monthly fee, cut to what the month's cap leaves (the caller holds the
    contract's row lock, so concurrent credits cannot exceed the cap)."""
    if contract.monthly_fee <= 0 or percent <= 0:
        return 0
    used = ServiceCredit.objects.filter(contract=contract, occurred_on__gte=day.replace(day=1)).aggregate(
        s=Sum("amount")
    )["s"] or Decimal(0)
    cap = (contract.monthly_fee * contract.credit_cap_pct / 100).quantize(CENT, ROUND_HALF_UP)
    amount = min((contract.monthly_fee * percent / 100).quantize(CENT, ROUND_HALF_UP), max(cap - used, Decimal(0)))
    if amount <= 0:
        return 0
    created = ServiceCredit.objects.bulk_create(
        [
            ServiceCredit(
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
        ],
        ignore_conflicts=True,
    )
    return len(created)


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
        events, rates, recipients = [], Rates() if due else None, {}  # rates and recipients once per batch
        breach_recipients_load(partner_ids=[clock.ticket.partner_id for clock in due], cache=recipients)
        for clock in due:
            clock.breached_at = clock.due_at
            clock.save(update_fields=["breached_at", "updated_at"])
            events.append(
                ClockEvent(
                    clock=clock,
                    action=ClockAction.BREACH,
                    at=now,
                    elapsed_seconds=clock.elapsed_seconds,
                    due_at=clock.due_at,
                )
            )
            clock_breach_book(clock=clock, ticket=clock.ticket, rates=rates, recipients=recipients)
        ClockEvent.objects.bulk_create(events)
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
