"""Step 2, offers: the partner offer inbox, accept and decline."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from leads.forms.offers import DeclineForm
from leads.models import Offer, OfferStatus
from leads.selectors.offers import offer_get, offer_list
from leads.services import offers
from prm.forms import apply_service_errors
from prm.pagination import CappedPaginator
from prm.permissions import SellerRequiredMixin, SignedInMixin


class OfferListView(SignedInMixin, View):
    """Partner inbox: open offers with a live countdown, plus answered ones."""

    def get(self, request):
        status = request.GET.get("status") or OfferStatus.PENDING
        page = CappedPaginator(offer_list(viewer=request.user, filters={"status": status}), 50).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "leads/offers/offer_list.html",
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
            return offer_get(viewer=request.user, pk=pk)
        except Offer.DoesNotExist as exc:
            raise Http404 from exc


class OfferAcceptView(_OfferActionView):
    def post(self, request, pk):
        offer = self.get_offer(request, pk)
        try:
            lead = offers.offer_accept(offer=offer, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("leads:offer_list")
        if lead.partner_id != request.user.partner_id:  # held for a channel manager (offers.offer_accept)
            messages.warning(request, _(offers.MSG_HELD_FOR_REVIEW))
            return redirect("leads:offer_list")
        messages.success(request, _("Lead accepted. Please contact the customer."))
        return redirect("leads:deal_detail", lead.pk)


class OfferDeclineView(_OfferActionView):
    def get(self, request, pk):
        offer = self.get_offer(request, pk)
        return render(request, "leads/offers/offer_decline.html", {"offer": offer, "form": DeclineForm()})

    def post(self, request, pk):
        offer = self.get_offer(request, pk)
        form = DeclineForm(request.POST)
        if form.is_valid():
            try:
                offers.offer_decline(offer=offer, user=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Offer declined."))
                return redirect("leads:offer_list")
        return render(request, "leads/offers/offer_decline.html", {"offer": offer, "form": form})
