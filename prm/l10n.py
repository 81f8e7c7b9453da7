"""Numbers, money and dates in the reader's language: the one way the portal formats them.

Templates use the built-in filters of `prm.templatetags.formatting` (`number`, `money`, `percent`, `day`, `moment`,
`month`); composed texts (`prm.texts`) and e-mails call these functions. Numbers and money come from Babel (CLDR
data: "5 973 000,00 ₽" in Russian, "RUB 5,973,000.00" in English); dates use the project's format modules
(`prm/formats/<lang>/formats.py`), so a date printed without a filter reads the same as one printed with `day`.
"""

import datetime
import functools
import re
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.numbers import NumberPattern, format_currency, format_decimal, format_percent, parse_pattern
from django.conf import settings
from django.utils import formats, timezone, translation

_LETTERS_THEN_DIGIT = re.compile(r"^([A-Za-z]{2,})(?=[\d-])")


def _locale() -> str:
    return (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> NumberPattern:
    """A parsed number pattern: Babel parses a pattern given as text on every call (a nightly run formats ~20,000
    numbers in its reasons and webhooks)."""
    return parse_pattern(text)


@functools.lru_cache(maxsize=16)
def _percent_pattern(locale: str, digits: int) -> NumberPattern:
    pattern = Locale.parse(locale).percent_formats[None].pattern  # "#,##0%" / "#,##0\xa0%"
    if digits > 0:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * digits, 1)
    return parse_pattern(pattern)


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def number_format(value, digits: int | None = None) -> str:
    """1234567.5 → "1,234,567.5" / "1 234 567,5"; `digits` fixes the decimals (0 rounds to whole numbers)."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    pattern = None
    if digits is not None:
        number = round(number, digits)
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return _number_text(str(number), pattern, _locale())


@functools.lru_cache(maxsize=4096)
def _number_text(number: str, pattern: str | None, locale: str) -> str:
    """Babel takes ~90 µs a number; the lines a nightly run writes repeat the same few (shares, rates)."""
    if pattern is None:
        return format_decimal(Decimal(number), locale=locale)
    return format_decimal(Decimal(number), format=_pattern(pattern), locale=locale, decimal_quantization=True)


def money_format(amount, currency: str | None = None, *, whole: bool = False) -> str:
    """An amount with its currency: "5 973 000,00 ₽", "RUB 5,973,000.00", "€1,200.50"; `whole` drops the cents."""
    number = _decimal(amount)
    if number is None:
        return "" if amount is None else str(amount)
    currency = (currency or settings.PRM_REPORTING_CURRENCY).upper()
    kwargs = {"format": _pattern("¤#,##0" if _locale() == "en" else "#,##0\xa0¤")} if whole else {}
    if whole:
        number = round(number)
    text = format_currency(number, currency, locale=_locale(), currency_digits=not whole, **kwargs)
    # CLDR puts a symbol right before the digits ("€5"); a currency code ("RUB5") needs a space.
    return _LETTERS_THEN_DIGIT.sub("\\1\xa0", text)


def percent_format(value, digits: int = 0) -> str:
    """A percentage given in percent: 87.5 → "87.5%" / "87,5 %" (CLDR's spacing per language)."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    pattern = _percent_pattern(_locale(), digits)
    return format_percent(number / 100, format=pattern, locale=_locale(), decimal_quantization=True)


def date_format(value) -> str:
    """A date (or the local date of a datetime): "Dec 5, 2026" / "5 декабря 2026 г."."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    return _date_text(value, translation.get_language())


@functools.lru_cache(maxsize=4096)
def _date_text(day: datetime.date, language: str | None) -> str:
    """Django looks the format and the month's name up through the translations on every call (~60 µs); a page
    lists the same few days again and again (a deal list prints 150 dates)."""
    return formats.date_format(day, "DATE_FORMAT")


def datetime_format(value, tz=None) -> str:
    """A moment in the reader's (or the given) time zone: "Dec 5, 2026, 14:03" / "5 декабря 2026 г., 14:03"."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime.datetime):
        return date_format(value)
    if timezone.is_aware(value):
        value = timezone.localtime(value, timezone=tz)
    # The formats show the wall clock to the minute and no time zone: the local minute is the whole input.
    return _moment_text(value.replace(second=0, microsecond=0, tzinfo=None), translation.get_language())


@functools.lru_cache(maxsize=4096)
def _moment_text(moment: datetime.datetime, language: str | None) -> str:
    return formats.date_format(moment, "DATETIME_FORMAT")


def month_format(value) -> str:
    """A month: "December 2026" / "Декабрь 2026"."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return formats.date_format(value, "YEAR_MONTH_FORMAT")
