"""Pages for lead routing: the partner's offer inbox, the channel-manager queue, intake and routing history."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views import View

from leads import routing_selectors as selectors
from leads.models import Lead, Offer, OfferStatus
from leads.routing_forms import AssignForm, DecisionFilterForm, DeclineForm, ImportForm, LeadForm, ReasonForm
from leads.services import routing as services
from prm.forms import apply_service_errors
from prm.permissions import SellerRequiredMixin, SignedInMixin, VendorRequiredMixin


def _form_error(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            for e in errors:
                form.add_error(name if name in form.fields else None, e)
    else:
        apply_service_errors(form, exc)


class OfferListView(SignedInMixin, View):
    """Partner inbox: open offers with a live countdown, plus answered ones."""

    def get(self, request):
        status = request.GET.get("status") or OfferStatus.PENDING
        page = Paginator(selectors.offer_list(viewer=request.user, filters={"status": status}), 50).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "leads/routing/offer_list.html",
            {
                "page": page,
                "filters": {"status": status},
                "statuses": [("all", _("All")), *OfferStatus.choices],
                "decline_form": DeclineForm(),
            },
        )


class _OfferActionView(SellerRequiredMixin, View):
    def get_offer(self, request, pk) -> Offer:
        try:
            return selectors.offer_get(viewer=request.user, pk=pk)
        except Offer.DoesNotExist as exc:
            raise Http404 from exc


class OfferAcceptView(_OfferActionView):
    def post(self, request, pk):
        offer = self.get_offer(request, pk)
        try:
            lead = services.offer_accept(offer=offer, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("leads:offer_list")
        messages.success(request, _("Lead accepted. Please contact the customer."))
        return redirect("leads:deal_detail", lead.pk)


class OfferDeclineView(_OfferActionView):
    def get(self, request, pk):
        offer = self.get_offer(request, pk)
        return render(request, "leads/routing/offer_decline.html", {"offer": offer, "form": DeclineForm()})

    def post(self, request, pk):
        offer = self.get_offer(request, pk)
        form = DeclineForm(request.POST)
        if form.is_valid():
            try:
                services.offer_decline(offer=offer, user=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Offer declined."))
                return redirect("leads:offer_list")
        return render(request, "leads/routing/offer_decline.html", {"offer": offer, "form": form})


class RecentPaginator(Paginator):
    """Pages through the newest rows without counting all of them (millions of routing decisions at scale): the
    count stops at CAP, so the pager reaches the newest CAP rows; filters narrow down to older ones."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list[: self.CAP].count()


class RoutingQueueView(VendorRequiredMixin, View):
    """Channel managers: leads waiting in the queue, recently expired offers, recent decisions."""

    def get(self, request):
        form = DecisionFilterForm(request.GET or None)
        filters = form.filters() if request.GET else {}
        page = RecentPaginator(selectors.decision_list(viewer=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "leads/routing/queue.html",
            {
                "queue": selectors.routing_queue(viewer=request.user)[:200],
                "expired": selectors.offers_expired_recent(viewer=request.user),
                "page": page,
                "form": form,
                "filters": {k: getattr(v, "pk", v) for k, v in filters.items()},
            },
        )


class LeadRoutingView(VendorRequiredMixin, View):
    """'Why this partner?': every decision with every candidate's factors, weight and credit; manual actions."""

    def context(self, request, pk, **extra):
        try:
            ctx = selectors.lead_routing_history(viewer=request.user, lead_id=pk)
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
                services.lead_assign_manual(
                    lead=ctx["lead"], partner=form.cleaned_data["partner"], actor=request.user,
                    reason=form.cleaned_data["reason"],
                )  # fmt: skip
            except ValidationError as exc:
                _form_error(form, exc)
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
                services.offer_withdraw(offer=ctx["pending"], actor=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                _form_error(form, exc)
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


class LeadCreateView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "leads/routing/lead_form.html", {"form": LeadForm()})

    def post(self, request):
        form = LeadForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                lead = services.lead_create(
                    title=d["title"], customer_name=d["customer_name"], customer_tax_id=d["customer_tax_id"],
                    customer_domain=d["customer_domain"], kind=d["kind"], region=d["region"],
                    competencies=d["competencies"], value=d["value"] or 0, currency=d["currency"],
                    contact_name=d["contact_name"], contact_email=d["contact_email"],
                    contact_phone=d["contact_phone"], products=d["products"], notes=d["notes"], actor=request.user,
                )  # fmt: skip
            except ValidationError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Lead created and routed."))
                return redirect("leads:routing_lead", lead.pk)
        return render(request, "leads/routing/lead_form.html", {"form": form})


class LeadImportView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "leads/routing/import.html", {"form": ImportForm()})

    def post(self, request):
        form = ImportForm(request.POST, request.FILES)
        result = None
        if form.is_valid():
            result = services.leads_import_csv(data=form.cleaned_data["file"].read(), actor=request.user)
        return render(request, "leads/routing/import.html", {"form": form, "result": result})
