from django.urls import path

from .views import deals, routing

app_name = "leads"
urlpatterns = [
    path("", deals.DealListView.as_view(), name="deal_list"),
    path("<int:pk>/", deals.DealDetailView.as_view(), name="deal_detail"),
    # Lead routing
    path("offers/", routing.OfferListView.as_view(), name="offer_list"),
    path("offers/<int:pk>/accept/", routing.OfferAcceptView.as_view(), name="offer_accept"),
    path("offers/<int:pk>/decline/", routing.OfferDeclineView.as_view(), name="offer_decline"),
    path("routing/", routing.RoutingQueueView.as_view(), name="routing_queue"),
    path("routing/new/", routing.LeadCreateView.as_view(), name="lead_new"),
    path("routing/import/", routing.LeadImportView.as_view(), name="lead_import"),
    path("routing/<int:pk>/", routing.LeadRoutingView.as_view(), name="routing_lead"),
    path("routing/<int:pk>/assign/", routing.LeadAssignView.as_view(), name="lead_assign"),
    path("routing/<int:pk>/withdraw/", routing.OfferWithdrawView.as_view(), name="offer_withdraw"),
    path("routing/<int:pk>/route/", routing.LeadRouteAgainView.as_view(), name="lead_route_again"),
]
