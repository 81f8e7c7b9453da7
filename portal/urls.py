from allauth.account import views as account_views
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from prm import sso
from prm import views as core_views

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    # Sign-in, password change and reset, MFA and SSO: django-allauth (under /accounts/); the portal's names stay.
    path("login/", account_views.login, name="login"),
    path("login/sso/", sso.sso_start, name="sso_start"),
    path("logout/", account_views.logout, name="logout"),
    path("password/", account_views.password_change, name="password_change"),
    path("accounts/", include("allauth.urls")),
    # New partner admins set their first password through an e-mailed link (partners.services).
    path(
        "password/set/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="partners/set_password.html", success_url="/login/", post_reset_login=False
        ),
        name="password_reset_confirm",
    ),
    path("notifications/", core_views.notification_list, name="notifications"),
    path("notifications/read/", core_views.notifications_read, name="notifications_read"),
    path("preferences/", core_views.preferences, name="preferences"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("partners/", include("portal.partner_urls")),
    path("deals/", include("leads.urls")),
    path("training/", include("training.urls")),
    path("kpi/", include("kpi.urls")),
    path("enablement/", include("partners.enablement.urls")),
    path("delivery/", include("leads.delivery.urls")),
    path("", include("portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
