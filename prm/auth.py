"""Signing in: the canonical e-mail for django-axes' lock-out key."""

from .models import email_canonical


def axes_username(request, credentials=None) -> str:
    """The lock-out key is the canonical e-mail, so `Admin@X` and `admin@x` share one failure counter."""
    credentials = credentials or {}
    data = getattr(request, "data", None) or getattr(request, "POST", {}) or {}
    for field in ("username", "email", "login"):
        value = credentials.get(field) or data.get(field)
        if value:
            return email_canonical(value)
    return ""
