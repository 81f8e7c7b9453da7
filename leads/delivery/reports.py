"""The monthly service report a customer gets from its responsible partner: tickets handled, SLA met, credits.

`service_report_figures` computes every (customer, partner) pair of a month in three grouped statements; the status
page shows the current month of one pair and `service_reports_send` (the 1st of each month) e-mails last month's to
the customer's contact, once per pair and month (unique row claimed with SKIP LOCKED, safe on several workers).
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from leads.models import Lead
from prm import l10n
from prm.services import connection_supports_skip_locked

from .models import (
    ClockKind,
    ClockState,
    CustomerLink,
    ServiceContract,
    ServiceCredit,
    ServiceReport,
    Ticket,
    TicketClock,
)


@dataclass
class ReportFigures:
    month: datetime.date
    opened: int = 0
    resolved: int = 0
    response_met: int = 0
    response_total: int = 0
    resolution_met: int = 0
    resolution_total: int = 0
    credits: dict = field(default_factory=dict)  # currency -> amount

    @staticmethod
    def _pct(part, whole):
        return None if not whole else round(Decimal(part) * 100 / whole, 1)

    @property
    def response_pct(self):
        return self._pct(self.response_met, self.response_total)

    @property
    def resolution_pct(self):
        return self._pct(self.resolution_met, self.resolution_total)


def month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    tz = timezone.get_default_timezone()
    first = month.replace(day=1)
    after = (first + datetime.timedelta(days=32)).replace(day=1)
    return (
        datetime.datetime.combine(first, datetime.time.min, tzinfo=tz),
        datetime.datetime.combine(after, datetime.time.min, tzinfo=tz),
    )


def service_report_figures(
    *, month: datetime.date, customer=None, partner=None
) -> dict[tuple[int, int], ReportFigures]:
    """{(customer_id, partner_id): figures} of the month: tickets opened (their clocks started) and resolved in it,
    clocks of its tickets with a verdict (met = stopped without a breach), credits booked in it."""
    start, end = month_bounds(month)
    first = month.replace(day=1)
    pair = {}
    if customer is not None:
        pair["customer"] = customer
    if partner is not None:
        pair["partner"] = partner
    out: dict[tuple[int, int], ReportFigures] = {}

    def row(c, p):
        return out.setdefault((c, p), ReportFigures(month=first))

    tickets = (
        Ticket.objects.filter(**pair)
        .filter(resolved_at__gte=start, resolved_at__lt=end)
        .values("customer_id", "partner_id")
        .annotate(resolved=Count("id"))
        .order_by()
    )
    for r in tickets:
        row(r["customer_id"], r["partner_id"]).resolved = r["resolved"]
    verdict = Q(state=ClockState.STOPPED) | Q(breached_at__isnull=False)
    met = Q(state=ClockState.STOPPED, breached_at__isnull=True)
    clocks = (
        TicketClock.objects.filter(**{f"ticket__{k}": v for k, v in pair.items()})
        .filter(started_at__gte=start, started_at__lt=end)
        .exclude(state=ClockState.CANCELLED)
        .values(cid=F("ticket__customer_id"), pid=F("ticket__partner_id"))
        .annotate(
            opened=Count("id", filter=Q(kind=ClockKind.RESPONSE)),
            resp_total=Count("id", filter=Q(kind=ClockKind.RESPONSE) & verdict),
            resp_met=Count("id", filter=Q(kind=ClockKind.RESPONSE) & met),
            res_total=Count("id", filter=Q(kind=ClockKind.RESOLUTION) & verdict),
            res_met=Count("id", filter=Q(kind=ClockKind.RESOLUTION) & met),
        )
        .order_by()
    )
    for r in clocks:
        f = row(r["cid"], r["pid"])
        f.opened = r["opened"]
        f.response_total, f.response_met = r["resp_total"], r["resp_met"]
        f.resolution_total, f.resolution_met = r["res_total"], r["res_met"]
    credits = (
        ServiceCredit.objects.filter(**{f"contract__{k}": v for k, v in pair.items()})
        .filter(occurred_on__gte=first, occurred_on__lt=end.date())
        .values("currency", cid=F("contract__customer_id"), pid=F("contract__partner_id"))
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for r in credits:
        row(r["cid"], r["pid"]).credits[r["currency"]] = r["total"]
    return out


def service_report(*, customer, partner, month: datetime.date) -> ReportFigures:
    figures = service_report_figures(month=month, customer=customer, partner=partner)
    return figures.get((customer.pk, partner.pk)) or ReportFigures(month=month.replace(day=1))


def _contact_email(customer_id: int, partner_id: int) -> str:
    """The customer's contact: the address the latest status link was shared with, else the contact of the
    partner's latest deal with the customer."""
    email = (
        CustomerLink.objects.filter(customer_id=customer_id, partner_id=partner_id)
        .exclude(email="")
        .order_by("-created_at")
        .values_list("email", flat=True)
        .first()
    )
    if email:
        return email
    return (
        Lead.objects.filter(customer_id=customer_id, partner_id=partner_id)
        .exclude(contact_email="")
        .order_by("-created_at", "-id")
        .values_list("contact_email", flat=True)
        .first()
        or ""
    )


