"""Deadlines in business hours: working days (no weekends, no public holidays) between work_start and work_end."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=32)
def _calendar(country: str, subdivision: str):
    return holidays.country_holidays(country, subdiv=subdivision or None)


def business_deadline(
    *,
    start: datetime,
    hours: Decimal | float,
    tz: str,
    country: str,
    subdivision: str = "",
    work_start: time,
    work_end: time,
) -> datetime:
    """The moment `hours` working hours after `start`, counted in the calendar of `tz`/`country`; UTC."""
    zone = ZoneInfo(tz)
    calendar = _calendar(country, subdivision)
    remaining = timedelta(seconds=float(Decimal(str(hours)) * 3600))
    current = start.astimezone(zone)
    for _ in range(3660):  # ten years of days: a guard against a calendar with no working day
        day = current.date()
        if day.weekday() < 5 and day not in calendar:
            opens = datetime.combine(day, work_start, zone)
            closes = datetime.combine(day, work_end, zone)
            current = max(current, opens)
            if current < closes:
                if remaining <= closes - current:
                    return (current + remaining).astimezone(UTC)
                remaining -= closes - current
        current = datetime.combine(day + timedelta(days=1), time(0), zone)
    raise ValueError("No working time found in the calendar.")
