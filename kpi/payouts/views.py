import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from prm.exports import table_download
from prm.forms import apply_service_errors
from prm.permissions import SignedInMixin, VendorRequiredMixin, is_vendor

from ..models import EntryKind, StatementStatus
from . import selectors
from .forms import AdjustmentForm, CloseMonthForm, PayForm
from .services import (
    KIND_COLUMNS,
    commission_adjust,
    payout_hold_days,
    statement_approve,
    statement_close,
    statement_pay,
)


def _period(value: str | None) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        return None


def _detail(request, statement, pay_form) -> dict:
    """A statement's frozen figures, each linking to the entries behind it (`?kind=`)."""
    kind = request.GET.get("kind")
    figures = [
        (entry_kind, EntryKind(entry_kind).label, getattr(statement, column))
        for entry_kind, column in KIND_COLUMNS.items()
    ]
    return {
        "statement": statement,
        "figures": figures,
        "kind": kind if kind in EntryKind.values else "",
        "entries": selectors.statement_entries(partner=statement.partner, period=statement.period, kind=kind),
        "pay_form": pay_form,
        "service_credits": _credits(statement),
    }


class StatementListView(SignedInMixin, View):
    """Partner: its statements with status and the open period. Vendor: statements to approve and pay."""

    def get(self, request, close_form=None, status_code=200):
        qs = selectors.statements_visible(viewer=request.user)
        status = request.GET.get("status")
        if status in StatementStatus.values:
            qs = qs.filter(status=status)
        period = _period(request.GET.get("period"))
        if period:
            qs = qs.filter(period=period)
        ctx = {"statements": qs[:200], "status": status, "period": period, "statuses": StatementStatus.choices}
        if is_vendor(request.user):
            ctx["close_form"] = close_form or CloseMonthForm()
        else:
            ctx["open"] = selectors.open_period(partner=request.user.partner)
        return render(request, "kpi/payouts/statements.html", ctx, status=status_code)


class StatementCloseView(VendorRequiredMixin, View):
    """Close a month for every partner now (the same rule as the monthly job); closing it again changes nothing."""

    def post(self, request):
        form = CloseMonthForm(request.POST)
        if form.is_valid():
            try:
                created = statement_close(period=form.cleaned_data["period"], actor=request.user)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                period = form.cleaned_data["period"]
                messages.success(
                    request,
                    ngettext(
                        "%(month)s closed: %(n)s statement created.",
                        "%(month)s closed: %(n)s statements created.",
                        created,
                    )
                    % {"month": date_format(period, "YEAR_MONTH_FORMAT"), "n": created},
                )
                return redirect(f"{reverse('kpi:payouts:statements')}?period={period:%Y-%m}")
        return StatementListView().get(request, close_form=form, status_code=400)


class StatementDetailView(SignedInMixin, View):
    def get(self, request, pk):
        statement = get_object_or_404(selectors.statements_visible(viewer=request.user), pk=pk)
        return render(request, "kpi/payouts/statement_detail.html", _detail(request, statement, PayForm()))


class OpenPeriodView(SignedInMixin, View):
    def get(self, request):
        if is_vendor(request.user):
            raise Http404
        partner = request.user.partner
        kind = request.GET.get("kind")
        hold_days = payout_hold_days(partner=partner)
        # Each entry carries the month whose statement pays it, decided when it was booked.
        entries = selectors.statement_entries(partner=partner, kind=kind)
        ctx = {
            "entries": entries,
            "open_view": True,
            "kind": kind if kind in EntryKind.values else "",
            **selectors.open_period(partner=partner),
            "hold_days": hold_days,
        }
        return render(request, "kpi/payouts/open_period.html", ctx)


class StatementApproveView(VendorRequiredMixin, View):
    def post(self, request, pk):
        statement = get_object_or_404(selectors.statements_visible(viewer=request.user), pk=pk)
        statement_approve(statement=statement, actor=request.user)
        messages.success(request, _("Statement approved."))
        return redirect("kpi:payouts:statement_detail", pk=pk)


class StatementPayView(VendorRequiredMixin, View):
    def post(self, request, pk):
        statement = get_object_or_404(selectors.statements_visible(viewer=request.user), pk=pk)
        form = PayForm(request.POST)
        if form.is_valid():
            try:
                statement_pay(statement=statement, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Statement marked paid."))
                return redirect("kpi:payouts:statement_detail", pk=pk)
        return render(request, "kpi/payouts/statement_detail.html", _detail(request, statement, form), status=400)


class PayoutExportView(VendorRequiredMixin, View):
    """The approved payout batch of a month for accounting, CSV or XLSX."""

    def get(self, request):
        period = _period(request.GET.get("period"))
        if period is None:
            raise Http404
        rows = [
            [
                s.partner.name,
                s.partner.tax_id,
                s.period.strftime("%Y-%m"),
                s.total,
                s.currency,
                "" if s.payout_total is None else s.payout_total,
                s.payout_currency if s.payout_total is not None else "",
                s.pk,
            ]
            for s in selectors.payout_batch(period=period)
        ]
        headers = [
            _("Partner"),
            _("Tax ID"),
            _("Period"),
            _("Amount"),
            _("Currency"),
            _("Amount in the partner's currency"),
            _("Partner's currency"),
            _("Statement"),
        ]
        fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
        return table_download(headers=headers, rows=rows, filename=f"payouts-{period:%Y-%m}", fmt=fmt)


class AdjustmentView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "kpi/payouts/adjust.html", {"form": AdjustmentForm(initial=request.GET)})

    def post(self, request):
        form = AdjustmentForm(request.POST)
        if form.is_valid():
            try:
                commission_adjust(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Adjustment booked in the open period."))
                return redirect("kpi:payouts:statements")
        return render(request, "kpi/payouts/adjust.html", {"form": form}, status=400)


def _credits(statement):
    from leads.delivery.selectors import service_credits_of_month

    first = statement.period
    return service_credits_of_month(
        partner=statement.partner, first=first, nxt=(first + datetime.timedelta(days=32)).replace(day=1)
    )