def report_text(*, figures: ReportFigures, customer, partner) -> tuple[str, str]:
    def pct(value):
        return "—" if value is None else l10n.percent_format(value, 1)

    credits = ", ".join(l10n.money_format(amount, cur) for cur, amount in sorted(figures.credits.items())) or "—"
    subject = _("Service report %(month)s: %(partner)s") % {
        "month": l10n.month_format(figures.month),
        "partner": partner.name,
    }
    body = _(
        "Service report for %(customer)s from %(partner)s, %(month)s.\n\n"
        "Tickets opened: %(opened)s\nTickets resolved: %(resolved)s\n"
        "Answered within SLA: %(response)s\nResolved within SLA: %(resolution)s\n"
        "Service credits owed to you: %(credits)s\n"
    ) % {
        "customer": customer.name,
        "partner": partner.name,
        "month": l10n.month_format(figures.month),
        "opened": l10n.number_format(figures.opened),
        "resolved": l10n.number_format(figures.resolved),
        "response": pct(figures.response_pct),
        "resolution": pct(figures.resolution_pct),
        "credits": credits,
    }
    return subject, body


def service_reports_send(*, month: datetime.date | None = None, batch: int = 500) -> int:
    """E-mail last month's report (or `month`'s) to the contact of every customer with a service contract, once."""
    if month is None:
        month = (timezone.localdate().replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    month = month.replace(day=1)
    _start, end = month_bounds(month)
    pairs = (
        ServiceContract.objects.filter(starts_on__lt=end.date())
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=month))
        .values_list("customer_id", "partner_id")
        .distinct()
    )
    ServiceReport.objects.bulk_create(
        [ServiceReport(customer_id=c, partner_id=p, month=month) for c, p in pairs], ignore_conflicts=True
    )
    sent = 0
    while True:
        with transaction.atomic():
            qs = ServiceReport.objects.filter(month=month, sent_at__isnull=True).select_related("customer", "partner")
            if connection_supports_skip_locked():
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            claimed = list(qs.order_by("id")[:batch])
            figures = service_report_figures(month=month) if claimed else {}
            now = timezone.now()
            for report in claimed:
                report.email = _contact_email(report.customer_id, report.partner_id)
                report.sent_at = now
                if report.email:
                    f = figures.get((report.customer_id, report.partner_id)) or ReportFigures(month=month)
                    with translation.override(settings.LANGUAGE_CODE):
                        subject, body = report_text(figures=f, customer=report.customer, partner=report.partner)
                    send_mail(subject, body, None, [report.email])
                    sent += 1
            ServiceReport.objects.bulk_update(claimed, ["email", "sent_at"])
        if len(claimed) < batch:
            return sent
