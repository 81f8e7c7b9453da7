from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from prm.business_hours import business_deadline

MSK = ZoneInfo("Europe/Moscow")
CALENDAR = {"tz": "Europe/Moscow", "country": "RU", "work_start": time(9), "work_end": time(18)}


def test_friday_evening_rolls_over_the_weekend():
    end = business_deadline(start=datetime(2026, 11, 27, 17, 0, tzinfo=MSK), hours=Decimal("4"), **CALENDAR)
    assert end == datetime(2026, 11, 30, 12, 0, tzinfo=MSK)
    assert end.tzinfo == UTC


def test_russian_public_holiday_is_skipped():
    # Thursday 11 June 2026, 17:00; Friday 12 June is Russia Day.
    end = business_deadline(start=datetime(2026, 6, 11, 17, 0, tzinfo=MSK), hours=4, **CALENDAR)
    assert end == datetime(2026, 6, 15, 12, 0, tzinfo=MSK)


def test_start_outside_working_hours_counts_from_opening():
    end = business_deadline(start=datetime(2026, 11, 24, 7, 30, tzinfo=MSK), hours=1.5, **CALENDAR)
    assert end == datetime(2026, 11, 24, 10, 30, tzinfo=MSK)
