from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views import View

from leads import selectors
from leads.models import Lead, Stage
from prm.permissions import SignedInMixin
from prm.services import audit_trail


class DealListView(SignedInMixin, View):
    def get(self, request):
        filters = {k: v for k, v in request.GET.items() if v}
        page = Paginator(selectors.deal_list(viewer=request.user, filters=filters), 50).get_page(
            request.GET.get("page")
        )
        return render(request, "leads/deal_list.html", {"page": page, "filters": filters, "stages": Stage.choices})


class DealDetailView(SignedInMixin, View):
    def get(self, request, pk):
        try:
            lead = selectors.deal_get(viewer=request.user, pk=pk)
        except Lead.DoesNotExist as exc:
            raise Http404 from exc
        activities = lead.activities.select_related("user")[:100]
        return render(
            request,
            "leads/deal_detail.html",
            {"lead": lead, "activities": activities, "audit": audit_trail(target=lead)},
        )
