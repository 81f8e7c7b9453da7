from django.urls import path

from .views import conflict, deals, intake, offers, registration, routing

app_name = "leads"
urlpatterns = [
    path("", deals.DealListView.as_view(), name="deal_list"),
    path("<int:pk>/", deals.DealDetailView.as_view(), name="deal_detail"),
    # Deal registration and pipeline
    path("register/", registration.DealRegisterView.as_view(), name="deal_register"),
    path("registrations/", registration.RegistrationListView.as_view(), name="registration_list"),
    path("registrations/review/", registration.ReviewQueueView.as_view(), name="registration_review"),
    path("registrations/<int:pk>/decide/", registration.RegistrationDecideView.as_view(), name="registration_decide"),
    path("<int:pk>/edit/", deals.DealEditView.as_view(), name="deal_edit"),
    path("<int:pk>/stage/", deals.DealStageView.as_view(), name="deal_stage"),
    path("<int:pk>/activity/", deals.DealActivityView.as_view(), name="deal_activity"),
    path("<int:pk>/cosell/", deals.DealCoSellView.as_view(), name="deal_cosell"),
    path("<int:pk>/extend/", deals.RegistrationExtendView.as_view(), name="registration_extend"),
    path("<int:pk>/withdraw/", registration.RegistrationWithdrawView.as_view(), name="registration_withdraw"),
    # Channel conflict
    path("availability/", conflict.AvailabilityView.as_view(), name="availability"),
    path("availability/log/", conflict.AvailabilityLogView.as_view(), name="availability_log"),
    path("disputes/", conflict.DisputeListView.as_view(), name="dispute_list"),
    path("disputes/new/", conflict.DisputeCreateView.as_view(), name="dispute_new"),
    path("disputes/<int:pk>/", conflict.DisputeDetailView.as_view(), name="dispute_detail"),
    path("disputes/<int:pk>/evidence/", conflict.DisputeEvidenceView.as_view(), name="dispute_evidence"),
    path("disputes/<int:pk>/decide/", conflict.DisputeDecideView.as_view(), name="dispute_decide"),
    path("reclaims/", conflict.ReclaimListView.as_view(), name="reclaim_list"),
    # Lead routing
    path("offers/", offers.OfferListView.as_view(), name="offer_list"),
    path("offers/<int:pk>/accept/", offers.OfferAcceptView.as_view(), name="offer_accept"),
    path("offers/<int:pk>/decline/", offers.OfferDeclineView.as_view(), name="offer_decline"),
    path("routing/", routing.RoutingQueueView.as_view(), name="routing_queue"),
    path("routing/new/", intake.LeadCreateView.as_view(), name="lead_new"),
    path("routing/import/", intake.LeadImportView.as_view(), name="lead_import"),
    path("routing/import/<int:pk>/", intake.LeadImportDetailView.as_view(), name="lead_import_detail"),
    path("routing/import/template.csv", intake.LeadImportTemplateView.as_view(), name="lead_import_template"),
    path("routing/<int:pk>/", routing.LeadRoutingView.as_view(), name="routing_lead"),
    path("routing/<int:pk>/assign/", routing.LeadAssignView.as_view(), name="lead_assign"),
    path("routing/<int:pk>/withdraw/", routing.OfferWithdrawView.as_view(), name="offer_withdraw"),
    path("routing/<int:pk>/route/", routing.LeadRouteAgainView.as_view(), name="lead_route_again"),
]
