from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from leads.customers import customer_matched_message
from leads.forms.registration import DealRegistrationForm, DecisionForm, WithdrawForm
from leads.models import Registration, RegistrationStatus
from leads.selectors.registration import registration_list, registration_review_queue
from leads.services.registration import (
    CustomerData,
    DealData,
    deal_register,
    registration_approve,
    registration_reject,
    registration_withdraw,
)
from partners.selectors import partner_choices
from prm.forms import apply_service_errors
from prm.pagination import CappedPaginator
from prm.permissions import SellerRequiredMixin, SignedInMixin, VendorRequiredMixin, is_vendor

CUSTOMER_FIELDS = ("customer_name", "tax_id", "website", "region", "industry", "size")


class DealRegisterView(SellerRequiredMixin, View):
    template = "leads/registration/deal_register.html"

    def get(self, request):
        return render(request, self.template, {"form": DealRegistrationForm()})

    def post(self, request):
        form = DealRegistrationForm(request.POST)
        if not form.is_valid():
            return render(request, self.template, {"form": form})
        d = form.cleaned_data
        try:
            registration = deal_register(
                partner=request.user.partner,
                submitted_by=request.user,
                customer=CustomerData(
                    name=d["customer_name"],
                    tax_id=d["tax_id"],
                    website=d["website"],
                    email=d["contact_email"],
                    region=d["region"],
                    industry=d["industry"],
                    size=d["size"],
                ),
                deal=DealData(**{k: d[k] for k in DealData.__dataclass_fields__}),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return render(request, self.template, {"form": form})
        level = {
            RegistrationStatus.APPROVED: messages.SUCCESS,
            RegistrationStatus.PENDING_REVIEW: messages.INFO,
        }.get(registration.status, messages.ERROR)
        messages.add_message(
            request, level, f"{registration.get_status_display()}: {registration.decision_reason_text}"
        )
        if registration.customer_matched_by:
            messages.info(
                request, customer_matched_message(lead=registration.lead, matched_by=registration.customer_matched_by)
            )
        return redirect("leads:deal_detail", registration.lead_id)


class RegistrationListView(SignedInMixin, View):
    """Partner staff: "My registrations". Vendor staff: every registration, filterable by partner."""

    def get(self, request):
        filters = {k: v for k, v in request.GET.items() if v and k != "page"}
        page = CappedPaginator(registration_list(viewer=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "leads/registration/registration_list.html",
            {
                "page": page,
                "filters": filters,
                "statuses": RegistrationStatus.choices,
                "partners": partner_choices() if is_vendor(request.user) else [],
            },
        )


class ReviewQueueView(VendorRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "leads/registration/registration_review.html",
            {"page": (page := registration_review_queue(page=request.GET.get("page"))), "pending": page},
        )


class RegistrationDecideView(VendorRequiredMixin, View):
    def post(self, request, pk):
        try:
            registration = Registration.objects.get(pk=pk)
        except Registration.DoesNotExist as exc:
            raise Http404 from exc
        form = DecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose approve or reject and give a reason."))
            return redirect("leads:registration_review")
        decide = registration_approve if form.cleaned_data["decision"] == "approve" else registration_reject
        try:
            decide(registration=registration, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Decision saved: %(deal)s.") % {"deal": registration.lead.title})
        return redirect("leads:registration_review")


class RegistrationWithdrawView(SellerRequiredMixin, View):
    """The registering partner gives up its claim on the customer (leads.services.registration_withdraw)."""

    def post(self, request, pk):
        registration = registration_list(viewer=request.user).filter(lead_id=pk).first()
        if registration is None:
            raise Http404
        form = WithdrawForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Say why you withdraw the registration."))
            return redirect("leads:deal_detail", pk)
        try:
            registration_withdraw(registration=registration, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Registration withdrawn. The customer is no longer protected for you."))
        return redirect("leads:deal_detail", pk)
