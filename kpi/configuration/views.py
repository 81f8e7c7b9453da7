"""Program configuration for channel managers (issue 17, item 7): SLA policies, registration policies, routing
weights and exchange rates next to the tier thresholds (kpi.views.TierConfigView). Each page translates the form
into one service call; where a change alters outcomes it shows the impact first, computed by the rule itself."""

import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from kpi.services import rates as rate_services
from leads.services import policies
from leads.services.routing import routing_weights_current
from partners.models import Metric, ProgramModel, SlaPolicy
from prm import l10n
from prm.forms import apply_service_errors
from prm.models import AuditEvent
from prm.permissions import VendorRequiredMixin

from .forms import ExchangeRateForm, RegistrationPolicyForm, RoutingWeightsForm, SlaPolicyForm

CONFIG_ACTIONS = (
    "tier.requirement_changed",
    "sla_policy.created",
    "sla_policy.changed",
    "registration_policy.changed",
    "routing.weights_changed",
    "exchange_rate.added",
)
FORMS = (SlaPolicyForm, RegistrationPolicyForm, RoutingWeightsForm, ExchangeRateForm)


def _field_label(name: str) -> str:
    for form in FORMS:
        if name in form.base_fields:
            return str(form.base_fields[name].label)
    return name


def _shown(value):
    """A stored value in the reader's format: numbers and dates as everywhere else, other text as it is."""
    if value in (None, ""):
        return None
    try:
        return l10n.number_format(Decimal(value))
    except (InvalidOperation, TypeError, ValueError):
        pass
    try:
        return l10n.date_format(datetime.date.fromisoformat(value))
    except (TypeError, ValueError):
        return value


def config_history(*, actions=CONFIG_ACTIONS, limit: int = 20) -> list[AuditEvent]:
    """The newest configuration changes, each with `changes` as (label, from, to) in the reader's language."""
    events = list(AuditEvent.objects.filter(action__in=actions).select_related("actor").order_by("-at", "-id")[:limit])
    for event in events:
        data = event.data or {}
        if "changes" in data:
            event.changes = [
                (_field_label(k), _shown(v.get("from")), _shown(v.get("to"))) for k, v in data["changes"].items()
            ]
        elif "from" in data:
            label = Metric(data["metric"]).label if data.get("metric") in Metric.values else _("Threshold")
            event.changes = [(label, _shown(data["from"]), _shown(data["to"]))]
        elif event.action == "exchange_rate.added":
            event.changes = [(data.get("currency", ""), _shown(data.get("valid_from")), _shown(data.get("rate")))]
        else:
            event.changes = []
    return events


class ConfigurationView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "kpi/configuration/index.html", {"history": config_history()})


def _values(form) -> dict:
    return dict(form.cleaned_data)


def _preview_or_save(request, *, form, page, save, preview, saved, to, save_now=False):
    """The configuration pages' one flow: a valid form is previewed (its impact, computed by the rule the system
    uses) or, with "save", saved through the service and audited; bad input or a service's refusal is the form
    again with field errors (400), nothing saved."""
    if not form.is_valid():
        return page(status=400)
    try:
        if save_now or "save" in request.POST:
            save()
            messages.success(request, saved)
            return redirect(to)
        impact = preview()
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return page(status=400)
    return page(impact=impact)


# --- SLA policies ----------------------------------------------------------------------------------------------


class SlaPolicyListView(VendorRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "kpi/configuration/sla_list.html",
            {
                "policies": SlaPolicy.objects.annotate(partners=Count("partner", distinct=True)).order_by("pk"),
                "default": policies.sla_policy_default(),
                "history": config_history(actions=("sla_policy.created", "sla_policy.changed")),
            },
        )


