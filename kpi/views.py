from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from partners.models import Competency, Partner, TierRequirement
from prm.exports import table_download
from prm.forms import apply_service_errors
from prm.permissions import SignedInMixin, VendorRequiredMixin, is_vendor

from . import selectors
from .forms import TierLockForm, WhatIfForm
from .models import TierChangeKind
from .selectors import tiers_with_requirements
from .services import tiers as tier_services
from .services.tiers import tier_lock_release, tier_lock_set


class DashboardView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "kpi/dashboard.html", selectors.network_dashboard())


class PartnerHistoryView(VendorRequiredMixin, View):
    def get(self, request, partner_id):
        partner = get_object_or_404(Partner.objects.select_related("tier"), pk=partner_id)
        history = selectors.kpi_history(partner=partner)
        chart = {
            "labels": [s.date.isoformat() for s in history],
            "acceptance": [
                float(s.accepted_in_sla_pct) if s.accepted_in_sla_pct is not None else None for s in history
            ],
            "first_contact": [
                float(s.first_contact_in_sla_pct) if s.first_contact_in_sla_pct is not None else None for s in history
            ],
            "hygiene": [float(s.hygiene_pct) if s.hygiene_pct is not None else None for s in history],
            "score": [float(s.score) for s in history],
        }
        data = selectors.scorecard(partner=partner)
        return render(request, "kpi/partner_history.html", {**data, "history": history[::-1][:60], "chart": chart})


class TierLockView(VendorRequiredMixin, View):
    def _partner(self, partner_id):
        return get_object_or_404(Partner.objects.select_related("tier"), pk=partner_id)

    def get(self, request, partner_id):
        partner = self._partner(partner_id)
        form = TierLockForm(initial={"tier": partner.tier_id})
        return render(request, "kpi/tier_lock.html", self._context(partner, form))

    def post(self, request, partner_id):
        partner = self._partner(partner_id)
        lock = selectors.open_lock(partner=partner)
        if "release" in request.POST:
            if lock:
                tier_lock_release(lock=lock, actor=request.user)
            return redirect("kpi:partner_history", partner_id=partner.pk)
        form = TierLockForm(request.POST)
        if form.is_valid():
            try:
                tier_lock_set(partner=partner, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("kpi:partner_history", partner_id=partner.pk)
        return render(request, "kpi/tier_lock.html", self._context(partner, form))

    def _context(self, partner, form):
        return {"partner": partner, "form": form, "lock": selectors.open_lock(partner=partner)}


def _partner_param(request):
    return request.GET.get("partner") or None


class ScorecardView(SignedInMixin, View):
    def get(self, request):
        if is_vendor(request.user) and not _partner_param(request):
            return redirect("kpi:dashboard")
        partner = selectors.partner_for_viewer(viewer=request.user, partner_id=_partner_param(request))
        data = selectors.scorecard(partner=partner)
        data["form"] = _what_if_form(data, None)
        return render(request, "kpi/scorecard.html", data)


def _what_if_form(data, params):
    codes = {r.competency_id for t in data["tiers"] for r in t.requirements.all() if r.competency_id}
    competencies = Competency.objects.filter(pk__in=codes).order_by("name")
    return WhatIfForm(params, values=data["values"], competencies=competencies)


class WhatIfView(SignedInMixin, View):
    """The calculator: the same tier rule as the nightly run, applied to today's values with overrides."""

    def get(self, request):
        partner = selectors.partner_for_viewer(viewer=request.user, partner_id=_partner_param(request))
        data = selectors.scorecard(partner=partner)
        form = _what_if_form(data, request.GET)
        if form.is_valid():
            data = selectors.scorecard(partner=partner, values_override=form.overrides())
        data["form"] = form
        template = "kpi/_what_if.html" if request.headers.get("HX-Request") else "kpi/scorecard.html"
        return render(request, template, data)


class StatementView(SignedInMixin, View):
    def get(self, request):
        if is_vendor(request.user) and not _partner_param(request):
            return redirect("kpi:dashboard")
        partner = selectors.partner_for_viewer(viewer=request.user, partner_id=_partner_param(request))
        data = selectors.statement(partner=partner, month=request.GET.get("month"))
        if request.GET.get("format") == "csv":
            return _statement_csv(data)
        return render(request, "kpi/statement.html", data)


def _statement_csv(data) -> HttpResponse:
    month = data["month"].strftime("%Y-%m")
    headers = [
        _("Date"),
        _("Kind"),
        _("Deal"),
        _("Description"),
        _("Amount"),
        _("Currency"),
        _("Share %"),
        _("Rate"),
        _("Amount (reporting)"),
    ]
    rows = [
        [
            e.entry_date.isoformat(),
            e.get_kind_display(),
            e.lead_id or "",
            e.line,
            e.amount,
            e.currency,
            e.share_percent,
            e.rate if e.rate is not None else "",
            e.amount_reporting,
        ]
        for e in data["entries"]
    ]
    rows += [["", _("Total"), "", label, "", "", "", "", total] for label, total in data["by_kind"]]
    rows.append(["", _("Total"), "", "", "", "", "", "", data["total"]])
    return table_download(headers=headers, rows=rows, filename=f"statement-{data['partner'].pk}-{month}")


class TierThresholdForm(forms.Form):
    requirement = forms.IntegerField(widget=forms.HiddenInput)
    threshold = forms.DecimalField(label=gettext_lazy("Threshold"), min_value=0, max_digits=16, decimal_places=2)


PREVIEW_KINDS = [
    TierChangeKind.PROMOTION,
    TierChangeKind.WARNING,
    TierChangeKind.DEMOTION,
    TierChangeKind.WARNING_CLEARED,
    TierChangeKind.INITIAL,
]


class TierConfigView(VendorRequiredMixin, View):
    """Program configuration: tier requirements, with the impact of a new threshold shown before it is saved."""

    template_name = "kpi/tier_config.html"

    def get(self, request):
        from .configuration.views import config_history

        history = config_history(actions=("tier.requirement_changed",))
        return render(request, self.template_name, {"tiers": tiers_with_requirements(), "history": history})

    def post(self, request):
        form = TierThresholdForm(request.POST)
        context = {"tiers": tiers_with_requirements(), "form": form}
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        requirement = get_object_or_404(
            TierRequirement.objects.select_related("tier"), pk=form.cleaned_data["requirement"]
        )
        threshold = form.cleaned_data["threshold"]
        if "save" in request.POST:
            tier_services.tier_requirement_update(requirement=requirement, threshold=threshold, actor=request.user)
            messages.success(request, _("The requirement is saved and recorded in the audit trail."))
            return redirect("kpi:tier_config")
        impact = tier_services.tier_requirement_impact(requirement=requirement, threshold=threshold)
        rows = [
            (kind.value, kind.label, impact["now"].get(kind.value, 0), impact["proposed"].get(kind.value, 0))
            for kind in PREVIEW_KINDS
        ]
        context.update(requirement=requirement, threshold=threshold, impact=impact, rows=rows)
        return render(request, self.template_name, context)
