"""Writes for post-sale delivery: implementations and milestones, service contracts, tickets and their clocks.

Every door (portal, customer status page, API single and bulk, admin, demo) calls these functions.
"""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Lead, Stage
from prm.services import audit_record

from . import clocks
from .models import (
    ClockEvent,
    ClockKind,
    ClockState,
    Implementation,
    ImplementationStatus,
    Milestone,
    Priority,
    ServiceContract,
    SlaTemplate,
    Ticket,
    TicketClock,
    TicketKind,
    TicketSource,
    TicketStatus,
)

# --- service contracts ---------------------------------------------------------------------------------------


def sla_template_default() -> SlaTemplate | None:
    """The vendor's published SLA (the first published template by name)."""
    return SlaTemplate.objects.filter(published=True).order_by("name").first()


def contract_create(
    *, customer, partner, actor, starts_on: date, template: SlaTemplate | None = None, **fields
) -> ServiceContract:
    """A contract starts as a copy of the vendor's template (the published one unless given); `fields` override
    single terms. The calendar defaults to the customer's region (time zone, country, holiday subdivision)."""
    if not Lead.objects.filter(customer=customer, partner=partner).exists():
        raise ValidationError({"customer": _("This customer has no deal with the partner.")})
    template = template or sla_template_default()
    contract = ServiceContract(customer=customer, partner=partner, template=template, starts_on=starts_on)
    if template is not None:
        for name in ServiceContract.TERM_FIELDS:
            setattr(contract, name, getattr(template, name))
    region = getattr(customer, "region", None)
    if region is not None:
        contract.timezone, contract.country, contract.subdivision = region.timezone, region.country, region.subdivision
    else:
        contract.country = customer.country or contract.country
    for name, value in fields.items():
        setattr(contract, name, value)
    with transaction.atomic():
        contract.full_clean()
        contract.save()
        audit_record(actor=actor, action="contract.created", target=contract)
    return contract


# --- implementations -----------------------------------------------------------------------------------------


def implementation_open(*, lead: Lead, actor, owner=None, planned_go_live: date | None = None) -> Implementation:
    """Open the implementation of a won deal (once per deal; a second call returns the first)."""
    if lead.stage != Stage.WON or lead.partner_id is None:
        raise ValidationError({"lead": _("An implementation is opened for a won deal with a partner.")})
    owner = owner or lead.owner
    with transaction.atomic():
        implementation, created = Implementation.objects.get_or_create(
            lead=lead,
            defaults={
                "partner_id": lead.partner_id,
                "customer_id": lead.customer_id,
                "owner": owner,
                "planned_go_live": planned_go_live,
            },
        )
        if created:
            audit_record(actor=actor, action="implementation.opened", target=implementation)
    return implementation


def _staff_check(implementation: Implementation, users) -> None:
    for user in users:
        if user is not None and user.partner_id != implementation.partner_id:
            raise ValidationError({"owner": _("Owner and team come from the partner's own staff.")})


def implementation_update(
    *, implementation: Implementation, actor, owner=None, team=None, planned_go_live=None, status: str | None = None
) -> Implementation:
    with transaction.atomic():
        implementation = Implementation.objects.select_for_update(no_key=True).get(pk=implementation.pk)
        _staff_check(implementation, [owner, *(team or [])])
        changes = {}
        if owner is not None and owner.pk != implementation.owner_id:
            implementation.owner, changes["owner"] = owner, owner.pk
        if planned_go_live is not None and planned_go_live != implementation.planned_go_live:
            implementation.planned_go_live, changes["planned_go_live"] = planned_go_live, str(planned_go_live)
        if status is not None and status != implementation.status:
            allowed = {ImplementationStatus.PLANNED, ImplementationStatus.IN_PROGRESS, ImplementationStatus.CANCELLED}
            if status not in allowed or implementation.status in (
                ImplementationStatus.LIVE,
                ImplementationStatus.CANCELLED,
            ):
                raise ValidationError({"status": _("Go-live is set by the customer's sign-off, not by hand.")})
            implementation.status, changes["status"] = status, status
        implementation.full_clean()
        implementation.save()
        if team is not None:
            implementation.team.set(team)
            changes["team"] = sorted(u.pk for u in team)
        if changes:
            audit_record(actor=actor, action="implementation.updated", target=implementation, data=changes)
    return implementation


def milestone_add(*, implementation: Implementation, actor, title: str, due_on: date, owner=None) -> Milestone:
    _staff_check(implementation, [owner])
    with transaction.atomic():
        milestone = Milestone(implementation=implementation, title=title.strip(), due_on=due_on, owner=owner)
        milestone.full_clean()
        milestone.save()
        audit_record(
            actor=actor,
            action="milestone.added",
            target=implementation,
            data={"milestone": milestone.pk, "title": milestone.title, "due_on": str(due_on)},
        )
    return milestone


