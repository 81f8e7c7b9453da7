"""The `partners:` URL namespace, composed: the program's own pages (partners.urls) and the partner pages that show
cross-app figures (portal.partner_views). The names are the ones every template and redirect already uses."""

from django.urls import path

from partners.urls import urlpatterns as program_urlpatterns

from . import partner_views as views

app_name = "partners"
urlpatterns = [
    *program_urlpatterns,
    path("<int:pk>/", views.PartnerDetailView.as_view(), name="detail"),
    path("<int:pk>/status/", views.StatusChangeView.as_view(), name="status_change"),
    path("<int:pk>/tier/", views.TierSetView.as_view(), name="tier_set"),
    path("<int:pk>/account-manager/", views.AccountManagerView.as_view(), name="account_manager_set"),
    path("<int:pk>/contacts/", views.ContactSetView.as_view(), name="contact_set"),
    # Public: no login.
    path("find/", views.LocatorView.as_view(), name="locator"),
    path("find/<int:pk>/", views.PublicProfileView.as_view(), name="public_profile"),
]
