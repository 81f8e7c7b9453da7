"""The partner pages that show cross-app figures: a partner's page (pipeline, tier history, resellers, training
readiness) with the forms posted from it (status, tier, account manager, contact), and the public locator with its
post-sale figures. Composed here, above partners, leads, training and kpi; the URLs keep the `partners:` names
(portal.partner_urls). The manual tier change calls kpi's tier service, the one home of tier writes."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from kpi.models import TierChangeKind
from kpi.services.tiers import tier_change
from partners import forms
from partners import selectors as partner_selectors
from partners import services as partner_services
from partners.models import Competency, Industry, Partner, PartnerType, ProgramModel, Region
from partners.views import can_edit_contacts, filters_of, partner_for
from prm.forms import apply_service_errors
from prm.permissions import SignedInMixin, VendorRequiredMixin, is_partner_admin, is_vendor
from prm.services import audit_trail

from . import partner_selectors as selectors


def _render_detail(request, partner: Partner, *, status: int = 200, **bound_forms):
    user = request.user
    context = {
        "partner": partner,
        "audit": audit_trail(target=partner),
        "readiness": partner_selectors.partner_onboarding_readiness(partner=partner),
        "certifications": partner_selectors.partner_certifications(partner=partner),
        "agreement": partner_selectors.partner_agreement(partner=partner),
        "pipeline": selectors.partner_pipeline_summary(partner=partner),
        "tier_history": selectors.partner_tier_history(partner=partner),
        "resellers": (
            selectors.reseller_pipeline(distributor=partner)
            if partner.program_model == ProgramModel.DISTRIBUTOR
            else None
        ),
        "can_edit_contacts": can_edit_contacts(user, partner),
        # Read-only here for channel managers and colleagues; partner admins manage it on the team page.
        "team": partner_selectors.partner_team(partner=partner),
        "can_manage_team": is_partner_admin(user) and user.partner_id == partner.pk,
        "is_vendor_viewer": is_vendor(user),
        "contact_form": bound_forms.get("contact_form") or forms.ContactForm(),
    }
    if is_vendor(user):
        context |= {
            "status_form": bound_forms.get("status_form") or forms.StatusChangeForm(partner=partner),
            "agreement_form": bound_forms.get("agreement_form") or forms.AgreementForm(partner=partner),
            "tier_form": bound_forms.get("tier_form") or forms.TierSetForm(initial={"tier": partner.tier_id}),
            "manager_form": bound_forms.get("manager_form")
            or forms.AccountManagerForm(initial={"account_manager": partner.account_manager_id}),
        }
    return render(request, "partners/detail.html", context, status=status)


class PartnerDetailView(SignedInMixin, View):
    def get(self, request, pk):
        return _render_detail(request, partner_for(request, pk))


class StatusChangeView(VendorRequiredMixin, View):
    def post(self, request, pk):
        partner = partner_for(request, pk)
        form = forms.StatusChangeForm(request.POST, partner=partner)
        agreement_form = forms.AgreementForm(request.POST, partner=partner)
        if form.is_valid() and agreement_form.is_valid():
            try:
                partner_services.partner_status_change(
                    partner=partner,
                    to_status=form.cleaned_data["to_status"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    agreement_terms=agreement_form.terms(),
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Status changed."))
                return redirect("partners:detail", pk=pk)
        return _render_detail(request, partner, status_form=form, agreement_form=agreement_form)


class TierSetView(VendorRequiredMixin, View):
    def post(self, request, pk):
        partner = partner_for(request, pk)
        form = forms.TierSetForm(request.POST)
        if form.is_valid():
            try:
                tier_change(
                    partner=partner,
                    to_tier=form.cleaned_data["tier"],
                    kind=TierChangeKind.MANUAL,
                    actor=request.user,
                    note=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Tier changed."))
                return redirect("partners:detail", pk=pk)
        return _render_detail(request, partner, tier_form=form)


class AccountManagerView(VendorRequiredMixin, View):
    def post(self, request, pk):
        partner = partner_for(request, pk)
        form = forms.AccountManagerForm(request.POST)
        if form.is_valid():
            try:
                partner_services.partner_account_manager_set(
                    partner=partner,
                    account_manager=form.cleaned_data["account_manager"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Account manager changed."))
                return redirect("partners:detail", pk=pk)
        return _render_detail(request, partner, manager_form=form)


class ContactSetView(SignedInMixin, View):
    def post(self, request, pk):
        partner = partner_for(request, pk)
        if not can_edit_contacts(request.user, partner):
            raise PermissionDenied
        form = forms.ContactForm(request.POST)
        if form.is_valid():
            try:
                partner_services.partner_contact_set(partner=partner, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Contact saved."))
                return redirect("partners:detail", pk=pk)
        return _render_detail(request, partner, contact_form=form)


class LocatorView(View):
    """Public partner locator."""

    def get(self, request):
        filters = filters_of(request)
        page = Paginator(selectors.locator_list(filters=filters), 30).get_page(request.GET.get("page"))
        return render(
            request,
            "partners/locator.html",
            {
                "page": page,
                "filters": filters,
                "regions": Region.objects.all(),
                "competencies": Competency.objects.all(),
                "industries": Industry.objects.all(),
                "types": PartnerType.choices,
            },
        )


class PublicProfileView(View):
    def get(self, request, pk):
        try:
            partner = selectors.locator_get(pk=pk)
        except Partner.DoesNotExist as exc:
            raise Http404 from exc
        return render(
            request,
            "partners/public_profile.html",
            {"partner": partner, "reviews": partner_selectors.partner_published_reviews(partner=partner)},
        )
