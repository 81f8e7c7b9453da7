"""Portal pages for partner staff and channel managers, and the customer's pages reached by signed links."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from prm.forms import apply_service_errors
from prm.pagination import CappedPaginator
from prm.permissions import SignedInMixin, is_partner_admin, is_vendor
from prm.services import audit_trail

from . import checkins, links, reports, selectors, services
from .dispatch import dispatch_view, partner_has_field_presence, ticket_dispatch
from .forms import (
    CheckInForm,
    ContractForm,
    CustomerTicketForm,
    ImplementationForm,
    LinkForm,
    MilestoneForm,
    PriorityForm,
    RatingForm,
    SignOffForm,
    StatusForm,
    TicketFilterForm,
    TicketForm,
)
from .models import (
    OPEN_TICKET_STATUSES,
    CheckIn,
    ClockEvent,
    CustomerLink,
    Milestone,
    Ticket,
    TicketSource,
    TicketStatus,
)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _filters(request) -> dict:
    return {k: v for k, v in request.GET.items() if v and k != "page"}


# --- tickets -------------------------------------------------------------------------------------------------


class TicketListView(SignedInMixin, View):
    def get(self, request):
        form = TicketFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        page = CappedPaginator(selectors.ticket_list(viewer=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
        rows = [(t, selectors.clock_views(ticket=t)) for t in page.object_list]
        return render(
            request,
            "delivery/tickets.html",
            {
                "form": form,
                "page": page,
                "rows": rows,
                "filters": _filters(request),
                "is_vendor": is_vendor(request.user),
            },
        )


class TicketCreateView(SignedInMixin, View):
    def _form(self, request, data=None):
        return TicketForm(data, contracts=selectors.contract_list(viewer=request.user))

    def get(self, request):
        return render(request, "delivery/ticket_form.html", {"form": self._form(request)})

    def post(self, request):
        form = self._form(request, request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                ticket = services.ticket_open(
                    actor=request.user,
                    source=TicketSource.VENDOR if is_vendor(request.user) else TicketSource.PARTNER,
                    **data,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("delivery:ticket_detail", pk=ticket.pk)
        return render(request, "delivery/ticket_form.html", {"form": form})


class TicketDetailView(SignedInMixin, View):
    def get(self, request, pk):
        ticket = selectors.ticket_get(viewer=request.user, pk=pk)
        dispatch = dispatch_view(ticket=ticket)
        return render(
            request,
            "delivery/ticket_detail.html",
            {
                "ticket": ticket,
                "clocks": selectors.clock_views(ticket=ticket),
                "statuses": [
                    (s, label)
                    for s, label in StatusForm.base_fields["status"].choices
                    if s in services.ticket_allowed_statuses(ticket=ticket)
                ],
                "priority_form": PriorityForm(initial={"priority": ticket.priority}),
                "events": ClockEvent.objects.filter(clock__ticket=ticket).select_related("clock", "actor"),
                "credits": ticket.credits.all(),
                "audit": audit_trail(target=ticket),
                "dispatch": dispatch,
                "can_dispatch": ticket.kind == "onsite"
                and ticket.status in OPEN_TICKET_STATUSES
                and (dispatch is None or dispatch.ended_at is not None)
                and not partner_has_field_presence(partner=ticket.partner, region_id=ticket.customer.region_id),
            },
        )


class TicketDispatchView(SignedInMixin, View):
    def post(self, request, pk):
        ticket = selectors.ticket_get(viewer=request.user, pk=pk)
        try:
            ticket_dispatch(ticket=ticket, actor=request.user)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, _("The work order is offered to a field partner in the customer's region."))
        return redirect("delivery:ticket_detail", pk=pk)


class TicketStatusView(SignedInMixin, View):
    def post(self, request, pk):
        ticket = selectors.ticket_get(viewer=request.user, pk=pk)
        form = StatusForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose a valid status."))
        else:
            try:
                services.ticket_transition(ticket=ticket, to_status=form.cleaned_data["status"], actor=request.user)
            except ValidationError as exc:
                messages.error(request, _error_text(exc))
        return redirect("delivery:ticket_detail", pk=pk)


class TicketPriorityView(SignedInMixin, View):
    def post(self, request, pk):
        ticket = selectors.ticket_get(viewer=request.user, pk=pk)
        form = PriorityForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose a valid priority."))
        else:
            services.ticket_set_priority(ticket=ticket, priority=form.cleaned_data["priority"], actor=request.user)
        return redirect("delivery:ticket_detail", pk=pk)


# --- implementations ---------------------------------------------------------------------------------------------


class ImplementationListView(SignedInMixin, View):
    def get(self, request):
        filters = {"status": request.GET.get("status", ""), "late": request.GET.get("late")}
        page = Paginator(selectors.implementation_list(viewer=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "delivery/implementations.html",
            {
                "page": page,
                "rows": [(i, selectors.implementation_is_late(i)) for i in page.object_list],
                "filters": _filters(request),
                "is_vendor": is_vendor(request.user),
                "statuses": services.ImplementationStatus.choices,
            },
        )


class ImplementationDetailView(SignedInMixin, View):
    def get(self, request, pk, **forms):
        implementation = selectors.implementation_get(viewer=request.user, pk=pk)
        partner_id = implementation.partner_id
        contracts = list(selectors.contract_list(viewer=request.user).filter(customer=implementation.customer_id))
        context = {
            "implementation": implementation,
            "late": selectors.implementation_is_late(implementation),
            "milestones": implementation.milestones.select_related("owner"),
            "today": timezone.localdate(),
            "team": implementation.team.all(),
            "contracts": contracts,
            "links": CustomerLink.objects.filter(customer=implementation.customer_id, partner_id=partner_id)[:10],
            "new_link": request.session.pop("delivery_new_link", None),
            "signoff_url": None
            if implementation.signed_off_at
            else request.build_absolute_uri(
                reverse("delivery:signoff", args=[links.signoff_token(implementation=implementation)])
            ),
            "edit_form": forms.get("edit_form")
            or ImplementationForm(
                partner_id=partner_id,
                initial={
                    "owner": implementation.owner_id,
                    "team": [u.pk for u in implementation.team.all()],
                    "planned_go_live": implementation.planned_go_live,
                },
            ),
            "milestone_form": forms.get("milestone_form") or MilestoneForm(partner_id=partner_id),
            "contract_form": forms.get("contract_form")
            or ContractForm(partner_id=partner_id, initial={"starts_on": timezone.localdate()}),
            "can_contract": is_vendor(request.user) or is_partner_admin(request.user),
            "link_form": LinkForm(),
            "audit": audit_trail(target=implementation),
        }
        return render(request, "delivery/implementation_detail.html", context)

    def post(self, request, pk):
        implementation = selectors.implementation_get(viewer=request.user, pk=pk)
        action = request.POST.get("action")
        partner_id = implementation.partner_id
        if action == "edit":
            form = ImplementationForm(request.POST, partner_id=partner_id)
            if form.is_valid():
                try:
                    services.implementation_update(
                        implementation=implementation, actor=request.user, **form.cleaned_data
                    )
                    return redirect("delivery:implementation_detail", pk=pk)
                except ValidationError as exc:
                    apply_service_errors(form, exc)
            return self.get(request, pk, edit_form=form)
        if action == "milestone":
            form = MilestoneForm(request.POST, partner_id=partner_id)
            if form.is_valid():
                try:
                    services.milestone_add(implementation=implementation, actor=request.user, **form.cleaned_data)
                    return redirect("delivery:implementation_detail", pk=pk)
                except ValidationError as exc:
                    apply_service_errors(form, exc)
            return self.get(request, pk, milestone_form=form)
        if action == "contract":
            if not (is_vendor(request.user) or is_partner_admin(request.user)):
                raise Http404
            form = ContractForm(request.POST, partner_id=partner_id)
            if form.is_valid():
                fields = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
                try:
                    services.contract_create(
                        customer=implementation.customer,
                        partner=implementation.partner,
                        lead=implementation.lead,
                        actor=request.user,
                        **fields,
                    )
                    return redirect("delivery:implementation_detail", pk=pk)
                except ValidationError as exc:
                    apply_service_errors(form, exc)
            return self.get(request, pk, contract_form=form)
        if action == "link":
            form = LinkForm(request.POST)
            if form.is_valid():
                try:
                    _link, token = links.customer_link_issue(
                        customer=implementation.customer,
                        partner=implementation.partner,
                        actor=request.user,
                        **form.cleaned_data,
                    )
                    request.session["delivery_new_link"] = request.build_absolute_uri(
                        reverse("delivery:status_page", args=[token])
                    )
                except ValidationError as exc:
                    messages.error(request, _error_text(exc))
            else:
                messages.error(request, _("Give a number of days from 1 to 365."))
            return redirect("delivery:implementation_detail", pk=pk)
        raise Http404


class MilestoneDoneView(SignedInMixin, View):
    def post(self, request, pk):
        milestone = get_object_or_404(Milestone.objects.select_related("implementation"), pk=pk)
        selectors.implementation_get(viewer=request.user, pk=milestone.implementation_id)  # 404 for others
        services.milestone_complete(milestone=milestone, actor=request.user)
        return redirect("delivery:implementation_detail", pk=milestone.implementation_id)


class LinkRevokeView(SignedInMixin, View):
    def post(self, request, pk):
        link = get_object_or_404(CustomerLink.objects.select_related("partner"), pk=pk)
        if not (is_vendor(request.user) or request.user.partner_id == link.partner_id):
            raise Http404
        links.customer_link_revoke(link=link, actor=request.user)
        implementation = link.partner.implementations.filter(customer=link.customer_id).first()
        if implementation is not None:
            return redirect("delivery:implementation_detail", pk=implementation.pk)
        return redirect("delivery:implementations")


# --- the customer's pages (no account) ----------------------------------------------------------------------------


def _link_or_404(token):
    try:
        return links.customer_link_resolve(token=token)
    except links.LinkInvalid:
        raise Http404 from None


class StatusPageView(View):
    def get(self, request, token, form=None):
        link = _link_or_404(token)
        contracts = link.customer.service_contracts.filter(partner=link.partner)
        context = selectors.status_page(link=link)
        context.update(
            report=reports.service_report(customer=link.customer, partner=link.partner, month=timezone.localdate()),
            link=link,
            token=token,
            form=form or CustomerTicketForm(contracts=contracts),
            signoff_urls={
                i.pk: reverse("delivery:signoff", args=[links.signoff_token(implementation=i)])
                for i in context["implementations"]
                if i.signed_off_at is None and i.status != "cancelled"
            },
            checkin_urls=[
                (c, reverse("delivery:checkin", args=[c.token]))
                for c in CheckIn.objects.filter(
                    implementation__customer=link.customer, partner=link.partner, answered_at__isnull=True
                ).order_by("due_on")
            ],
            rating_urls={
                t.pk: reverse("delivery:rate", args=[links.rating_token(ticket=t)])
                for t in context["closed_tickets"]
                if t.rated_at is None and t.status in ("resolved", "closed")
            },
        )
        return render(request, "delivery/status_page.html", context)

    def post(self, request, token):
        link = _link_or_404(token)
        contracts = link.customer.service_contracts.filter(partner=link.partner)
        form = CustomerTicketForm(request.POST, contracts=contracts)
        if form.is_valid():
            try:
                services.ticket_open(actor=None, source=TicketSource.CUSTOMER, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Your ticket is open. The clocks below show when to expect an answer."))
                return redirect("delivery:status_page", token=token)
        return self.get(request, token, form=form)


class StatusTicketCancelView(View):
    """The customer withdraws one of its open tickets from the status page: the same rule as the partner's ticket
    page and the API (services.ticket_transition: clocks cancelled, an unaccepted on-site visit withdrawn)."""

    def post(self, request, token, pk):
        link = _link_or_404(token)
        ticket = get_object_or_404(Ticket, pk=pk, customer=link.customer_id, partner=link.partner_id)
        try:
            services.ticket_transition(ticket=ticket, to_status=TicketStatus.CANCELLED, actor=None)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, _("Your ticket #%(id)s is cancelled.") % {"id": ticket.pk})
        return redirect("delivery:status_page", token=token)


class SignOffView(View):
    def _implementation(self, token):
        try:
            return links.signoff_resolve(token=token)
        except links.LinkInvalid:
            raise Http404 from None

    def get(self, request, token, form=None):
        implementation = self._implementation(token)
        return render(
            request,
            "delivery/signoff.html",
            {
                "implementation": implementation,
                "form": form or SignOffForm(),
                "milestones": implementation.milestones.all(),
            },
        )

    def post(self, request, token):
        implementation = self._implementation(token)
        form = SignOffForm(request.POST)
        if form.is_valid():
            try:
                services.implementation_sign_off(implementation=implementation, name=form.cleaned_data["name"])
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return render(request, "delivery/thanks.html", {"message": _("Go-live is signed off. Thank you.")})
        return self.get(request, token, form=form)


class RateView(View):
    def _ticket(self, token):
        try:
            return links.rating_resolve(token=token)
        except links.LinkInvalid:
            raise Http404 from None

    def get(self, request, token, form=None):
        ticket = self._ticket(token)
        return render(request, "delivery/rate.html", {"ticket": ticket, "form": form or RatingForm()})

    def post(self, request, token):
        ticket = self._ticket(token)
        form = RatingForm(request.POST)
        if form.is_valid():
            try:
                services.ticket_rate(ticket=ticket, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return render(request, "delivery/thanks.html", {"message": _("Thank you for your rating.")})
        return self.get(request, token, form=form)


class CheckInView(View):
    """The customer's check-in 30/90/180 days after go-live: a one-time link, no account."""

    def _checkin(self, token):
        try:
            return checkins.checkin_resolve(token=token)
        except checkins.CheckInInvalid:
            raise Http404 from None

    def get(self, request, token, form=None):
        checkin = self._checkin(token)
        return render(request, "delivery/checkin.html", {"checkin": checkin, "form": form or CheckInForm()})

    def post(self, request, token):
        checkin = self._checkin(token)
        form = CheckInForm(request.POST)
        if form.is_valid():
            try:
                checkins.checkin_answer(checkin=checkin, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return render(request, "delivery/thanks.html", {"message": _("Thank you for your answer.")})
        return self.get(request, token, form=form)
