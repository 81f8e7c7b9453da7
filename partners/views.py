from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from prm.permissions import PartnerRequiredMixin, SignedInMixin, VendorRequiredMixin
from prm.services import audit_trail

from . import selectors
from .models import Partner, PartnerStatus, PartnerType, ProgramModel, Tier


class DirectoryView(VendorRequiredMixin, View):
    def get(self, request):
        filters = {k: v for k, v in request.GET.items() if v}
        page = Paginator(selectors.partner_list(viewer=request.user, filters=filters), 50).get_page(
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
            },
        )


class PartnerDetailView(SignedInMixin, View):
    def get(self, request, pk):
        try:
            partner = selectors.partner_get(viewer=request.user, pk=pk)
        except Partner.DoesNotExist as exc:
            raise Http404 from exc
        return render(request, "partners/detail.html", {"partner": partner, "audit": audit_trail(target=partner)})


class MyCompanyView(PartnerRequiredMixin, View):
    def get(self, request):
        return redirect("partners:detail", pk=request.user.partner_id)
