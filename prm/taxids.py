"""Tax ids: the one rule for validating and canonicalising a company's tax id before any comparison.

Customers (leads.customers) and partners (partners.services) both call it, so a tax id typed through any door is
read the same way. A Russian INN is digits only (Cyrillic/Latin «О» read as zero, «З» as three, separators and an
"RU" prefix dropped, a leading zero lost by a spreadsheet put back, a stray one removed); an EU VAT number keeps its
country prefix ("DE136695976"); other countries use python-stdnum's VAT module where there is one.
"""

import re
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.ru import inn
from stdnum.util import get_cc_module

# ----------------------------------------------------------------------------------------------------

# Letters typed for digits in a Russian INN (Cyrillic and Latin look-alikes).
_INN_LOOKALIKES = str.maketrans({"О": "0", "о": "0", "O": "0", "o": "0", "З": "3", "з": "3"})
# Cyrillic letters typed for Latin ones in a VAT number ("DЕ" with a Cyrillic Е).
_LATIN_LOOKALIKES = str.maketrans(dict(zip("АВЕКМНОРСТХаеорсух", "ABEKMHOPCTXaeopcyx", strict=True)))
_SEPARATORS = re.compile(r"[\s\-./_,]+")
_EU = {cc.upper() for cc in eu_vat.MEMBER_STATES} | {"EL"}


def _inn_compact(value: str) -> str:
    text = _SEPARATORS.sub("", value.translate(_INN_LOOKALIKES))
    if text[:2].upper() in ("RU", "РУ"):
        text = text[2:]
    if not text.isdigit():
        return text.upper()
    # A spreadsheet drops a leading zero ("0105…" → "105…"); a form adds one: the valid reading wins.
    if len(text) in (9, 11) and inn.is_valid("0" + text):
        return "0" + text
    if len(text) in (11, 13) and text[0] == "0" and inn.is_valid(text[1:]):
        return text[1:]
    return text


def _country_of(value: str, country: str) -> str:
    """The country a tax id belongs to: its own prefix ("DE 136…") wins over the customer's country."""
    prefix = value.strip().translate(_LATIN_LOOKALIKES)[:2].upper()
    if prefix in _EU or prefix == "RU":
        return "GR" if prefix == "EL" else prefix
    return (country or "RU").upper()


def _vat_module(country: str):
    if country in _EU or country == "GR":
        return eu_vat
    return get_cc_module(country.lower(), "vat") if re.fullmatch(r"[A-Z]{2}", country) else None


def _vat_number(value: str, country: str) -> str:
    text = _SEPARATORS.sub("", value.translate(_LATIN_LOOKALIKES)).upper()
    if country in _EU or country == "GR":
        prefix = "EL" if country == "GR" else country
        return text if text[:2] == prefix else prefix + text
    return text


@lru_cache(maxsize=10_000)  # a CRM batch names each customer many times
def tax_id_canonical(value: str | None, country: str = "RU") -> str:
    """The comparable form of a tax id, without raising (lookups, stored data): the valid reading when there is
    one, else the compacted text (which then matches nothing valid)."""
    value = (value or "").strip()
    if not value:
        return ""
    country = _country_of(value, country)
    if country == "RU":
        return _inn_compact(value)
    module = _vat_module(country)
    if module is None:
        return re.sub(r"[^0-9A-Z]", "", value.translate(_LATIN_LOOKALIKES).upper())
    number = _vat_number(value, country)
    try:
        return module.compact(number)
    except StdnumError:
        return number


def _inn_digits_valid(number: str) -> bool:
    """A canonical INN of 10 or 12 ASCII digits whose check digits match (python-stdnum's)."""
    if not (number.isascii() and number.isdigit()):
        return False
    if len(number) == 10:
        return inn.calc_company_check_digit(number) == number[-1]
    return len(number) == 12 and inn.calc_personal_check_digits(number) == number[-2:]


def tax_id_clean(value: str | None, country: str = "RU") -> str:
    """The canonical tax id, or a ValidationError saying what is wrong (forms, serializers, bulk items, admin)."""
    value = (value or "").strip()
    if not value:
        return ""
    canonical = tax_id_canonical(value, country)
    country = _country_of(value, country)
    if country == "RU":
        if _inn_digits_valid(canonical):  # the common case: what inn.validate returns, without its re-cleaning
            return canonical
        try:
            return inn.validate(canonical)
        except InvalidLength as exc:  # a subclass of InvalidFormat: first
            raise ValidationError(_("A Russian INN has 10 digits (a company) or 12 (a sole proprietor).")) from exc
        except InvalidFormat as exc:
            raise ValidationError(_("A Russian INN has digits only.")) from exc
        except InvalidChecksum as exc:
            raise ValidationError(_("The INN's check digit does not match: look for a typo.")) from exc
        except StdnumError as exc:
            raise ValidationError(_("This is not a valid Russian INN.")) from exc
    module = _vat_module(country)
    if module is None:
        if not 5 <= len(canonical) <= 20:
            raise ValidationError(_("A tax id has 5 to 20 letters and digits."))
        return canonical
    try:
        return module.compact(module.validate(_vat_number(value, country)))
    except StdnumError as exc:
        raise ValidationError(
            _("This is not a valid tax id for %(country)s: check the digits.") % {"country": country}
        ) from exc
