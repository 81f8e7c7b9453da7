"""Channel-conflict pages: availability check, disputes, reclaimed leads."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from leads.forms.conflict import AvailabilityForm, DisputeDecisionForm, DisputeForm
from leads.models import AvailabilityResult, Dispute, DisputeStatus
from leads.selectors.conflict import (
    availability_check_list,
    dispute_get,
    dispute_is_overdue,
    dispute_list,
    dispute_sides,
    reclaim_list,
)
from leads.services.conflict import AVAILABILITY_MESSAGES, RateLimited, availability_check, dispute_decide, dispute_open
from partners.models import Partner
from prm.files import file_download
from prm.forms import apply_service_errors
from prm.permissions import SellerRequiredMixin, SignedInMixin, VendorRequiredMixin, is_vendor


def _filters(request) -> dict:
    return {k: v for k, v in request.GET.items() if v and k != "page"}


def _page(request, qs, size=50):
    return Paginator(qs, size).get_page(request.GET.get("page"))


class AvailabilityView(SellerRequiredMixin, View):
    """The page, and the htmx endpoint used by the form on this page and on the registration page."""

    def get(self, request):
        return render(request, "leads/conflict/availability.html", {"form": AvailabilityForm()})

    def post(self, request):
        htmx = request.headers.get("HX-Request") == "true"
        form = AvailabilityForm(request.POST)
        ctx, status = {"form": form}, 200
        if form.is_valid():
            try:
                check = availability_check(user=request.user, **form.cleaned_data)
            except RateLimited:
                ctx["error"] = _("Too many availability checks this hour. Please try again later.")
                status = 429 if htmx else 200
            except ValidationError as exc:
                ctx["error"] = " ".join(exc.messages)
            else:
                ctx["check"] = check
                ctx["message"] = _(AVAILABILITY_MESSAGES[check.result])
        else:
            ctx["error"] = " ".join(e for errs in form.errors.values() for e in errs)
        template = "leads/conflict/_availability_result.html" if htmx else "leads/conflict/availability.html"
        return render(request, template, ctx, status=status)


class AvailabilityLogView(VendorRequiredMixin, View):
    def get(self, request):
        filters = _filters(request)
        return render(
            request,
            "leads/conflict/availability_log.html",
            {
                "page": _page(request, availability_check_list(filters=filters)),
                "filters": filters,
                "results": AvailabilityResult.choices,
                "partners": Partner.objects.order_by("name").only("id", "name"),
            },
        )


class DisputeListView(SignedInMixin, View):
    """Partner staff: "My disputes". Vendor staff: the dispute queue (open first, by deadline)."""

    def get(self, request):
        filters = _filters(request)
        return render(
            request,
            "leads/conflict/dispute_list.html",
            {
                "page": _page(request, dispute_list(viewer=request.user, filters=filters)),
                "filters": filters,
                "statuses": DisputeStatus.choices,
            },
        )


class DisputeCreateView(SellerRequiredMixin, View):
    template = "leads/conflict/dispute_form.html"

    def get(self, request):
        initial = {"registration": request.GET.get("registration")} if request.GET.get("registration") else {}
        return render(request, self.template, {"form": DisputeForm(partner=request.user.partner, initial=initial)})

    def post(self, request):
        form = DisputeForm(request.POST, request.FILES, partner=request.user.partner)
        if not form.is_valid():
            return render(request, self.template, {"form": form})
        try:
            dispute = dispute_open(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return render(request, self.template, {"form": form})
        messages.success(request, _("Dispute opened. A channel manager will decide by the deadline shown."))
        return redirect("leads:dispute_detail", dispute.pk)


class DisputeEvidenceView(SignedInMixin, View):
    def get(self, request, pk):
        try:
            dispute = dispute_get(viewer=request.user, pk=pk)
        except Dispute.DoesNotExist as exc:
            raise Http404 from exc
        return file_download(dispute.attachment)


class DisputeDetailView(SignedInMixin, View):
    """Partner staff: their own dispute (another partner's answers 404). Vendor staff: the decision page."""

    def get(self, request, pk, form=None):
        try:
            dispute = dispute_get(viewer=request.user, pk=pk)
        except Dispute.DoesNotExist as exc:
            raise Http404 from exc
        vendor = is_vendor(request.user)
        return render(
            request,
            "leads/conflict/dispute_decide.html" if vendor else "leads/conflict/dispute_detail.html",
            {
                "dispute": dispute,
                "overdue": dispute_is_overdue(dispute),
                "sides": dispute_sides(dispute=dispute, viewer=request.user),
                "form": form or (DisputeDecisionForm() if vendor else None),
            },
        )


class DisputeDecideView(VendorRequiredMixin, View):
    def post(self, request, pk):
        try:
            dispute = Dispute.objects.get(pk=pk)
        except Dispute.DoesNotExist as exc:
            raise Http404 from exc
        form = DisputeDecisionForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                dispute_decide(
                    dispute=dispute, actor=request.user, outcome=d["outcome"], reason=d["reason"], share=d["share"]
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    apply_service_errors(form, exc)
                else:
                    form.add_error(None, exc.messages)
            else:
                messages.success(request, _("Decision applied."))
                return redirect("leads:dispute_detail", pk)
        return self._render(request, pk, form)

    def _render(self, request, pk, form):
        view = DisputeDetailView()
        view.request = request
        return view.get(request, pk, form=form)


class ReclaimListView(VendorRequiredMixin, View):
    def get(self, request):
        filters = _filters(request)
        return render(
            request,
            "leads/conflict/reclaim_list.html",
            {
                "page": _page(request, reclaim_list(filters=filters)),
                "filters": filters,
                "partners": Partner.objects.order_by("name").only("id", "name"),
            },
        )
