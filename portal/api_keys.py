"""Portal pages for API keys and their webhooks: partner admins manage their partner's, vendor admins all."""

from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from partners.models import Partner
from prm import webhooks
from prm.api_auth import (
    ALL_SCOPES,
    KEY_STATE_LABELS,
    KeyState,
    api_key_create,
    api_key_reassign,
    api_key_reassign_candidates,
    api_key_state,
    api_keys_for,
)
from prm.api_auth import api_key_revoke as api_key_revoke_service
from prm.models import WebhookEvent, WebhookSubscription
from prm.permissions import can_manage_api_keys, is_partner_admin, is_vendor_admin, role_required


def _can_manage(user) -> bool:
    return is_partner_admin(user) or is_vendor_admin(user)


def mfa_for_keys(view):
    """API keys are managed only with a second factor set up (prm.permissions.can_manage_api_keys)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_manage_api_keys(request.user):
            messages.warning(request, _("Set up two-factor authentication before managing API keys."))
            return redirect("mfa_index")
        return view(request, *args, **kwargs)

    return wrapper


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, help_text=_("e.g. the CRM that will use it"))
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=[(s, s) for s in ALL_SCOPES], widget=forms.CheckboxSelectMultiple
    )
    expires_at = forms.DateTimeField(
        label=_("Expires at"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    partner = forms.ModelChoiceField(
        label=_("Partner"),
        queryset=Partner.objects.all(),
        required=False,
        help_text=_("Leave empty for a vendor-wide key."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not is_vendor_admin(user):
            del self.fields["partner"]


class WebhookForm(forms.Form):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )


@role_required(_can_manage)
@mfa_for_keys
def api_key_list(request):
    form = ApiKeyForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = api_key_create(
                created_by=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                partner=form.cleaned_data.get("partner"),
                expires_at=form.cleaned_data["expires_at"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # The only time the plain key is ever shown: it is not stored.
            return render(request, "prm/api_key_created.html", {"key": key, "raw": raw})
    keys = api_keys_for(viewer=request.user)[:500]
    for key in keys:
        key.state = api_key_state(key=key)
        key.state_label = KEY_STATE_LABELS[key.state]
    return render(request, "prm/api_keys.html", {"keys": keys, "form": form, "ACTIVE": KeyState.ACTIVE})


@role_required(_can_manage)
@mfa_for_keys
def api_key_detail(request, pk):
    key = get_object_or_404(api_keys_for(viewer=request.user), pk=pk)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sub, secret = webhooks.webhook_subscribe(
                api_key=key, url=form.cleaned_data["url"], events=form.cleaned_data["events"], actor=request.user
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return render(request, "prm/api_key_webhook_created.html", {"key": key, "sub": sub, "secret": secret})
    key.state = api_key_state(key=key)
    key.state_label = KEY_STATE_LABELS[key.state]
    return render(
        request,
        "prm/api_key_detail.html",
        {
            "key": key,
            "ACTIVE": KeyState.ACTIVE,
            "reassign_to": api_key_reassign_candidates(key=key) if not key.revoked_at else [],
            "form": form,
            "subscriptions": key.webhooks.all(),
            "deliveries": webhooks.webhook_deliveries_for(api_key=key),
        },
    )


@role_required(_can_manage)
@mfa_for_keys
@require_POST
def api_key_revoke(request, pk):
    key = get_object_or_404(api_keys_for(viewer=request.user), pk=pk)
    api_key_revoke_service(key=key, actor=request.user)
    messages.success(request, _("The key is revoked; requests with it now fail."))
    return redirect("api_keys")


@role_required(_can_manage)
@mfa_for_keys
@require_POST
def api_key_reassign_view(request, pk):
    key = get_object_or_404(api_keys_for(viewer=request.user), pk=pk)
    to_user = next((u for u in api_key_reassign_candidates(key=key) if str(u.pk) == request.POST.get("to_user")), None)
    if to_user is None:
        messages.error(request, _("Choose an active admin who may manage this key."))
    else:
        api_key_reassign(key=key, to_user=to_user, actor=request.user)
        messages.success(request, _("The key now belongs to %(user)s.") % {"user": to_user})
    return redirect("api_key_detail", pk=key.pk)


@role_required(_can_manage)
@mfa_for_keys
@require_POST
def webhook_disable(request, pk, sub_pk):
    key = get_object_or_404(api_keys_for(viewer=request.user), pk=pk)
    sub = get_object_or_404(WebhookSubscription, api_key=key, pk=sub_pk)
    webhooks.webhook_unsubscribe(subscription=sub, actor=request.user)
    return redirect("api_key_detail", pk=key.pk)
