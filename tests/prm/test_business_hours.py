from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from prm.business_hours import _calendar, business_deadline, business_time_between, is_business_day

NINE, SIX = time(9), time(18)
MSK = ZoneInfo("Europe/Moscow")


def deadline(start, hours, tz="Europe/Moscow", country="RU", **kw):
    return business_deadline(start=start, hours=hours, tz=tz, country=country, work_start=NINE, work_end=SIX, **kw)


def local(y, m, d, h, mi=0, tz="Europe/Moscow"):
    return datetime(y, m, d, h, mi, tzinfo=ZoneInfo(tz))


def test_within_one_working_day_and_utc_out():
    result = deadline(local(2026, 3, 3, 10), 4)  # Tuesday
    assert result == local(2026, 3, 3, 14)
    assert result.tzinfo == UTC


def test_spills_over_to_the_next_working_day():
    assert deadline(local(2026, 3, 3, 16), Decimal("4")) == local(2026, 3, 4, 11)


def test_weekend_and_public_holiday_are_skipped():
    # Friday 6 March 2026, 17:00; Monday 9 March is the observed Women's Day holiday.
    assert deadline(local(2026, 3, 6, 17), 4) == local(2026, 3, 10, 12)


def test_russian_new_year_holidays_are_skipped():
    # 31 December 2025 (transferred) and 1-9 January 2026 are days off, 10-11 January a weekend:
    # one hour on Tuesday 30 December, the other two on Monday 12 January.
    assert deadline(local(2025, 12, 30, 17), 3) == local(2026, 1, 12, 11)
    assert not is_business_day(datetime(2026, 1, 8).date(), country="RU")


def test_start_before_opening_and_on_a_weekend():
    assert deadline(local(2026, 3, 3, 6, 30), 1) == local(2026, 3, 3, 10)
    assert deadline(local(2026, 3, 14, 12), 1) == local(2026, 3, 16, 10)  # Saturday


def test_multi_day_span():
    # 20 working hours from Monday 09:00 with 9-hour days: 9 + 9 + 2 → Wednesday 11:00.
    assert deadline(local(2026, 3, 2, 9), 20) == local(2026, 3, 4, 11)


def test_fractional_hours():
    assert deadline(local(2026, 3, 3, 10), 1.5) == local(2026, 3, 3, 11, 30)


@pytest.mark.parametrize(
    "tz, expected_local",
    [
        ("Europe/Kaliningrad", (2026, 3, 3, 13)),  # UTC+2: 08:00 local → opens at 09:00, +4h
        ("Europe/Moscow", (2026, 3, 3, 13)),  # UTC+3: 09:00 local, +4h
        ("Asia/Yekaterinburg", (2026, 3, 3, 15)),  # UTC+5: 11:00 local, +4h
        ("Asia/Vladivostok", (2026, 3, 4, 11)),  # UTC+10: 16:00 local, 2h today + 2h tomorrow
        ("Asia/Kamchatka", (2026, 3, 4, 13)),  # UTC+12: 18:00 local, closed → next day 09:00 + 4h
    ],
)
def test_same_moment_across_russian_time_zones(tz, expected_local):
    start = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert deadline(start, 4, tz=tz) == local(*expected_local, tz=tz)


def test_dst_change_in_amsterdam():
    # Friday 27 March 2026 17:00 CET; clocks go forward on Sunday 29 March; 2h → Monday 10:00 CEST.
    start = local(2026, 3, 27, 17, tz="Europe/Amsterdam")
    result = deadline(start, 2, tz="Europe/Amsterdam", country="NL")
    assert result == local(2026, 3, 30, 10, tz="Europe/Amsterdam")
    assert result == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_dutch_holiday_kings_day():
    # Monday 27 April 2026 is King's Day: Friday 17:00 + 2h → Tuesday 10:00.
    start = local(2026, 4, 24, 17, tz="Europe/Amsterdam")
    assert deadline(start, 2, tz="Europe/Amsterdam", country="NL") == local(2026, 4, 28, 10, tz="Europe/Amsterdam")


def test_unknown_country_counts_weekends_only():
    assert deadline(local(2026, 1, 2, 17), 2, country="XX") == local(2026, 1, 5, 10)


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        deadline(datetime(2026, 3, 3, 10), 1)


def test_hours_between_is_the_inverse_of_deadline():
    start = local(2026, 3, 6, 17)
    end = deadline(start, Decimal("4.5"))
    kw = {"tz": "Europe/Moscow", "country": "RU", "work_start": NINE, "work_end": SIX}
    assert business_time_between(start=start, end=end, **kw) == timedelta(hours=4, minutes=30)
    assert business_time_between(start=end, end=start, **kw) == -timedelta(hours=4, minutes=30)
    # A whole weekend plus a holiday counts nothing.
    assert business_time_between(start=local(2026, 3, 6, 18), end=local(2026, 3, 10, 9), **kw) == timedelta(0)


def test_holiday_calendars_are_cached():
    _calendar.cache_clear()
    for _ in range(3):
        deadline(local(2026, 3, 3, 10), 30)
    info = _calendar.cache_info()
    assert info.misses == 1
    assert info.hits > 0
