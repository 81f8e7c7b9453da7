"""Single sign-on discovery: the e-mail's domain picks the partner's identity provider (SsoDomain)."""

from allauth.socialaccount.adapter import get_adapter
from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from .auth import sso_app_for_email


class SsoForm(forms.Form):
    email = forms.EmailField(label=_("Work e-mail"))


@require_http_methods(["GET", "POST"])
def sso_start(request):
    """Ask for the work e-mail, then go to the provider bound to its domain (allauth's login URL for it)."""
    form = SsoForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        app = sso_app_for_email(email=form.cleaned_data["email"])
        if app is None:
            form.add_error("email", _("Single sign-on is not set up for this e-mail domain: sign in with a password."))
        else:
            provider = get_adapter(request).get_provider(request, app.provider_id or app.provider)
            next_url = request.POST.get("next", "")
            params = {"process": "login"}
            if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
                params["next"] = next_url
            messages.info(request, _("Continue to sign in with %(provider)s.") % {"provider": app.name})
            return redirect(provider.get_login_url(request, **params))
    return render(request, "account/sso_start.html", {"form": form, "next": request.GET.get("next", "")})