def milestone_complete(*, milestone: Milestone, actor, at: datetime | None = None) -> Milestone:
    with transaction.atomic():
        milestone = Milestone.objects.select_for_update(no_key=True).get(pk=milestone.pk)
        if milestone.done_at is None:
            milestone.done_at = at or timezone.now()
            milestone.save(update_fields=["done_at", "updated_at"])
            audit_record(
                actor=actor,
                action="milestone.done",
                target=milestone.implementation,
                data={"milestone": milestone.pk, "title": milestone.title},
            )
    return milestone


def implementation_sign_off(*, implementation: Implementation, name: str, at: datetime | None = None):
    """The customer signs off go-live (once): the implementation is live from now."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give your name to sign off.")})
    with transaction.atomic():
        implementation = Implementation.objects.select_for_update(no_key=True).get(pk=implementation.pk)
        if implementation.signed_off_at is not None:
            raise ValidationError(_("Go-live has already been signed off."))
        if implementation.status == ImplementationStatus.CANCELLED:
            raise ValidationError(_("This implementation was cancelled."))
        implementation.signed_off_at = at or timezone.now()
        implementation.signed_off_by = name[:200]
        implementation.status = ImplementationStatus.LIVE
        implementation.save()
        audit_record(actor=None, action="implementation.signed_off", target=implementation, data={"name": name})
    return implementation


# --- tickets and clocks ----------------------------------------------------------------------------------------

TRANSITIONS: dict[str, set[str]] = {
    TicketStatus.NEW: {
        TicketStatus.IN_PROGRESS,
        TicketStatus.WAITING_CUSTOMER,
        TicketStatus.RESOLVED,
        TicketStatus.CANCELLED,
    },
    TicketStatus.IN_PROGRESS: {TicketStatus.WAITING_CUSTOMER, TicketStatus.RESOLVED, TicketStatus.CANCELLED},
    TicketStatus.WAITING_CUSTOMER: {TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED, TicketStatus.CANCELLED},
    TicketStatus.RESOLVED: {TicketStatus.CLOSED, TicketStatus.IN_PROGRESS},
    TicketStatus.CLOSED: set(),
    TicketStatus.CANCELLED: set(),
}


def ticket_allowed_statuses(*, ticket: Ticket) -> list[str]:
    return [s for s in TicketStatus.values if s in TRANSITIONS.get(ticket.status, set())]


def _record(clock: TicketClock, action: str, at: datetime, actor, data: dict | None = None) -> ClockEvent:
    return ClockEvent(
        clock=clock,
        action=action,
        at=at,
        actor=actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None,
        elapsed_seconds=clock.elapsed_seconds,
        due_at=clock.due_at,
        data=data or {},
    )


def _validate_choice(value: str, choices, field: str) -> None:
    if value not in choices.values:
        raise ValidationError({field: _("Unknown value %(v)s.") % {"v": value}})


def ticket_open(
    *,
    contract: ServiceContract,
    actor,
    title: str,
    priority: str = Priority.P3,
    kind: str = TicketKind.INCIDENT,
    source: str = TicketSource.PARTNER,
    description: str = "",
    contact_name: str = "",
    source_system: str = "",
    external_id: str = "",
    at: datetime | None = None,
) -> Ticket:
    """Open a ticket under the customer's contract and start its response and resolution clocks."""
    _validate_choice(priority, Priority, "priority")
    _validate_choice(kind, TicketKind, "kind")
    if kind == TicketKind.ONSITE and not contract.onsite_included:
        raise ValidationError({"kind": _("On-site work is not included in this contract.")})
    at = at or timezone.now()
    if contract.ends_on is not None and at.date() > contract.ends_on:
        raise ValidationError({"contract": _("The contract ended on %(d)s.") % {"d": contract.ends_on}})
    with transaction.atomic():
        ticket = Ticket(
            partner_id=contract.partner_id,
            customer_id=contract.customer_id,
            contract=contract,
            title=(title or "").strip(),
            description=description,
            priority=priority,
            kind=kind,
            source=source,
            opened_by=actor if getattr(actor, "pk", None) else None,
            contact_name=contact_name,
            source_system=source_system,
            external_id=external_id,
        )
        ticket.full_clean()
        ticket.save()
        cal = clocks.Calendar.for_contract(contract)
        events = []
        for kind_ in ClockKind.values:
            clock = TicketClock(ticket=ticket, kind=kind_)
            action = clocks.start(clock, cal, at, target_seconds=contract.target_seconds(priority=priority, kind=kind_))
            clock.save()
            events.append(_record(clock, action, at, actor, {"priority": priority}))
        ClockEvent.objects.bulk_create(events)
        audit_record(actor=actor, action="ticket.opened", target=ticket, data={"source": source, "priority": priority})
    return ticket


