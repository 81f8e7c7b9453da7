"""Texts the system composes (notifications, ledger lines, routing explanations, audit reasons), stored as a code
plus parameters and rendered in the reader's language when shown.

The code is the English source text, marked for translation with `N_` (gettext_noop) so `makemessages` finds it:

    text = compose(N_("New lead offered: %(title)s"), title=lead.title)        # stored (JSON)
    render(text)                                                                # shown, in the active language

Parameters keep their type: dates and moments, amounts (`money(amount, currency)`), counts for plurals
(`compose_plural`), translatable labels (a choice's lazy label, or another composed text) and reference data with
Russian and English names (anything with `name_i18n()`), so each is formatted for the reader too. A plain string
(an old row, or a text a person typed) renders as it is.
"""

import datetime
import functools
import json
from decimal import Decimal

from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop, ngettext

from . import l10n

N_ = gettext_noop

# The marker of a composed text stored in a plain text column (e.g. AuditEvent.reason).
_JSON_PREFIX = '{"t":'


def compose(template: str, /, **params) -> dict:
    """A text as its code (the English source) and parameters, ready to store in a JSON field."""
    return {"t": str(template), "p": {k: _param(v) for k, v in params.items()}}


def compose_plural(singular: str, plural: str, /, count: int, **params) -> dict:
    """A text whose wording depends on `count` (available as %(n)s), in the reader's plural forms."""
    return {"t": str(singular), "pl": str(plural), "n": int(count), "p": {k: _param(v) for k, v in params.items()}}


def money(amount, currency: str) -> dict:
    return {"money": [str(amount), currency]}


def label(lazy_text) -> dict:
    """A translatable label (e.g. `Stage.WON.label`): stored as its source text, translated when shown."""
    return {"t": _msgid(lazy_text), "p": {}}


def _msgid(value) -> str:
    if isinstance(value, Promise):
        args = getattr(value, "_args", ())
        if args and isinstance(args[-1], str):
            return args[-1]
    return str(value)


def _param(value):
    if isinstance(value, dict) or value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, datetime.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"num": str(value)}
    if isinstance(value, Promise):
        return label(value)
    name_i18n = getattr(value, "name_i18n", None)
    if callable(name_i18n):
        return {"i18n": name_i18n()}
    return str(value)


# Texts whose wording an app renders itself (e.g. kpi's tier reasons), registered by name in the app's ready().
RENDERERS: dict = {}


def compose_by(renderer: str, /, **params) -> dict:
    """A text rendered by a registered function of `params` (for wording with structured parts)."""
    return {"t": "", "fn": renderer, "p": params}


def _param_render(value):
    if not isinstance(value, dict):
        return "" if value is None else value
    if "t" in value:
        return render(value)
    if "dt" in value:
        return l10n.datetime_format(value["dt"])
    if "d" in value:
        return l10n.date_format(value["d"])
    if "num" in value:
        return l10n.number_format(value["num"])
    if "money" in value:
        return l10n.money_format(*value["money"])
    if "i18n" in value:
        names = value["i18n"]
        from django.utils.translation import get_language

        lang = (get_language() or "en").split("-")[0]
        return names.get(lang) or names.get("en") or next(iter(names.values()), "")
    if "list" in value:
        return ", ".join(str(_param_render(v)) for v in value["list"])
    if "lines" in value:
        return "\n".join(str(_param_render(v)) for v in value["lines"])
    return str(value)


def render(value) -> str:
    """A stored text in the active language; plain strings (old rows, typed notes) as they are."""
    if not value:
        return ""
    if isinstance(value, str):
        if not value.startswith(_JSON_PREFIX):
            return value
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if not isinstance(value, dict) or "t" not in value:
        return str(value)
    if "fn" in value:
        fn = RENDERERS.get(value["fn"])
        return fn(**(value.get("p") or {})) if fn else ""
    params = {k: _param_render(v) for k, v in (value.get("p") or {}).items()}
    if "pl" in value:
        params.setdefault("n", l10n.number_format(value["n"]))
        template = ngettext(value["t"], value["pl"], value["n"])
    else:
        template = gettext(value["t"]) if value["t"] else ""
    if not params:
        return template
    try:
        return template % params
    except (KeyError, ValueError, TypeError):
        return value["t"] % params if "%" in value["t"] else value["t"]


def dumps(value) -> str:
    """A composed text for a plain text column (read back by `render`); a string stays as it is."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def choice(instance, field: str) -> dict:
    """The label of a choice field's current value (e.g. a status), translated when shown."""
    value = getattr(instance, field)
    return {"t": _choice_msgids(type(instance), field).get(value, str(value)), "p": {}}


@functools.cache
def _choice_msgids(model, field: str) -> dict:
    """A field's choices as value -> label source text, made once per field (the nightly run labels tens of
    thousands of tier changes)."""
    return {key: _msgid(text) for key, text in model._meta.get_field(field).flatchoices}


def compose_lines(items) -> dict:
    """Several composed texts, one per line."""
    return {"t": "%(lines)s", "p": {"lines": {"lines": [_param(i) for i in items]}}}


def loads(value):
    """A composed text kept in a plain text column (see `dumps`) back as a dict; anything else unchanged."""
    if isinstance(value, str) and value.startswith(_JSON_PREFIX):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
