"""Post-sale KPIs for the nightly run: one grouped statement per metric group, for every partner at once.

- on-time go-live: implementations whose planned go-live day falls in the window and has passed (or that were
  signed off), signed off by the end of that day;
- response / resolution within SLA: clocks started in the window that have a verdict (stopped, or breached),
  met when stopped without a breach; running and paused clocks not yet breached wait for their verdict,
  cancelled ones never count;
- reopen rate: tickets opened in the window and resolved at least once that were reopened.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q
from django.utils.translation import gettext_lazy as _

from .models import ClockKind, ClockState, Implementation, ImplementationStatus, Ticket, TicketClock, TicketStatus

FORMULAS = {
    "ontime_golive_pct": _(
        "Implementations whose planned go-live day fell in the window (and has passed, or was "
        "signed off) that the customer signed off by the end of that day, divided by all of them. Cancelled ones "
        "are left out."
    ),
    "response_in_sla_pct": _(
        "Response clocks of tickets opened in the window that stopped without a breach, divided by those with a "
        "verdict (stopped or breached). Cancelled tickets are left out."
    ),
    "resolution_in_sla_pct": _(
        "Resolution clocks of tickets opened in the window that stopped without a breach, divided by those with a "
        "verdict (stopped or breached). Time waiting for the customer does not count."
    ),
    "reopen_rate_pct": _(
        "Tickets opened in the window and resolved at least once that were reopened, divided by all tickets opened "
        "in the window and resolved at least once."
    ),
}


def _pct(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def service_kpis(*, start: datetime.datetime, end: datetime.datetime, on: datetime.date) -> dict[int, dict]:
    """{partner_id: {ontime_golive_pct, response_in_sla_pct, resolution_in_sla_pct, reopen_rate_pct}} (None = no data)."""
    verdict = Q(state=ClockState.STOPPED) | Q(breached_at__isnull=False)
    met = Q(state=ClockState.STOPPED, breached_at__isnull=True)
    response, resolution = Q(kind=ClockKind.RESPONSE), Q(kind=ClockKind.RESOLUTION)
    clocks = (
        TicketClock.objects.filter(started_at__gte=start, started_at__lt=end)
        .exclude(state=ClockState.CANCELLED)
        .values(partner_id=F("ticket__partner_id"))
        .annotate(
            resp_total=Count("id", filter=response & verdict),
            resp_ok=Count("id", filter=response & met),
            res_total=Count("id", filter=resolution & verdict),
            res_ok=Count("id", filter=resolution & met),
        )
        .order_by()
    )
    resolved_once = Q(resolved_at__isnull=False) | Q(reopen_count__gt=0)
    tickets = (
        Ticket.objects.filter(resolved_once, created_at__gte=start, created_at__lt=end)
        .exclude(status=TicketStatus.CANCELLED)
        .values("partner_id")
        .annotate(resolved=Count("id"), reopened=Count("id", filter=Q(reopen_count__gt=0)))
        .order_by()
    )
    first_day = start.date()
    implementations = (
        Implementation.objects.filter(planned_go_live__gte=first_day, planned_go_live__lte=on)
        .filter(Q(planned_go_live__lt=on) | Q(signed_off_at__isnull=False))
        .exclude(status=ImplementationStatus.CANCELLED)
        .values("partner_id")
        .annotate(
            due=Count("id"),
            on_time=Count("id", filter=Q(signed_off_at__isnull=False, signed_off_at__date__lte=F("planned_go_live"))),
        )
        .order_by()
    )
    out: dict[int, dict] = {}

    def row(pid):
        return out.setdefault(
            pid,
            {
                "ontime_golive_pct": None,
                "response_in_sla_pct": None,
                "resolution_in_sla_pct": None,
                "reopen_rate_pct": None,
            },
        )

    for r in clocks:
        row(r["partner_id"]).update(
            response_in_sla_pct=_pct(r["resp_ok"], r["resp_total"]),
            resolution_in_sla_pct=_pct(r["res_ok"], r["res_total"]),
        )
    for r in tickets:
        row(r["partner_id"])["reopen_rate_pct"] = _pct(r["reopened"], r["resolved"])
    for r in implementations:
        row(r["partner_id"])["ontime_golive_pct"] = _pct(r["on_time"], r["due"])
    return out