def ticket_transition(*, ticket: Ticket, to_status: str, actor, at: datetime | None = None) -> Ticket:
    """Move a ticket; its clocks follow: leaving `new` stops the response clock, waiting for the customer pauses
    the resolution clock, going back to work resumes it, resolving stops it, reopening runs it on, cancelling
    cancels both; cancelling or resolving withdraws an on-site work order no field partner has accepted yet
    (leads.delivery.dispatch.work_order_withdraw). A clock stopped after its target is breached (booked once,
    whoever sees it first)."""
    from .breaches import clock_breach_book, downtime_credit_book
    from .dispatch import work_order_withdraw

    _validate_choice(to_status, TicketStatus, "status")
    at = at or timezone.now()
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(no_key=True, of=("self",)).select_related("contract").get(pk=ticket.pk)
        )
        old = ticket.status
        if to_status not in TRANSITIONS[old]:
            raise ValidationError(
                {
                    "status": _("A ticket cannot move from %(a)s to %(b)s.")
                    % {"a": ticket.get_status_display(), "b": to_status}
                }
            )
        cal = clocks.Calendar.for_contract(ticket.contract)
        by_kind = {
            c.kind: c for c in TicketClock.objects.select_for_update(no_key=True).filter(ticket=ticket).order_by("kind")
        }
        response, resolution = by_kind.get(ClockKind.RESPONSE), by_kind.get(ClockKind.RESOLUTION)
        steps = []  # (clock, transition)
        live = (ClockState.RUNNING, ClockState.PAUSED)
        if to_status == TicketStatus.CANCELLED:
            steps += [(c, clocks.cancel) for c in (response, resolution) if c is not None and c.state in live]
        else:
            if old == TicketStatus.NEW and response is not None and response.state in live:
                steps.append((response, clocks.stop))
            if resolution is not None:
                if to_status == TicketStatus.WAITING_CUSTOMER and resolution.state == ClockState.RUNNING:
                    steps.append((resolution, clocks.pause))
                elif to_status == TicketStatus.IN_PROGRESS and resolution.state == ClockState.PAUSED:
                    steps.append((resolution, clocks.resume))
                elif to_status == TicketStatus.IN_PROGRESS and old == TicketStatus.RESOLVED:
                    steps.append((resolution, clocks.reopen))
                elif to_status == TicketStatus.RESOLVED and resolution.state in live:
                    steps.append((resolution, clocks.stop))
        events, breached = [], []
        for clock, transition in steps:
            was_breached = clock.breached_at is not None
            try:
                action = transition(clock, cal, at)
            except clocks.ClockError as exc:
                raise ValidationError({"status": str(exc)}) from exc
            clock.save()
            events.append(_record(clock, action, at, actor, {"status": to_status}))
            if clock.breached_at is not None and not was_breached:
                breached.append(clock)
        ticket.status = to_status
        if to_status == TicketStatus.RESOLVED:
            ticket.resolved_at = at
        elif to_status == TicketStatus.CLOSED:
            ticket.closed_at = at
        elif old == TicketStatus.RESOLVED and to_status == TicketStatus.IN_PROGRESS:
            ticket.reopen_count += 1
            ticket.resolved_at = None
        ticket.save()
        ClockEvent.objects.bulk_create(events)
        audit_record(actor=actor, action="ticket.status_changed", target=ticket, data={"from": old, "to": to_status})
        for clock in breached:
            clock_breach_book(clock=clock, ticket=ticket)
        if to_status == TicketStatus.RESOLVED and ticket.kind == TicketKind.INCIDENT and ticket.priority == Priority.P1:
            downtime_credit_book(ticket=ticket, clock=resolution, at=at)
        if ticket.kind == TicketKind.ONSITE:
            work_order_withdraw(ticket=ticket, status=to_status, actor=actor)
    return ticket


def ticket_set_priority(*, ticket: Ticket, priority: str, actor, at: datetime | None = None) -> Ticket:
    """Change the priority: every clock takes the new priority's target and keeps the time it has used."""
    _validate_choice(priority, Priority, "priority")
    at = at or timezone.now()
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(no_key=True, of=("self",)).select_related("contract").get(pk=ticket.pk)
        )
        if ticket.priority == priority:
            return ticket
        old = ticket.priority
        cal = clocks.Calendar.for_contract(ticket.contract)
        events = []
        for clock in TicketClock.objects.select_for_update(no_key=True).filter(ticket=ticket).order_by("kind"):
            target = ticket.contract.target_seconds(priority=priority, kind=clock.kind)
            action = clocks.retarget(clock, cal, at, target_seconds=target)
            clock.save()
            events.append(_record(clock, action, at, actor, {"from": old, "to": priority}))
        ticket.priority = priority
        ticket.save(update_fields=["priority", "updated_at"])
        ClockEvent.objects.bulk_create(events)
        audit_record(actor=actor, action="ticket.priority_changed", target=ticket, data={"from": old, "to": priority})
    return ticket


def ticket_rate(*, ticket: Ticket, rating: int, comment: str = "") -> Ticket:
    """The customer's short rating of a resolved ticket, once."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError({"rating": _("Choose 1 to 5 stars.")})
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update(no_key=True).get(pk=ticket.pk)
        if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            raise ValidationError(_("A ticket can be rated once it is resolved."))
        if ticket.rated_at is not None:
            raise ValidationError(_("This ticket has already been rated. Thank you."))
        ticket.rating, ticket.rating_comment, ticket.rated_at = rating, comment.strip(), timezone.now()
        ticket.save(update_fields=["rating", "rating_comment", "rated_at", "updated_at"])
        audit_record(actor=None, action="ticket.rated", target=ticket, data={"rating": rating})
    return ticket
