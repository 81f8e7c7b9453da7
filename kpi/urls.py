from django.urls import include, path

from . import views
from .configuration import views as config_views

app_name = "kpi"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("configuration/", config_views.ConfigurationView.as_view(), name="config"),
    path("configuration/tiers/", views.TierConfigView.as_view(), name="tier_config"),
    path("configuration/sla/", config_views.SlaPolicyListView.as_view(), name="config_sla"),
    path("configuration/sla/new/", config_views.SlaPolicyEditView.as_view(), name="config_sla_new"),
    path("configuration/sla/<int:pk>/", config_views.SlaPolicyEditView.as_view(), name="config_sla_edit"),
    path("configuration/registration/", config_views.RegistrationPolicyListView.as_view(), name="config_registration"),
    path(
        "configuration/registration/<str:program_model>/",
        config_views.RegistrationPolicyEditView.as_view(),
        name="config_registration_edit",
    ),
    path("configuration/routing/", config_views.RoutingWeightsView.as_view(), name="config_routing"),
    path("configuration/rates/", config_views.ExchangeRateView.as_view(), name="config_rates"),
    path("partners/<int:partner_id>/", views.PartnerHistoryView.as_view(), name="partner_history"),
    path("partners/<int:partner_id>/lock/", views.TierLockView.as_view(), name="tier_lock"),
    path("scorecard/", views.ScorecardView.as_view(), name="scorecard"),
    path("scorecard/what-if/", views.WhatIfView.as_view(), name="what_if"),
    path("statement/", views.StatementView.as_view(), name="statement"),
    path("statements/", include("kpi.payouts.urls")),
    path("funds/", include("kpi.funds.urls")),
]
