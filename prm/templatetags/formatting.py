"""Built-in template filters (settings.TEMPLATES builtins) that format numbers, money and dates the one way
(`prm/l10n.py`): `{{ amount|money:currency }}`, `{{ n|number }}`, `{{ n|number:1 }}`, `{{ p|percent }}`,
`{{ d|day }}`, `{{ t|moment }}`, `{{ d|month }}`, and `{{ value|text }}` for texts the system composed."""

from django import template

from prm import l10n, texts

register = template.Library()


@register.filter
def number(value, digits=None):
    return l10n.number_format(value, None if digits in (None, "") else int(digits))


@register.filter
def money(amount, currency=None):
    return l10n.money_format(amount, currency or None)


@register.filter
def money_whole(amount, currency=None):
    return l10n.money_format(amount, currency or None, whole=True)


@register.filter
def percent(value, digits=0):
    return l10n.percent_format(value, int(digits or 0))


@register.filter
def day(value):
    return l10n.date_format(value)


@register.filter
def moment(value):
    return l10n.datetime_format(value)


@register.filter
def month(value):
    return l10n.month_format(value)


@register.filter
def text(value):
    """A text the system composed (`prm.texts`), in the reader's language; plain strings as they are."""
    return texts.render(value)


@register.filter
def local(value):
    """A name stored in both languages ({"en": ..., "ru": ...}) in the reader's; anything else as it is."""
    if isinstance(value, dict):
        from django.utils.translation import get_language

        return value.get((get_language() or "en").split("-")[0]) or value.get("en") or ""
    return value
