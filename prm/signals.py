"""Security events go to the audit trail: sign-ins, failed sign-ins and sign-outs. A sign-in also applies the\nlanguage the user chose."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .auth import axes_username
from .services import audit_record


def _ip(request):
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    if request is not None and user.language:
        # The chosen language applies from this response on (prm.auth.SignInLanguageMiddleware sets the cookie).
        request.sign_in_language = user.language
    audit_record(actor=user, action="security.login", target=user, partner=user.partner, ip_address=_ip(request))


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(actor=user, action="security.logout", target=user, partner=user.partner, ip_address=_ip(request))


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # Only the user name is kept: never the password.
    audit_record(
        actor=None,
        action="security.login_failed",
        data={"username": axes_username(request, credentials)[:254]},
        ip_address=_ip(request),
    )
