"""Step 2, routing: the channel-manager queue, why this partner, assign by hand, withdraw, route again."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from leads.forms.offers import AssignForm, ReasonForm
from leads.forms.routing import DecisionFilterForm
from leads.models import Lead
from leads.selectors.offers import offers_expired_recent
from leads.selectors.routing import decision_list, lead_routing_history, routing_queue
from leads.services import offers
from leads.services import routing as services
from prm.forms import apply_service_errors
from prm.pagination import CappedPaginator
from prm.permissions import VendorRequiredMixin


class RoutingQueueView(VendorRequiredMixin, View):
    """Channel managers: leads waiting in the queue, recently expired offers, recent decisions."""

    def get(self, request):
        form = DecisionFilterForm(request.GET or None)
        filters = form.filters() if request.GET else {}
        page = CappedPaginator(decision_list(viewer=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "leads/routing/queue.html",
            {
                "queue": CappedPaginator(routing_queue(viewer=request.user), 50).get_page(request.GET.get("qpage")),
                "expired": offers_expired_recent(viewer=request.user),
                "page": page,
                "form": form,
                "filters": {k: getattr(v, "pk", v) for k, v in filters.items()},
            },
        )


class LeadRoutingView(VendorRequiredMixin, View):
    """'Why this partner?': every decision with every candidate's factors, weight and credit; manual actions."""

    def context(self, request, pk, **extra):
        try:
            ctx = lead_routing_history(viewer=request.user, lead_id=pk)
        except Lead.DoesNotExist as exc:
            raise Http404 from exc
        ctx.setdefault("assign_form", AssignForm())
        ctx.setdefault("withdraw_form", ReasonForm())
        ctx.update(extra)
        return ctx

    def get(self, request, pk):
        return render(request, "leads/routing/lead_history.html", self.context(request, pk))


class LeadAssignView(LeadRoutingView):
    def post(self, request, pk):
        ctx = self.context(request, pk)
        form = AssignForm(request.POST)
        if form.is_valid():
            try:
                offers.lead_assign_manual(
                    lead=ctx["lead"], partner=form.cleaned_data["partner"], actor=request.user,
                    reason=form.cleaned_data["reason"],
                )  # fmt: skip
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Lead assigned."))
                return redirect("leads:routing_lead", pk)
        return render(request, "leads/routing/lead_history.html", self.context(request, pk, assign_form=form))


class OfferWithdrawView(LeadRoutingView):
    def post(self, request, pk):
        ctx = self.context(request, pk)
        form = ReasonForm(request.POST)
        if form.is_valid() and ctx["pending"]:
            try:
                offers.offer_withdraw(offer=ctx["pending"], actor=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Offer withdrawn; the lead is in the queue."))
                return redirect("leads:routing_lead", pk)
        elif not ctx["pending"]:
            form.add_error(None, _("There is no open offer to withdraw."))
        return render(request, "leads/routing/lead_history.html", self.context(request, pk, withdraw_form=form))


class LeadRouteAgainView(LeadRoutingView):
    """Send a queued lead through the router again (e.g. after a partner freed capacity)."""

    def post(self, request, pk):
        ctx = self.context(request, pk)
        try:
            decision = services.lead_route(lead=ctx["lead"], actor=request.user, retry=True)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if decision.chosen_id:
                messages.success(request, _("Offered to %(p)s.") % {"p": decision.chosen})
            else:
                messages.warning(request, decision.reason)
        return redirect("leads:routing_lead", pk)
