from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import services
from .models import Notification, NotificationKind, User
from .tasks import BEAT_TICK_KEY


@login_required
def notification_list(request):
    notifications = Notification.objects.filter(user=request.user).order_by("-created_at")[:200]
    return render(request, "prm/notifications.html", {"notifications": notifications})


@login_required
@require_POST
def notifications_read(request):
    ids = request.POST.getlist("id") or None
    services.notifications_mark_read(user=request.user, ids=ids)
    return redirect(request.POST.get("next") or "notifications")


class PreferencesForm(forms.ModelForm):
    email_events = forms.MultipleChoiceField(
        choices=NotificationKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("E-mail me at once about"),
        help_text=_("Everything also reaches your inbox in the portal."),
    )

    class Meta:
        model = User
        fields = ["first_name", "last_name", "phone", "job_title", "language", "email_events", "email_digest"]
        help_texts = {
            "email_digest": _("Once a day, one e-mail listing yesterday's other notifications."),
            "language": _("The language of the portal and of your e-mails."),
        }


@login_required
def preferences(request):
    form = PreferencesForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if user.language:
            translation.activate(user.language)
        messages.success(request, _("Your preferences are saved."))
        response = redirect("preferences")
        if user.language:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax")
        return response
    return render(request, "prm/preferences.html", {"form": form})


@never_cache
def healthz(request):
    """For load balancers and CI: database and broker must answer; the last beat tick is reported."""
    result = {"status": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        result["database"] = {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure
        result["database"] = {"ok": False, "error": str(exc)}
    try:
        from .celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            result["broker"] = {"ok": True, "transport": str(conn.transport_cls)}
    except Exception as exc:  # noqa: BLE001
        result["broker"] = {"ok": False, "error": str(exc)}
    try:
        result["beat"] = {"last_tick": cache.get(BEAT_TICK_KEY)}
    except Exception as exc:  # noqa: BLE001
        result["beat"] = {"last_tick": None, "error": str(exc)}
    ok = result["database"]["ok"] and result["broker"]["ok"]
    result["status"] = "ok" if ok else "fail"
    return JsonResponse(result, status=200 if ok else 503)
