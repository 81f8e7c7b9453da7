from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from prm.forms import apply_service_errors
from prm.models import VENDOR_ROLES, User
from prm.pagination import CappedPaginator
from prm.permissions import (
    PartnerAdminRequiredMixin,
    PartnerRequiredMixin,
    SignedInMixin,
    VendorRequiredMixin,
    is_partner_admin,
    is_vendor,
)

from . import forms, selectors, services
from .models import (
    Competency,
    CustomerReview,
    Partner,
    PartnerStatus,
    PartnerType,
    ProgramModel,
    Region,
    Tier,
)


def filters_of(request) -> dict:
    return {k: v for k, v in request.GET.items() if v and k != "page"}


def partner_for(request, pk: int) -> Partner:
    """The partner as the viewer may see it; another partner's page answers 404."""
    try:
        return selectors.partner_get(viewer=request.user, pk=pk)
    except Partner.DoesNotExist as exc:
        raise Http404 from exc


def can_edit_contacts(user, partner: Partner) -> bool:
    return is_vendor(user) or (is_partner_admin(user) and user.partner_id == partner.pk)


class DirectoryView(VendorRequiredMixin, View):
    def get(self, request):
        filters = filters_of(request)
        page = CappedPaginator(selectors.partner_list(viewer=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "partners/directory.html",
            {
                "page": page,
                "filters": filters,
                "statuses": PartnerStatus.choices,
                "models": ProgramModel.choices,
                "types": PartnerType.choices,
                "tiers": Tier.objects.all(),
                "regions": Region.objects.all(),
                "competencies": Competency.objects.all(),
                "managers": User.objects.filter(role__in=VENDOR_ROLES, is_active=True),
            },
        )


class MyCompanyView(PartnerRequiredMixin, View):
    def get(self, request):
        return redirect("partners:detail", pk=request.user.partner_id)


def _render_team(request, *, invite_form=None, errors=()):
    partner = request.user.partner
    context = {
        "partner": partner,
        "team": selectors.partner_team(partner=partner),
        "invite_form": invite_form or forms.TeamInviteForm(),
        "role_choices": forms.PARTNER_ROLE_CHOICES,
        "errors": errors,
    }
    return render(request, "partners/team.html", context)


class TeamView(PartnerAdminRequiredMixin, View):
    """The partner admin's page for the company's user accounts: list and invite."""

    def get(self, request):
        return _render_team(request)

    def post(self, request):
        form = forms.TeamInviteForm(request.POST)
        if form.is_valid():
            try:
                user = services.partner_user_invite(
                    partner=request.user.partner, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request, _("%(email)s is invited: we sent a link to set a password.") % {"email": user.email}
                )
                return redirect("partners:team")
        return _render_team(request, invite_form=form)


class _TeamMemberView(PartnerAdminRequiredMixin, View):
    """POST on one colleague; another company's user answers 404. Errors show on the team page."""

    def change(self, request, user):
        raise NotImplementedError

    def post(self, request, pk):
        try:
            user = selectors.partner_user_get(viewer=request.user, pk=pk)
        except User.DoesNotExist as exc:
            raise Http404 from exc
        try:
            self.change(request, user)
        except ValidationError as exc:
            return _render_team(request, errors=exc.messages)
        messages.success(request, _("Saved."))
        if not is_partner_admin(User.objects.get(pk=request.user.pk)):
            return redirect("home")  # the admin gave up their own admin role
        return redirect("partners:team")


class TeamRoleView(_TeamMemberView):
    def change(self, request, user):
        form = forms.TeamRoleForm(request.POST)
        if not form.is_valid():
            raise ValidationError(_("Choose a partner role."))
        services.partner_user_role_set(user=user, role=form.cleaned_data["role"], actor=request.user)


class TeamDeactivateView(_TeamMemberView):
    def change(self, request, user):
        services.partner_user_deactivate(user=user, actor=request.user)


class TeamReactivateView(_TeamMemberView):
    def change(self, request, user):
        services.partner_user_reactivate(user=user, actor=request.user)


class ProfileEditView(SignedInMixin, View):
    def _partner(self, request, pk):
        partner = partner_for(request, pk)
        if not can_edit_contacts(request.user, partner):
            raise PermissionDenied
        return partner

    def get(self, request, pk):
        partner = self._partner(request, pk)
        form = forms.ProfileForm(initial={"description": partner.description, "website": partner.website})
        return render(request, "partners/profile_edit.html", {"partner": partner, "form": form})

    def post(self, request, pk):
        partner = self._partner(request, pk)
        form = forms.ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.partner_profile_update(partner=partner, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Profile saved."))
                return redirect("partners:detail", pk=pk)
        return render(request, "partners/profile_edit.html", {"partner": partner, "form": form})


class OnboardingView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "partners/onboarding.html", {"columns": selectors.onboarding_board()})


class TiersView(SignedInMixin, View):
    def get(self, request):
        return render(request, "partners/tiers.html", {"tiers": selectors.tier_list()})


class ApplyView(View):
    """Public: no login needed."""

    def get(self, request):
        return render(request, "partners/apply.html", {"form": forms.ApplicationForm()})

    def post(self, request):
        form = forms.ApplicationForm(request.POST)
        if form.is_valid():
            try:
                services.partner_apply(**form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("partners:apply_thanks")
        return render(request, "partners/apply.html", {"form": form})


class ApplyThanksView(View):
    def get(self, request):
        return render(request, "partners/apply_thanks.html")


class ReviewSubmitView(View):
    """Public, reached through the one-time link e-mailed after a won deal."""

    def _review(self, token):
        return get_object_or_404(CustomerReview.objects.select_related("partner"), token=token)

    def get(self, request, token):
        review = self._review(token)
        return render(request, "partners/review_submit.html", {"review": review, "form": forms.ReviewForm()})

    def post(self, request, token):
        review = self._review(token)
        form = forms.ReviewForm(request.POST)
        if form.is_valid():
            try:
                services.review_submit(token=token, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return render(request, "partners/review_done.html", {"review": review})
        return render(request, "partners/review_submit.html", {"review": review, "form": form})


class ReviewQueueView(VendorRequiredMixin, View):
    def get(self, request):
        page = Paginator(selectors.review_queue(), 50).get_page(request.GET.get("page"))
        return render(request, "partners/review_queue.html", {"reviews": page, "page": page, "filters": {}})


class ReviewModerateView(VendorRequiredMixin, View):
    def post(self, request, pk):
        review = get_object_or_404(CustomerReview, pk=pk)
        form = forms.ModerationForm(request.POST)
        if form.is_valid():
            try:
                services.review_moderate(
                    review=review,
                    publish=form.cleaned_data["decision"] == "publish",
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
                messages.success(request, _("Review moderated."))
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
        else:
            messages.error(request, _("Choose publish or reject."))
        return redirect(reverse("partners:review_queue"))
