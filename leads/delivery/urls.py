from django.urls import path

from . import views

app_name = "delivery"

urlpatterns = [
    path("tickets/", views.TicketListView.as_view(), name="tickets"),
    path("tickets/new/", views.TicketCreateView.as_view(), name="ticket_create"),
    path("tickets/<int:pk>/", views.TicketDetailView.as_view(), name="ticket_detail"),
    path("tickets/<int:pk>/status/", views.TicketStatusView.as_view(), name="ticket_status"),
    path("tickets/<int:pk>/priority/", views.TicketPriorityView.as_view(), name="ticket_priority"),
    path("tickets/<int:pk>/dispatch/", views.TicketDispatchView.as_view(), name="ticket_dispatch"),
    path("implementations/", views.ImplementationListView.as_view(), name="implementations"),
    path("implementations/<int:pk>/", views.ImplementationDetailView.as_view(), name="implementation_detail"),
    path("milestones/<int:pk>/done/", views.MilestoneDoneView.as_view(), name="milestone_done"),
    path("links/<int:pk>/revoke/", views.LinkRevokeView.as_view(), name="link_revoke"),
    # The customer's pages: signed links, no account.
    path("status/<str:token>/", views.StatusPageView.as_view(), name="status_page"),
    path("status/<str:token>/tickets/<int:pk>/cancel/", views.StatusTicketCancelView.as_view(), name="status_cancel"),
    path("sign-off/<str:token>/", views.SignOffView.as_view(), name="signoff"),
    path("rate/<str:token>/", views.RateView.as_view(), name="rate"),
    path("check-in/<str:token>/", views.CheckInView.as_view(), name="checkin"),
]
