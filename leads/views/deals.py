from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.views import View

from leads.forms.deals import ActivityForm, CoSellForm, DealEditForm, StageForm
from leads.models import OPEN_STAGES, Lead, Stage
from leads.selectors.deals import (
    deal_board,
    deal_board_deals,
    deal_export_rows,
    deal_get,
    deal_list,
    deal_timeline,
    deal_totals,
)
from leads.selectors.registration import registration_matches
from leads.services.deals import (
    activity_log,
    deal_allowed_moves,
    deal_cosell_set,
    deal_stage_change,
    deal_update,
)
from leads.services.registration import (
    registration_extend,
    registration_extension_error,
    registration_withdraw_error,
)
from partners.models import Region
from partners.selectors import partner_choices
from prm.exports import table_download
from prm.forms import apply_service_errors
from prm.models import PARTNER_ROLES, User
from prm.pagination import CappedPaginator, count_capped
from prm.permissions import SignedInMixin, can_sell, is_partner_user, is_vendor

# Stage moves that close the deal ask "are you sure?" first: a won deal books commission.
CONFIRMED_MOVES = (Stage.WON, Stage.LOST)


def can_manage(user, lead: Lead) -> bool:
    """Stage moves, co-sell and extension: vendor staff or the owning partner's sellers."""
    return is_vendor(user) or (can_sell(user) and user.partner_id == lead.partner_id)


def can_log(user, lead: Lead) -> bool:
    """Activities: vendor staff and any staff of a partner that sees the deal (owner or co-seller)."""
    return is_vendor(user) or is_partner_user(user)


SORT_COLUMNS = [
    ("title", _l("Deal")),
    ("stage", _l("Stage")),
    ("value", _l("Value")),
    ("close", _l("Expected close")),
    ("activity", _l("Last activity")),
    ("created", _l("Created")),
]


class DealListView(SignedInMixin, View):
    """The pipeline: a list (filters, sorting, totals, pages, CSV/XLSX) or, with ?view=board, a board by stage."""

    def get(self, request):
        filters = {k: v for k, v in request.GET.items() if v and k not in ("page", "export", "view")}
        user = request.user
        deals = deal_list(viewer=user, filters=filters)
        board = request.GET.get("view") == "board"
        if (fmt := request.GET.get("export")) in ("csv", "xlsx"):
            headers, rows = deal_export_rows(deals=deals, vendor=is_vendor(user))
            return table_download(headers=headers, rows=rows, filename="deals", fmt=fmt)
        if is_vendor(user):
            partner = filters.get("partner")
            owners = (
                User.objects.filter(partner_id=partner, role__in=PARTNER_ROLES).order_by("first_name", "last_name")
                if partner and partner.isdigit()
                else User.objects.none()
            )
        else:
            owners = User.objects.filter(partner_id=user.partner_id, role__in=PARTNER_ROLES).order_by(
                "first_name", "last_name"
            )
        ctx = {
            "filters": filters,
            "query": urlencode(filters),
            "stages": Stage.choices,
            "owners": owners,
            "regions": Region.objects.order_by("name"),
            "partners": partner_choices() if is_vendor(user) else [],
            "sort": filters.get("sort", "-created"),
            "sort_columns": SORT_COLUMNS,
            "board": board,
            "cap": CappedPaginator.CAP,
        }
        # The board shows the open pipeline: its total counts the open deals only. Totals and the board's columns
        # are sums over every matching deal: over more than CAP of them (the whole network, for vendor staff) they
        # take seconds at tens of millions of deals, so the page asks for a filter instead.
        listed = deal_board_deals(viewer=user, filters=filters) if board else deals
        if board:
            if count_capped(listed, CappedPaginator.CAP) < CappedPaginator.CAP:
                ctx["columns"] = deal_board(viewer=user, filters=filters)
                ctx["totals"] = deal_totals(deals=listed)
        else:
            ctx["page"] = CappedPaginator(deals, 50).get_page(request.GET.get("page"))
            if not ctx["page"].paginator.capped:
                ctx["totals"] = deal_totals(deals=listed)
        return render(request, "leads/deals/deal_list.html", ctx)


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
            "can_edit": can_manage(request.user, lead) and lead.partner_id is not None,
            "edit_form": forms.get("edit"),
            "confirm": forms.get("confirm"),
            "is_open": lead.stage in OPEN_STAGES,
            "contact_due": lead.first_contact_due
            if lead.first_contact_due and lead.first_contact_at is None and lead.stage in OPEN_STAGES
            else None,
            "contact_overdue": bool(lead.first_contact_due and lead.first_contact_due < now),
        }
        if registration is not None:
            ctx["extension_error"] = registration_extension_error(registration=registration, now=now)
            ctx["can_withdraw"] = can_sell(request.user) and not registration_withdraw_error(
                registration=registration, partner_id=request.user.partner_id
            )
            if registration.protected_until and registration.protected_until > now:
                ctx["days_left"] = (registration.protected_until - now).days
                if registration.status == "approved" and lead.stage in OPEN_STAGES:
                    ctx["protection_ends"] = registration.protected_until
            if is_vendor(request.user):
                ctx["matched"] = registration_matches(registration=registration)
        return render(request, "leads/deals/deal_detail.html", ctx)

    @staticmethod
    def cosell_initial(lead):
        initial = {}
        for i, c in enumerate(lead.cosells.all()[: CoSellForm.ROWS]):
            initial.update({f"partner_{i}": c.partner_id, f"share_{i}": c.share_percent, f"role_{i}": c.role})
        return CoSellForm(lead=lead, initial=initial)


