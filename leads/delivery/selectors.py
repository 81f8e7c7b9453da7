"""Reads for post-sale delivery. Portal pages and the API share these, so one visibility rule applies."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from prm.permissions import scope_for

from . import clocks
from .models import (
    OPEN_TICKET_STATUSES,
    ClockState,
    Implementation,
    ImplementationStatus,
    Milestone,
    ServiceContract,
    ServiceCredit,
    Ticket,
    TicketClock,
)


def _late_milestones():
    return Milestone.objects.filter(
        implementation=OuterRef("pk"), done_at__isnull=True, due_on__lt=timezone.localdate()
    )


def implementation_list(*, viewer, filters: dict | None = None):
    filters = filters or {}
    qs = scope_for(Implementation.objects.all(), viewer).select_related("lead", "customer", "partner", "owner")
    qs = qs.annotate(
        has_late_milestone=Exists(_late_milestones()),
        milestones_open=Count("milestones", filter=Q(milestones__done_at__isnull=True)),
    )
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("late"):
        today = timezone.localdate()
        qs = qs.filter(
            Q(has_late_milestone=True)
            | Q(planned_go_live__lt=today, status__in=[ImplementationStatus.PLANNED, ImplementationStatus.IN_PROGRESS])
        )
    return qs.order_by("-created_at", "-id")


def implementation_get(*, viewer, pk) -> Implementation:
    return get_object_or_404(
        scope_for(Implementation.objects.all(), viewer).select_related("lead", "customer", "partner", "owner"), pk=pk
    )


def implementation_is_late(implementation: Implementation, *, today=None) -> bool:
    today = today or timezone.localdate()
    return bool(
        implementation.planned_go_live
        and implementation.planned_go_live < today
        and implementation.status in (ImplementationStatus.PLANNED, ImplementationStatus.IN_PROGRESS)
    )


def contract_list(*, viewer):
    return scope_for(ServiceContract.objects.all(), viewer).select_related("customer", "partner", "support_owner")


def ticket_list(*, viewer, filters: dict | None = None):
    filters = filters or {}
    qs = scope_for(Ticket.objects.all(), viewer).select_related("customer", "partner", "contract")
    qs = qs.prefetch_related(Prefetch("clocks", queryset=TicketClock.objects.order_by("kind")))
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    elif filters.get("open"):
        qs = qs.filter(status__in=OPEN_TICKET_STATUSES)
    if filters.get("priority"):
        qs = qs.filter(priority=filters["priority"])
    if filters.get("breached"):
        qs = qs.filter(Exists(TicketClock.objects.filter(ticket=OuterRef("pk"), breached_at__isnull=False)))
    return qs.order_by("-created_at", "-id")


def ticket_get(*, viewer, pk) -> Ticket:
    return get_object_or_404(
        scope_for(Ticket.objects.all(), viewer).select_related("customer", "partner", "contract"), pk=pk
    )


@dataclass
class ClockView:
    """What a page shows of a clock: used and target time, the breach moment, breached or not."""

    kind: str
    label: str
    state: str
    state_label: str
    elapsed_seconds: int
    target_seconds: int
    due_at: datetime | None
    breached: bool
    percent: int


def clock_views(*, ticket: Ticket, now: datetime | None = None) -> list[ClockView]:
    now = now or timezone.now()
    cal = clocks.Calendar.for_contract(ticket.contract)
    views = []
    for clock in sorted(ticket.clocks.all(), key=lambda c: c.kind != "response"):
        elapsed = clocks.elapsed_at(clock, cal, now)
        views.append(
            ClockView(
                kind=clock.kind,
                label=clock.get_kind_display(),
                state=clock.state,
                state_label=clock.get_state_display(),
                elapsed_seconds=elapsed,
                target_seconds=clock.target_seconds,
                due_at=clock.due_at if clock.state == ClockState.RUNNING else None,
                breached=clocks.is_breached(clock, cal, now),
                percent=min(100, int(elapsed * 100 / clock.target_seconds)) if clock.target_seconds else 0,
            )
        )
    return views


def status_page(*, link) -> dict:
    """Everything one status link shows: only this customer's items with this partner."""
    implementations = list(
        Implementation.objects.filter(customer=link.customer, partner=link.partner)
        .select_related("owner", "lead")
        .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.select_related("owner")))
        .order_by("-created_at")
    )
    contracts = list(
        ServiceContract.objects.filter(customer=link.customer, partner=link.partner).select_related("support_owner")
    )
    tickets = list(
        Ticket.objects.filter(customer=link.customer, partner=link.partner)
        .select_related("contract")
        .prefetch_related("clocks")
        .order_by("-created_at")[:100]
    )
    today = timezone.localdate()
    month_start = today.replace(day=1)
    credits = ServiceCredit.objects.filter(contract__in=contracts, occurred_on__gte=month_start)
    return {
        "implementations": implementations,
        "contracts": contracts,
        "open_tickets": [(t, clock_views(ticket=t)) for t in tickets if t.status in OPEN_TICKET_STATUSES],
        "closed_tickets": [t for t in tickets if t.status not in OPEN_TICKET_STATUSES],
        "credits_this_month": list(credits),
        "today": today,
    }


def service_credits_of_month(*, partner, first, nxt) -> list[ServiceCredit]:
    """Service credits the partner owes its customers, booked in [first, nxt): shown on its monthly statement beside
    the penalties, each with the ticket that caused it."""
    return list(
        ServiceCredit.objects.filter(partner=partner, occurred_on__gte=first, occurred_on__lt=nxt)
        .select_related("ticket", "contract__customer")
        .order_by("occurred_on", "id")
    )
