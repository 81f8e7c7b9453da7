"""The SLA clock engine on hand-built cases (pure: unsaved clocks, no database)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from leads.delivery import clocks
from leads.delivery.models import ClockState, TicketClock

H = 3600
BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")
ALWAYS = clocks.Calendar(always=True)
BERLIN_HOURS = clocks.Calendar(always=False, tz="Europe/Berlin", country="DE", work_start=time(9), work_end=time(18))
MOSCOW_HOURS = clocks.Calendar(always=False, tz="Europe/Moscow", country="RU", work_start=time(9), work_end=time(18))


def started(cal, at, target):
    clock = TicketClock(kind="resolution")
    clocks.start(clock, cal, at, target_seconds=target)
    return clock


def test_24x7_pause_and_resume_moves_the_breach_by_the_pause():
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, 4 * H)
    assert clock.due_at == t0 + timedelta(hours=4)
    assert clock.warn_at == t0 + timedelta(hours=3, minutes=12)  # 80 % of the target
    clocks.pause(clock, ALWAYS, t0 + timedelta(hours=1))
    assert (clock.state, clock.elapsed_seconds, clock.due_at) == (ClockState.PAUSED, H, None)
    clocks.resume(clock, ALWAYS, t0 + timedelta(hours=3))
    assert clock.due_at == t0 + timedelta(hours=6)  # recomputed on resume: 3 h left from 13:00


def test_pause_across_midnight_24x7_does_not_count_the_pause():
    t0 = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, 2 * H)
    clocks.pause(clock, ALWAYS, datetime(2026, 3, 2, 23, 50, tzinfo=UTC))
    clocks.resume(clock, ALWAYS, datetime(2026, 3, 3, 0, 10, tzinfo=UTC))
    assert clock.elapsed_seconds == 50 * 60
    assert clock.due_at == datetime(2026, 3, 3, 1, 20, tzinfo=UTC)


def test_pause_across_midnight_in_business_hours():
    # Monday 17:00 Moscow, 2 working hours: 1 h on Monday, then Tuesday from 09:00.
    t0 = datetime(2026, 3, 2, 17, 0, tzinfo=MOSCOW)
    clock = started(MOSCOW_HOURS, t0, 2 * H)
    assert clock.due_at == datetime(2026, 3, 3, 10, 0, tzinfo=MOSCOW)
    clocks.pause(clock, MOSCOW_HOURS, datetime(2026, 3, 2, 17, 30, tzinfo=MOSCOW))
    clocks.resume(clock, MOSCOW_HOURS, datetime(2026, 3, 3, 9, 15, tzinfo=MOSCOW))
    assert clock.elapsed_seconds == 30 * 60
    assert clock.due_at == datetime(2026, 3, 3, 10, 45, tzinfo=MOSCOW)
    # The night and the pause count nothing; the stop at 10:00 is within the target.
    clocks.stop(clock, MOSCOW_HOURS, datetime(2026, 3, 3, 10, 0, tzinfo=MOSCOW))
    assert clock.elapsed_seconds == 75 * 60 and clock.breached_at is None


def test_dst_change_in_business_hours():
    # Friday 27 March 2026, 16:00 CET; summer time starts on Sunday 29 March. 4 working hours: 2 on Friday,
    # 2 on Monday from 09:00 CEST (07:00 UTC, an hour earlier in UTC than the week before).
    t0 = datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN)
    clock = started(BERLIN_HOURS, t0, 4 * H)
    assert clock.due_at == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    assert clock.due_at.astimezone(BERLIN).hour == 11
    assert BERLIN_HOURS.between(t0, clock.due_at) == 4 * H


def test_dst_change_24x7_counts_real_hours():
    t0 = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    clock = started(ALWAYS, t0, 24 * H)
    # 24 real hours; on the wall clock of Berlin it is 13:00 the next day (the night lost an hour).
    assert clock.due_at.astimezone(BERLIN) == datetime(2026, 3, 29, 13, 0, tzinfo=BERLIN)


def test_holidays_of_the_customers_calendar():
    # Thursday 2 April 2026, 17:00: Good Friday and Easter Monday are holidays in Germany, not in Russia.
    clock = started(BERLIN_HOURS, datetime(2026, 4, 2, 17, 0, tzinfo=BERLIN), 2 * H)
    assert clock.due_at == datetime(2026, 4, 7, 10, 0, tzinfo=BERLIN)
    clock = started(MOSCOW_HOURS, datetime(2026, 4, 2, 17, 0, tzinfo=MOSCOW), 2 * H)
    assert clock.due_at == datetime(2026, 4, 3, 10, 0, tzinfo=MOSCOW)


def test_24x7_ignores_holidays_and_weekends():
    t0 = datetime(2026, 4, 2, 17, 0, tzinfo=BERLIN)
    assert started(ALWAYS, t0, 2 * H).due_at == t0 + timedelta(hours=2)


def test_priority_change_mid_clock_keeps_elapsed_time():
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, 8 * H)  # P3
    clocks.retarget(clock, ALWAYS, t0 + timedelta(hours=2), target_seconds=4 * H)  # raised to P1
    assert clock.elapsed_seconds == 2 * H
    assert clock.due_at == t0 + timedelta(hours=4)
    # Lowered to a target already used up: due at once (the job flags it within a minute).
    clocks.retarget(clock, ALWAYS, t0 + timedelta(hours=3), target_seconds=1 * H)
    assert clock.due_at == t0 + timedelta(hours=3)
    assert clocks.is_breached(clock, ALWAYS, t0 + timedelta(hours=3, seconds=1))


def test_priority_change_while_paused_applies_on_resume():
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, 8 * H)
    clocks.pause(clock, ALWAYS, t0 + timedelta(hours=1))
    clocks.retarget(clock, ALWAYS, t0 + timedelta(hours=2), target_seconds=4 * H)
    assert clock.due_at is None and clock.target_seconds == 4 * H
    clocks.resume(clock, ALWAYS, t0 + timedelta(hours=5))
    assert clock.due_at == t0 + timedelta(hours=8)


def test_reopen_runs_on_from_the_time_used():
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, 4 * H)
    clocks.stop(clock, ALWAYS, t0 + timedelta(hours=3))
    assert clock.state == ClockState.STOPPED and clock.breached_at is None and clock.elapsed_seconds == 3 * H
    clocks.reopen(clock, ALWAYS, t0 + timedelta(days=2))
    assert clock.state == ClockState.RUNNING
    assert clock.due_at == t0 + timedelta(days=2, hours=1)


def test_stop_after_the_target_is_a_breach_at_the_due_moment():
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, 1 * H)
    clocks.stop(clock, ALWAYS, t0 + timedelta(hours=2))
    assert clock.breached_at == t0 + timedelta(hours=1)


def test_cancel_ends_the_clock_without_a_breach():
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, 1 * H)
    clocks.cancel(clock, ALWAYS, t0 + timedelta(hours=2))
    assert clock.state == ClockState.CANCELLED and clock.breached_at is None


@pytest.mark.parametrize(
    "step",
    [
        lambda c, at: clocks.resume(c, ALWAYS, at),  # not paused
        lambda c, at: clocks.reopen(c, ALWAYS, at),  # not stopped
        lambda c, at: clocks.pause(c, ALWAYS, at - timedelta(days=1)),  # before it started
        lambda c, at: clocks.start(c, ALWAYS, at, target_seconds=0),
    ],
)
def test_impossible_transitions_are_refused(step):
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    clock = started(ALWAYS, t0, H)
    with pytest.raises(clocks.ClockError):
        step(clock, t0 + timedelta(minutes=5))


def test_24x7_pause_across_the_dst_night_counts_real_seconds():
    t0 = datetime(2026, 3, 28, 22, 0, tzinfo=BERLIN)
    clock = started(ALWAYS, t0, 10 * H)
    clocks.pause(clock, ALWAYS, datetime(2026, 3, 29, 4, 0, tzinfo=BERLIN))
    assert clock.elapsed_seconds == 5 * H  # 22:00 CET to 04:00 CEST is five real hours