def _apply(request, service, form_key, form, view_pk, extra_forms=None, **kwargs):
    """Run a service; a ValidationError goes back onto the form on the deal page, nothing typed is lost."""
    try:
        service(**kwargs)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            apply_service_errors(form, exc)
        else:
            form.add_error(None, exc.messages)
        return DealDetailView().get(request, view_pk, forms={form_key: form, **(extra_forms or {})})
    messages.success(request, _("Saved."))
    return redirect("leads:deal_detail", view_pk)


class DealEditView(_DealMixin, View):
    """The owner's edit of the deal record (contact, products, value, close date, notes, owner)."""

    def _allowed(self, request, pk) -> Lead:
        lead = self.get_lead(request, pk)
        if not can_manage(request.user, lead) or lead.partner_id is None:
            raise PermissionDenied
        return lead

    def get(self, request, pk):
        lead = self._allowed(request, pk)
        return DealDetailView().get(request, pk, forms={"edit": DealEditForm(lead=lead)})

    def post(self, request, pk):
        lead = self._allowed(request, pk)
        form = DealEditForm(request.POST, lead=lead)
        if not form.is_valid():
            return DealDetailView().get(request, pk, forms={"edit": form})
        return _apply(request, deal_update, "edit", form, pk, lead=lead, actor=request.user, **form.changes())


class DealStageView(_DealMixin, View):
    def post(self, request, pk):
        lead = self.get_lead(request, pk)
        if not can_manage(request.user, lead):
            raise PermissionDenied
        form = StageForm(request.POST)
        if not form.is_valid():
            return DealDetailView().get(request, pk, forms={"stage": form})
        if form.cleaned_data["to_stage"] in CONFIRMED_MOVES and request.POST.get("confirmed") != "1":
            # Closing a deal is asked once more on the page, with what it means; nothing is saved yet.
            return DealDetailView().get(request, pk, forms={"stage": form, "confirm": form.cleaned_data["to_stage"]})
        return _apply(
            request,
            deal_stage_change,
            "stage",
            form,
            pk,
            extra_forms={"confirm": form.cleaned_data["to_stage"]}
            if form.cleaned_data["to_stage"] in CONFIRMED_MOVES
            else None,
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
