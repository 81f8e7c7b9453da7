"""The role home pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from prm.permissions import is_partner_user, is_vendor

from . import selectors


@login_required
def home(request):
    user = request.user
    if is_vendor(user):
        return render(request, "prm/home_vendor.html", selectors.vendor_home_summary() or {"counting": True})
    if is_partner_user(user):
        return render(request, "prm/home_partner.html", selectors.partner_home_summary(partner=user.partner, user=user))
    return render(request, "prm/home_none.html", status=403)
