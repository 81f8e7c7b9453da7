from django import template

from prm.permissions import is_vendor

from .. import selectors

register = template.Library()


@register.inclusion_tag("enablement/_home_announcements.html", takes_context=True)
def partner_announcements(context, limit: int = 5):
    """Latest announcements for the signed-in user on the home page (the library's one visibility rule)."""
    request = context["request"]
    return {
        "announcements": list(selectors.announcement_list(viewer=request.user)[:limit]),
        "request": request,
        "is_vendor": is_vendor(request.user),
        "csrf_token": context.get("csrf_token"),
    }
