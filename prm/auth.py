"""Signing in: the session backend that asks the one access rule, and the canonical e-mail as axes' lock-out key."""

from django.contrib.auth.backends import ModelBackend

from .models import User, email_canonical
from .permissions import has_access


def axes_username(request, credentials=None) -> str:
    """The lock-out key is the canonical e-mail, so `Admin@X` and `admin@x` share one failure counter."""
    credentials = credentials or {}
    data = getattr(request, "data", None) or getattr(request, "POST", {}) or {}
    for field in ("username", "email", "login"):
        value = credentials.get(field) or data.get(field)
        if value:
            return email_canonical(value)
    return ""


class PortalBackend(ModelBackend):
    """ModelBackend asking prm.permissions.has_access at sign-in and on every request (get_user): a deactivated
    account or a suspended/terminated partner's user is signed out at once, and signed in again on reactivation."""

    def user_can_authenticate(self, user):
        return has_access(user)

    def get_user(self, user_id):
        user = User._default_manager.select_related("partner").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
