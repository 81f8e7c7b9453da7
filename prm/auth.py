"""Signing in through django-allauth: the backend and adapters that ask the portal's one access rule, the
canonical e-mail as django-axes' lock-out key, MFA where it is required, and single sign-on discovery."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .models import SsoDomain, User, email_canonical
from .permissions import has_access, has_mfa, mfa_required


def axes_username(request, credentials=None) -> str:
    """The lock-out key is the canonical e-mail, so `Admin@X` and `admin@x` share one failure counter."""
    credentials = credentials or {}
    data = getattr(request, "data", None) or getattr(request, "POST", {}) or {}
    for field in ("username", "email", "login"):
        value = credentials.get(field) or data.get(field)
        if value:
            return email_canonical(value)
    return ""


class PortalBackend(AuthenticationBackend):
    """allauth's e-mail backend asking prm.permissions.has_access at sign-in and on every request (get_user): a
    deactivated account or a suspended/terminated partner's user is signed out at once, and back on reactivation."""

    def user_can_authenticate(self, user):
        return has_access(user)

    def get_user(self, user_id):
        user = User._default_manager.select_related("partner").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


class AccountAdapter(DefaultAccountAdapter):
    """No self-service sign-up: accounts come from partner onboarding and invitations."""

    def is_open_for_signup(self, request):
        return False

    def pre_login(self, request, user, **kwargs):
        if not has_access(user):
            messages.error(request, _("Your account or your company's portal access is suspended."))
            raise ImmediateHttpResponse(redirect("login"))
        return super().pre_login(request, user, **kwargs)


def sso_app_for_email(*, email: str):
    """The identity provider (allauth SocialApp) bound to the e-mail's domain, or None."""
    domain = email_canonical(email).rpartition("@")[2]
    row = SsoDomain.objects.select_related("app").filter(domain=domain).first() if domain else None
    return row.app if row else None


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on signs in existing accounts only, and an identity provider only for its own e-mail domains:
    a partner's IdP can never assert a vendor's (or another partner's) address."""

    def is_open_for_signup(self, request, sociallogin):
        return False

    def pre_social_login(self, request, sociallogin):
        email = email_canonical(sociallogin.user.email or next((e.email for e in sociallogin.email_addresses), ""))
        app = sso_app_for_email(email=email)
        if app is None or app.pk != sociallogin.account.get_provider().app.pk:
            messages.error(request, _("This identity provider may not sign in %(email)s.") % {"email": email or "?"})
            raise ImmediateHttpResponse(redirect("login"))


class MfaRequiredMiddleware:
    """Users who must use a second factor (prm.permissions.mfa_required) and have none are sent to set one up."""

    ALLOWED_PREFIXES = ("/accounts/", "/logout/", "/static/", "/i18n/", "/healthz", "/api/", "/media/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path_info.startswith(self.ALLOWED_PREFIXES)
            and mfa_required(user)
            and not has_mfa(user)
        ):
            messages.warning(request, _("Vendor admins must set up two-factor authentication before going on."))
            return redirect("mfa_index")
        return self.get_response(request)


class SignInLanguageMiddleware:
    """The language a user chose in their preferences (User.language) becomes the portal's language at sign-in,
    whichever door signed them in (password, SSO, after the second factor): `prm.signals` marks the request when
    `user_logged_in` fires and this sets Django's language cookie on that response. Afterwards the navbar's
    language switch still works as usual for the rest of the visit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        language = getattr(request, "sign_in_language", "")
        if language:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax",
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            )
        return response
