"""Exchange rates to the reporting currency (program configuration, issue 17 item 7). Money code converts with
the stored rates (kpi.services.ledger.Rates, kpi.services.snapshots.fx_rate_expr); a rate is added, never edited,
so amounts already converted keep the rate they were converted with."""

import datetime
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from leads.models import OPEN_STAGES, Lead
from prm.models import User
from prm.services import audit_record

from ..models import ExchangeRate

_CODE = re.compile(r"^[A-Z]{3}$")


def exchange_rate_list(*, limit: int = 200) -> list[ExchangeRate]:
    """The newest rates first, per currency."""
    return list(ExchangeRate.objects.order_by("currency", "-valid_from")[:limit])


def exchange_rate_in_force(*, currency: str, on: datetime.date) -> ExchangeRate | None:
    return ExchangeRate.objects.filter(currency=currency, valid_from__lte=on).order_by("-valid_from").first()


def exchange_rate_check(*, currency: str, rate) -> tuple[str, Decimal]:
    """The rate's rules, raised as field errors; returns the normalised currency code and rate."""
    currency = (currency or "").strip().upper()
    if not _CODE.match(currency):
        raise ValidationError({"currency": _("Enter a three-letter currency code (ISO 4217), e.g. USD.")})
    if currency == settings.PRM_REPORTING_CURRENCY:
        raise ValidationError(
            {"currency": _("%(code)s is the reporting currency: its rate is always 1.") % {"code": currency}}
        )
    rate = Decimal(str(rate))
    if rate <= 0:
        raise ValidationError({"rate": _("The rate must be greater than zero.")})
    return currency, rate


def exchange_rate_impact(*, currency: str, valid_from: datetime.date, rate) -> dict:
    """What the new rate would change: the open pipeline in this currency converted with the rate in force on
    `valid_from` and with the new one (one aggregate over the open deals in that currency)."""
    currency, rate = exchange_rate_check(currency=currency, rate=rate)
    in_force = exchange_rate_in_force(currency=currency, on=valid_from)
    row = Lead.objects.filter(currency=currency, stage__in=OPEN_STAGES).aggregate(total=Sum("value"))
    total = row["total"] or Decimal(0)
    deals = Lead.objects.filter(currency=currency, stage__in=OPEN_STAGES).count()
    return {
        "currency": currency,
        "rate": rate,
        "in_force": in_force,
        "deals": deals,
        "total": total,
        "reporting_now": (total * in_force.rate).quantize(Decimal("0.01")) if in_force else None,
        "reporting_new": (total * rate).quantize(Decimal("0.01")),
        "reporting_currency": settings.PRM_REPORTING_CURRENCY,
    }


def exchange_rate_add(*, currency: str, valid_from: datetime.date, rate, actor: User | None) -> ExchangeRate:
    """Add the rate of `currency` to the reporting currency valid from `valid_from`; audited."""
    currency, rate = exchange_rate_check(currency=currency, rate=rate)
    if ExchangeRate.objects.filter(currency=currency, valid_from=valid_from).exists():
        raise ValidationError({"valid_from": _("A rate of this currency already starts on this date.")})
    try:
        with transaction.atomic():
            obj = ExchangeRate(currency=currency, valid_from=valid_from, rate=rate)
            obj.full_clean()
            obj.save()
            audit_record(
                actor=actor,
                action="exchange_rate.added",
                target=obj,
                data={"currency": currency, "valid_from": valid_from.isoformat(), "rate": str(rate)},
            )
    except IntegrityError as exc:  # the same rate added at the same moment by someone else
        raise ValidationError({"valid_from": _("A rate of this currency already starts on this date.")}) from exc
    return obj
