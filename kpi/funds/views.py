from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from leads.models import Lead
from prm.files import file_download
from prm.forms import apply_service_errors
from prm.permissions import PartnerRequiredMixin, SignedInMixin, VendorRequiredMixin, is_vendor, scope_for

from . import selectors, services
from .forms import (
    AllocationForm,
    AllocationRuleForm,
    BudgetForm,
    ClaimForm,
    DecisionForm,
    FundRequestForm,
    LeadLinkForm,
)
from .models import Budget, FundClaim, FundRequestStatus


def _call(form, service, **kwargs) -> bool:
    """Run a service; its ValidationError lands on the form and nothing changes."""
    try:
        service(**kwargs)
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return False
    return True


class FundsHomeView(SignedInMixin, View):
    """Partner: balances, requests and claims. Channel manager: budget use, approval queue with ageing, ROI."""

    def get(self, request):
        if is_vendor(request.user):
            group = request.GET.get("roi_by", "request")
            ctx = {
                "budgets": selectors.budget_use(),
                **selectors.approval_queue(),
                "roi": selectors.fund_roi(group_by=group),
                "roi_by": group,
                "budget_form": BudgetForm(),
            }
            return render(request, "kpi/funds/vendor_home.html", ctx)
        ctx = selectors.partner_funds(partner=request.user.partner)
        ctx["form"] = FundRequestForm(partner=request.user.partner)
        return render(request, "kpi/funds/partner_home.html", ctx)


class BudgetCreateView(VendorRequiredMixin, View):
    def post(self, request):
        form = BudgetForm(request.POST)
        if form.is_valid() and _call(form, services.budget_create, actor=request.user, **form.cleaned_data):
            messages.success(request, _("Budget created."))
            return redirect("kpi:funds:home")
        ctx = {"budgets": selectors.budget_use(), **selectors.approval_queue(), "roi": [], "budget_form": form}
        return render(request, "kpi/funds/vendor_home.html", ctx, status=400)


class BudgetDetailView(VendorRequiredMixin, View):
    def get(self, request, pk, forms=None):
        budget = get_object_or_404(Budget, pk=pk)
        forms = forms or {}
        ctx = {
            "budget": budget,
            "allocations": budget.allocations.select_related("partner").order_by("partner__name"),
            "allocation_form": forms.get("allocation") or AllocationForm(),
            "rule_form": forms.get("rule") or AllocationRuleForm(),
        }
        return render(request, "kpi/funds/budget_detail.html", ctx, status=400 if forms else 200)

    def post(self, request, pk):
        budget = get_object_or_404(Budget, pk=pk)
        if "amount_each" in request.POST:
            form, key = AllocationRuleForm(request.POST), "rule"
            ok = form.is_valid() and _call(
                form, services.allocations_by_rule, budget=budget, actor=request.user, **form.cleaned_data
            )
        else:
            form, key = AllocationForm(request.POST), "allocation"
            ok = form.is_valid() and _call(
                form, services.allocation_set, budget=budget, actor=request.user, **form.cleaned_data
            )
        if ok:
            messages.success(request, _("Allocated."))
            return redirect("kpi:funds:budget_detail", pk=pk)
        return self.get(request, pk, forms={key: form})


class RequestCreateView(PartnerRequiredMixin, View):
    def post(self, request):
        partner = request.user.partner
        form = FundRequestForm(request.POST, partner=partner)
        if form.is_valid() and _call(form, services.fund_request_submit, actor=request.user, **form.cleaned_data):
            messages.success(request, _("Request sent to the vendor."))
            return redirect("kpi:funds:home")
        ctx = {**selectors.partner_funds(partner=partner), "form": form}
        return render(request, "kpi/funds/partner_home.html", ctx, status=400)


class RequestDetailView(SignedInMixin, View):
    def _request(self, request, pk):
        return get_object_or_404(selectors.fund_requests_visible(viewer=request.user), pk=pk)

    def get(self, request, pk, forms=None):
        fund_request = self._request(request, pk)
        forms = forms or {}
        claim = getattr(fund_request, "claim", None)
        ctx = {
            "fr": fund_request,
            "claim": claim,
            "deals": fund_request.leads.order_by("-id")[:100],
            "decision_form": forms.get("decision") or DecisionForm(),
            "claim_form": forms.get("claim") or ClaimForm(),
            "link_form": forms.get("link") or LeadLinkForm(),
            "can_claim": not is_vendor(request.user)
            and fund_request.status == FundRequestStatus.APPROVED
            and not claim,
        }
        return render(request, "kpi/funds/request_detail.html", ctx, status=400 if forms else 200)

    def post(self, request, pk):
        fund_request = self._request(request, pk)
        action = request.POST.get("action")
        if action in ("decide_request", "decide_claim"):
            if not is_vendor(request.user):
                raise PermissionDenied
            form = DecisionForm(request.POST)
            if action == "decide_request":
                service, target = services.fund_request_decide, {"request": fund_request}
            else:
                service, target = (
                    services.fund_claim_decide,
                    {"claim": get_object_or_404(FundClaim, request=fund_request)},
                )
            ok = form.is_valid() and _call(
                form,
                service,
                actor=request.user,
                approve=form.cleaned_data["decision"] == "approve",
                approved_amount=form.cleaned_data["approved_amount"],
                reason=form.cleaned_data["reason"],
                **target,
            )
            key = "decision"
        elif action == "claim":
            form, key = ClaimForm(request.POST, request.FILES), "claim"
            ok = form.is_valid() and _call(
                form, services.fund_claim_submit, actor=request.user, request=fund_request, **form.cleaned_data
            )
        elif action == "link":
            form, key = LeadLinkForm(request.POST), "link"
            ok = False
            if form.is_valid():
                lead = scope_for(Lead.objects.all(), request.user).filter(pk=form.cleaned_data["lead"]).first()
                if lead is None:
                    form.add_error("lead", _("No such deal of yours."))
                else:
                    ok = _call(form, services.lead_fund_link, actor=request.user, lead=lead, fund_request=fund_request)
        else:
            return redirect("kpi:funds:request_detail", pk=pk)
        if ok:
            messages.success(request, _("Saved."))
            return redirect("kpi:funds:request_detail", pk=pk)
        return self.get(request, pk, forms={key: form})


class ClaimProofView(SignedInMixin, View):
    def get(self, request, pk):
        claim = get_object_or_404(selectors.fund_claims_visible(viewer=request.user), pk=pk)
        return file_download(claim.proof)
