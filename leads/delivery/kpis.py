"""Post-sale KPIs for the nightly run: one grouped statement per metric group, for every partner at once.

- on-time go-live: implementations whose planned go-live day falls in the window and has passed (or that were
  signed off), signed off by the end of that day;
- response / resolution within SLA: clocks started in the window that have a verdict (stopped, or breached),
  met when stopped without a breach; running and paused clocks not yet breached wait for their verdict,
  cancelled ones never count. A ticket's clocks count for its responsible partner (the liability stays there) and,
  when its on-site visit was dispatched, also for the field partner that accepted the work order, but only the
  clocks that still had no verdict when it accepted: what it could still make or break;
- reopen rate: tickets opened in the window and resolved at least once that were reopened;
- check-in score: the average of the customers' answers in the window, check-ins (30/90/180 days after go-live)
  and ratings of resolved tickets alike.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, Sum
from django.utils.translation import gettext_lazy as _

from .models import (
    CheckIn,
    ClockKind,
    ClockState,
    Implementation,
    ImplementationStatus,
    Ticket,
    TicketClock,
    TicketStatus,
)

FORMULAS = {
    "ontime_golive_pct": _(
        "Implementations whose planned go-live day fell in the window (and has passed, or was "
        "signed off) that the customer signed off by the end of that day, divided by all of them. Cancelled ones "
        "are left out."
    ),
    "response_in_sla_pct": _(
        "Response clocks of tickets opened in the window that stopped without a breach, divided by those with a "
        "verdict (stopped or breached). Cancelled tickets are left out. On-site visits you accepted from another "
        "partner count too: the clocks of their tickets that were still running when you accepted."
    ),
    "resolution_in_sla_pct": _(
        "Resolution clocks of tickets opened in the window that stopped without a breach, divided by those with a "
        "verdict (stopped or breached). Time waiting for the customer does not count. On-site visits you accepted "
        "from another partner count too: the clocks of their tickets that were still running when you accepted."
    ),
    "reopen_rate_pct": _(
        "Tickets opened in the window and resolved at least once that were reopened, divided by all tickets opened "
        "in the window and resolved at least once."
    ),
    "checkin_score": _(
        "Average of the ratings (1 to 5) customers gave in the window: check-ins 30, 90 and 180 days after go-live "
        "and the short rating after each resolved ticket, each answer counting once."
    ),
}


def _pct(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def service_kpis(*, start: datetime.datetime, end: datetime.datetime, on: datetime.date) -> dict[int, dict]:
    """{partner_id: {ontime_golive_pct, response_in_sla_pct, resolution_in_sla_pct, reopen_rate_pct, checkin_score}}
    (None = no data)."""
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
    # The field partners' share: clocks of dispatched tickets whose work order a field partner accepted, counted
    # for that partner when the clock had no verdict yet at the acceptance (leads.delivery.dispatch).
    # A ticket reopened after its visit may have several dispatches: each accepted one counts for its field partner.
    # Aliases pin one join per dispatch row (separate filter() calls on a multi-valued relation would join again).
    field_clocks = (
        TicketClock.objects.filter(started_at__gte=start, started_at__lt=end)
        .alias(
            field_partner=F("ticket__dispatches__work_order__partner_id"),
            accepted=F("ticket__dispatches__work_order__accepted_at"),
        )
        .filter(field_partner__isnull=False, accepted__isnull=False)
        .exclude(state=ClockState.CANCELLED)
        .exclude(field_partner=F("ticket__partner_id"))
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=F("accepted")))
        .filter(Q(breached_at__isnull=True) | Q(breached_at__gt=F("accepted")))
        .values(partner_id=F("field_partner"))
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
    answers: dict[int, list[int]] = {}  # partner -> [sum, count] of check-in answers and ticket ratings
    for qs in (
        CheckIn.objects.filter(answered_at__gte=start, answered_at__lt=end),
        Ticket.objects.filter(rated_at__gte=start, rated_at__lt=end),
    ):
        for r in qs.values("partner_id").annotate(total=Sum("rating"), n=Count("id")).order_by():
            acc = answers.setdefault(r["partner_id"], [0, 0])
            acc[0], acc[1] = acc[0] + (r["total"] or 0), acc[1] + r["n"]
    out: dict[int, dict] = {}

    def row(pid):
        return out.setdefault(
            pid,
            {
                "ontime_golive_pct": None,
                "response_in_sla_pct": None,
                "resolution_in_sla_pct": None,
                "reopen_rate_pct": None,
                "checkin_score": None,
            },
        )

    counts: dict[int, list[int]] = {}  # partner -> [resp_ok, resp_total, res_ok, res_total]
    for r in clocks.union(field_clocks, all=True):  # one statement for both shares
        acc = counts.setdefault(r["partner_id"], [0, 0, 0, 0])
        for i, name in enumerate(("resp_ok", "resp_total", "res_ok", "res_total")):
            acc[i] += r[name]
    for pid, (resp_ok, resp_total, res_ok, res_total) in counts.items():
        row(pid).update(
            response_in_sla_pct=_pct(resp_ok, resp_total),
            resolution_in_sla_pct=_pct(res_ok, res_total),
        )
    for r in tickets:
        row(r["partner_id"])["reopen_rate_pct"] = _pct(r["reopened"], r["resolved"])
    for r in implementations:
        row(r["partner_id"])["ontime_golive_pct"] = _pct(r["on_time"], r["due"])
    for pid, (total, n) in answers.items():
        row(pid)["checkin_score"] = (Decimal(total) / n).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return out
