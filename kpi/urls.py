from django.urls import include, path

from . import views

app_name = "kpi"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("configuration/tiers/", views.TierConfigView.as_view(), name="tier_config"),
    path("partners/<int:partner_id>/", views.PartnerHistoryView.as_view(), name="partner_history"),
    path("partners/<int:partner_id>/lock/", views.TierLockView.as_view(), name="tier_lock"),
    path("scorecard/", views.ScorecardView.as_view(), name="scorecard"),
    path("scorecard/what-if/", views.WhatIfView.as_view(), name="what_if"),
    path("statement/", views.StatementView.as_view(), name="statement"),
    path("statements/", include("kpi.payouts.urls")),
    path("funds/", include("kpi.funds.urls")),
]
