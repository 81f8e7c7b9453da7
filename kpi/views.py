from django.db.models import Count
from django.shortcuts import render
from django.views import View

from partners.models import Partner, PartnerStatus
from prm.permissions import PartnerRequiredMixin, VendorRequiredMixin

from .models import KpiSnapshot, NightlyRun


class DashboardView(VendorRequiredMixin, View):
    def get(self, request):
        tiers = (
            Partner.objects.filter(status=PartnerStatus.ACTIVE)
            .values("tier__name")
            .annotate(n=Count("id"))
            .order_by("tier__rank")
        )
        return render(request, "kpi/dashboard.html", {"tiers": tiers, "runs": NightlyRun.objects.all()[:10]})


class ScorecardView(PartnerRequiredMixin, View):
    def get(self, request):
        snapshot = KpiSnapshot.objects.filter(partner_id=request.user.partner_id).order_by("-date").first()
        return render(request, "kpi/scorecard.html", {"snapshot": snapshot, "partner": request.user.partner})