class SlaPolicyEditView(VendorRequiredMixin, View):
    """New policy (pk=None): saved at once. A change: preview of the overdue work first, then save."""

    template_name = "kpi/configuration/sla_edit.html"

    def _policy(self, pk):
        return get_object_or_404(SlaPolicy, pk=pk) if pk else None

    def get(self, request, pk=None):
        policy = self._policy(pk)
        initial = {f: getattr(policy, f) for f in policies.SLA_FIELDS} if policy else {"penalty_currency": "RUB"}
        if not policy:
            initial.update(accept_within_hours=4, first_contact_within_hours=8, deal_update_days=14,
                           working_hours_start="09:00", working_hours_end="18:00", penalty_per_breach=0)  # fmt: skip
        return render(request, self.template_name, {"policy": policy, "form": SlaPolicyForm(initial=initial)})

    def post(self, request, pk=None):
        policy = self._policy(pk)
        form = SlaPolicyForm(request.POST)
        return _preview_or_save(
            request,
            form=form,
            page=lambda status=200, **extra: render(
                request, self.template_name, {"policy": policy, "form": form, **extra}, status=status
            ),
            save=lambda: policies.sla_policy_save(policy=policy, values=_values(form), actor=request.user),
            preview=lambda: policies.sla_policy_impact(policy=policy, values=_values(form)),
            saved=_("The SLA policy is saved and recorded in the audit trail."),
            to="kpi:config_sla",
            save_now=policy is None,  # a new policy changes nothing yet: nothing to preview
        )


# --- Registration policies -------------------------------------------------------------------------------------


class RegistrationPolicyListView(VendorRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "kpi/configuration/registration_list.html",
            {
                "policies": policies.registration_policies(),
                "history": config_history(actions=("registration_policy.changed",)),
            },
        )


class RegistrationPolicyEditView(VendorRequiredMixin, View):
    template_name = "kpi/configuration/registration_edit.html"

    def _policy(self, program_model):
        if program_model not in ProgramModel.values:
            raise Http404
        return policies.registration_policy_for(program_model=program_model)

    def get(self, request, program_model):
        policy = self._policy(program_model)
        form = RegistrationPolicyForm(initial={f: getattr(policy, f) for f in policies.REGISTRATION_FIELDS})
        return render(request, self.template_name, {"policy": policy, "form": form})

    def post(self, request, program_model):
        policy = self._policy(program_model)
        form = RegistrationPolicyForm(request.POST)
        return _preview_or_save(
            request,
            form=form,
            page=lambda status=200, **extra: render(
                request, self.template_name, {"policy": policy, "form": form, **extra}, status=status
            ),
            save=lambda: policies.registration_policy_save(
                program_model=program_model, values=_values(form), actor=request.user
            ),
            preview=lambda: policies.registration_policy_impact(program_model=program_model, values=_values(form)),
            saved=_("The registration policy is saved and recorded in the audit trail."),
            to="kpi:config_registration",
        )


# --- Routing weights -------------------------------------------------------------------------------------------


class RoutingWeightsView(VendorRequiredMixin, View):
    template_name = "kpi/configuration/routing_weights.html"

    def _context(self, form, **extra):
        return {
            "form": form,
            "history": config_history(actions=("routing.weights_changed",)),
            **extra,
        }

    def get(self, request):
        current = routing_weights_current()
        form = RoutingWeightsForm(initial={f: getattr(current, f) for f in policies.WEIGHT_FIELDS})
        return render(request, self.template_name, self._context(form))

    def post(self, request):
        form = RoutingWeightsForm(request.POST)
        return _preview_or_save(
            request,
            form=form,
            page=lambda status=200, **extra: render(
                request, self.template_name, self._context(form, **extra), status=status
            ),
            save=lambda: policies.routing_weights_update(values=_values(form), actor=request.user),
            preview=lambda: policies.routing_weights_impact(values=_values(form)),
            saved=_("The routing weights are saved and recorded in the audit trail."),
            to="kpi:config_routing",
        )


# --- Exchange rates --------------------------------------------------------------------------------------------


class ExchangeRateView(VendorRequiredMixin, View):
    template_name = "kpi/configuration/rates.html"

    def _context(self, form, **extra):
        return {
            "form": form,
            "rates": rate_services.exchange_rate_list(),
            "reporting_currency": settings.PRM_REPORTING_CURRENCY,
            "history": config_history(actions=("exchange_rate.added",)),
            **extra,
        }

    def get(self, request):
        return render(request, self.template_name, self._context(ExchangeRateForm()))

    def post(self, request):
        form = ExchangeRateForm(request.POST)
        return _preview_or_save(
            request,
            form=form,
            page=lambda status=200, **extra: render(
                request, self.template_name, self._context(form, **extra), status=status
            ),
            save=lambda: rate_services.exchange_rate_add(**form.cleaned_data, actor=request.user),
            preview=lambda: rate_services.exchange_rate_impact(**form.cleaned_data),
            saved=_("The exchange rate is added and recorded in the audit trail."),
            to="kpi:config_rates",
        )
