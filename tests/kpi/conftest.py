import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from tests.partners.factories import TierFactory, TierRequirementFactory

DAY = datetime.date(2026, 6, 15)


def at(day: datetime.date, hour: int = 12, minute: int = 0) -> datetime.datetime:
    """A moment on a day in the vendor's time zone."""
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=ZoneInfo(settings.TIME_ZONE))


@pytest.fixture
def day():
    return DAY


@pytest.fixture
def tiers(db):
    """Registered (entry, no requirements) < Silver (acceptance ≥ 80) < Gold (acceptance ≥ 95, 2 security people)."""
    from tests.partners.factories import CompetencyFactory

    security = CompetencyFactory(code="security", name="Security")
    registered = TierFactory(code="registered", name="Registered", rank=0, commission_rate=Decimal("0.0500"))
    silver = TierFactory(code="silver", name="Silver", rank=1, commission_rate=Decimal("0.1000"))
    gold = TierFactory(code="gold", name="Gold", rank=2, commission_rate=Decimal("0.1500"))
    TierRequirementFactory(tier=silver, metric="sla_acceptance", threshold=Decimal("80"))
    TierRequirementFactory(tier=gold, metric="sla_acceptance", threshold=Decimal("95"))
    TierRequirementFactory(tier=gold, metric="certified_people", competency=security, threshold=Decimal("2"))
    return {"registered": registered, "silver": silver, "gold": gold, "security": security}
