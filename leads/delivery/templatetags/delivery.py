from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration_hm(seconds) -> str:
    """12345 → "3 h 25 min" (SLA clock figures)."""
    seconds = int(seconds or 0)
    hours, minutes = divmod(seconds // 60, 60)
    if hours:
        return _("%(h)s h %(m)02d min") % {"h": hours, "m": minutes}
    return _("%(m)s min") % {"m": minutes}


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None
