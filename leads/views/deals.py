from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from leads.forms.deals import ActivityForm, CoSellForm, StageForm
from leads.models import Lead, Stage
from leads.selectors.deals import deal_get, deal_list, deal_timeline
from leads.selectors.registration import registration_matches
from leads.services.deals import activity_log, deal_allowed_moves, deal_cosell_set, deal_stage_change
from leads.services.registration import (
    registration_extend,
    registration_extension_error,
    registration_withdraw_error,
)
from prm.forms import apply_service_errors
from prm.permissions import SignedInMixin, can_sell, is_partner_user, is_vendor


def can_manage(user, lead: Lead) -> bool:
    """Stage moves, co-sell and extension: vendor staff or the owning partner's sellers."""
    return is_vendor(user) or (can_sell(user) and user.partner_id == lead.partner_id)


def can_log(user, lead: Lead) -> bool:
    """Activities: vendor staff and any staff of a partner that sees the deal (owner or co-seller)."""
    return is_vendor(user) or is_partner_user(user)


class DealListView(SignedInMixin, View):
    def get(self, request):
        filters = {k: v for k, v in request.GET.items() if v and k != "page"}
        page = Paginator(deal_list(viewer=request.user, filters=filters), 50).get_page(request.GET.get("page"))
        return render(
            request, "leads/deals/deal_list.html", {"page": page, "filters": filters, "stages": Stage.choices}
        )


class _DealMixin(SignedInMixin):
    def get_lead(self, request, pk) -> Lead:
        try:
            return deal_get(viewer=request.user, pk=pk)
        except Lead.DoesNotExist as exc:
            raise Http404 from exc


class DealDetailView(_DealMixin, View):
    def get(self, request, pk, forms=None):
        lead = self.get_lead(request, pk)
        forms = forms or {}
        registration = getattr(lead, "registration", None)
        now = timezone.now()
        ctx = {
            "lead": lead,
            "registration": registration,
            "timeline": deal_timeline(lead=lead, viewer=request.user),
            "cosells": lead.cosells.select_related("partner"),
            "moves": [(s, Stage(s).label) for s in deal_allowed_moves(lead=lead, actor=request.user)]
            if can_manage(request.user, lead)
            else [],
            "can_manage": can_manage(request.user, lead),
            # Co-selling is declared on a deal being worked (approved registration, open stage).
            "can_cosell": can_manage(request.user, lead) and bool(deal_allowed_moves(lead=lead)),
            "can_log": can_log(request.user, lead),
            "stage_form": forms.get("stage") or StageForm(),
            "activity_form": forms.get("activity") or ActivityForm(initial={"occurred_at": timezone.localtime(now)}),
            # Only when asked for (GET .../cosell/) or sent back with errors: it lists every active partner, which
            # the deal page, opened far more often than a split is changed, should not render each time.
            "cosell_form": forms.get("cosell"),
        }
        if registration is not None:
            ctx["extension_error"] = registration_extension_error(registration=registration, now=now)
            ctx["can_withdraw"] = can_sell(request.user) and not registration_withdraw_error(
                registration=registration, partner_id=request.user.partner_id
            )
            if registration.protected_until and registration.protected_until > now:
                ctx["days_left"] = (registration.protected_until - now).days
            if is_vendor(request.user):
                ctx["matched"] = registration_matches(registration=registration)
        return render(request, "leads/deals/deal_detail.html", ctx)

    @staticmethod
    def cosell_initial(lead):
        initial = {}
        for i, c in enumerate(lead.cosells.all()[: CoSellForm.ROWS]):
            initial.update({f"partner_{i}": c.partner_id, f"share_{i}": c.share_percent, f"role_{i}": c.role})
        return CoSellForm(lead=lead, initial=initial)


def _apply(request, service, form_key, form, view_pk, **kwargs):
    """Run a service; a ValidationError goes back onto the form on the deal page, nothing typed is lost."""
    try:
        service(**kwargs)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            apply_service_errors(form, exc)
        else:
            form.add_error(None, exc.messages)
        return DealDetailView().get(request, view_pk, forms={form_key: form})
    messages.success(request, _("Saved."))
    return redirect("leads:deal_detail", view_pk)


class DealStageView(_DealMixin, View):
    def post(self, request, pk):
        lead = self.get_lead(request, pk)
        if not can_manage(request.user, lead):
            raise PermissionDenied
        form = StageForm(request.POST)
        if not form.is_valid():
            return DealDetailView().get(request, pk, forms={"stage": form})
        return _apply(
            request,
            deal_stage_change,
            "stage",
            form,
            pk,
            lead=lead,
            to_stage=form.cleaned_data["to_stage"],
            actor=request.user,
            lost_reason=form.cleaned_data["lost_reason"],
        )


class DealActivityView(_DealMixin, View):
    def post(self, request, pk):
        lead = self.get_lead(request, pk)
        if not can_log(request.user, lead):
            raise PermissionDenied
        form = ActivityForm(request.POST)
        if not form.is_valid():
            return DealDetailView().get(request, pk, forms={"activity": form})
        return _apply(request, activity_log, "activity", form, pk, lead=lead, user=request.user, **form.cleaned_data)


class DealCoSellView(_DealMixin, View):
    def get(self, request, pk):
        lead = self.get_lead(request, pk)
        if not can_manage(request.user, lead):
            raise PermissionDenied
        form = DealDetailView.cosell_initial(lead)
        if request.htmx:
            return render(request, "leads/deals/_cosell_form.html", {"lead": lead, "cosell_form": form})
        return DealDetailView().get(request, pk, forms={"cosell": form})

    def post(self, request, pk):
        lead = self.get_lead(request, pk)
        if not can_manage(request.user, lead):
            raise PermissionDenied
        form = CoSellForm(request.POST, lead=lead)
        if not form.is_valid():
            return DealDetailView().get(request, pk, forms={"cosell": form})
        return _apply(
            request,
            deal_cosell_set,
            "cosell",
            form,
            pk,
            lead=lead,
            shares=form.cleaned_data["shares"],
            roles=form.cleaned_data["roles"],
            actor=request.user,
        )


class RegistrationExtendView(_DealMixin, View):
    def post(self, request, pk):
        lead = self.get_lead(request, pk)
        registration = getattr(lead, "registration", None)
        if registration is None:
            raise Http404
        if not can_manage(request.user, lead):
            raise PermissionDenied
        try:
            registration_extend(registration=registration, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Protection extended."))
        return redirect("leads:deal_detail", pk)
