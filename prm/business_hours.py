"""Business-hour arithmetic for SLAs: working hours in a local time zone, weekends and public holidays off.

Pure functions, shared by every SLA in the portal (lead acceptance, first contact, vendor requests).
Aware datetimes in, aware UTC datetimes out. Holiday calendars come from the `holidays` library (Russia's
New Year holidays and transferred days off included) and are cached per (country, subdivision, year).
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

# A calendar without a single working day would loop forever; ten years is far beyond any SLA.
_MAX_DAYS = 3660


@lru_cache(maxsize=512)
def _calendar(country: str, subdivision: str, year: int) -> tuple[frozenset[date], frozenset[int]]:
    """Holiday dates and weekend weekdays (0=Monday) for one country/subdivision/year."""
    try:
        cal = holidays.country_holidays(country.upper(), subdiv=subdivision or None, years=year)
    except NotImplementedError:
        # Unknown country or subdivision: weekends only, rather than failing an SLA computation.
        return frozenset(), frozenset({5, 6})
    return frozenset(cal.keys()), frozenset(cal.weekend)


def is_business_day(day: date, *, country: str, subdivision: str = "") -> bool:
    holiday_dates, weekend = _calendar(country, subdivision, day.year)
    return day.weekday() not in weekend and day not in holiday_dates


def _window(day: date, zone: ZoneInfo, work_start: time, work_end: time) -> tuple[datetime, datetime]:
    """One day's working window in UTC (durations in UTC stay right on DST change days)."""
    opens = datetime.combine(day, work_start, tzinfo=zone).astimezone(UTC)
    closes = datetime.combine(day, work_end, tzinfo=zone).astimezone(UTC)
    return opens, closes


def _check(start: datetime, work_start: time, work_end: time) -> None:
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("business-hour arithmetic needs an aware datetime")
    if work_start >= work_end:
        raise ValueError("working hours must start before they end")


def business_deadline(
    *,
    start: datetime,
    hours: Decimal | float | int | timedelta,
    tz: str,
    country: str,
    subdivision: str = "",
    work_start: time,
    work_end: time,
) -> datetime:
    """The moment `hours` working hours after `start`, counted in the local calendar of `tz`/`country`.

    Time outside working hours, on weekends and on public holidays does not count; a start outside hours
    begins counting at the next opening. Zero hours gives the next working moment at or after `start`.
    `hours` may be a timedelta (exact, as SLA clocks need).
    """
    _check(start, work_start, work_end)
    exact = isinstance(hours, timedelta)
    remaining = hours if exact else timedelta(microseconds=int(Decimal(str(hours)) * 3_600_000_000))
    if remaining < timedelta():
        raise ValueError("hours must not be negative")
    zone = ZoneInfo(tz)
    cursor = start.astimezone(UTC)
    day = start.astimezone(zone).date()
    for _ in range(_MAX_DAYS):
        if is_business_day(day, country=country, subdivision=subdivision):
            opens, closes = _window(day, zone, work_start, work_end)
            begin = max(cursor, opens)
            if begin < closes or (begin == closes and not remaining):
                if begin + remaining <= closes:
                    return begin + remaining
                remaining -= closes - begin
        day += timedelta(days=1)
    raise ValueError("no working time found within ten years")


def business_time_between(
    *,
    start: datetime,
    end: datetime,
    tz: str,
    country: str,
    subdivision: str = "",
    work_start: time,
    work_end: time,
) -> timedelta:
    """Exact working time between two moments (negative when `end` is before `start`); SLA clocks add it up."""
    _check(start, work_start, work_end)
    _check(end, work_start, work_end)
    if end < start:
        return -business_time_between(
            start=end,
            end=start,
            tz=tz,
            country=country,
            subdivision=subdivision,
            work_start=work_start,
            work_end=work_end,
        )
    zone = ZoneInfo(tz)
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta()
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    while day <= last:
        if is_business_day(day, country=country, subdivision=subdivision):
            opens, closes = _window(day, zone, work_start, work_end)
            overlap = min(closes, end_utc) - max(opens, start_utc)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total
