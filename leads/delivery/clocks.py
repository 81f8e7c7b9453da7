"""The SLA clock engine: pure transitions of a ticket's response or resolution clock (no database access).

A clock counts *covered* time: every second under 24×7 coverage, only working seconds of the customer's
calendar (time zone, weekends, public holidays; `prm.business_hours`) under business-hour coverage. Its figures:

- `elapsed_seconds`: covered time counted up to `running_since` (checkpointed on every pause and retarget);
- `due_at`: the breach moment while running — `target - elapsed` covered seconds after `running_since`,
  recomputed on resume and on a priority change (elapsed time is kept); empty while paused;
- `warn_at`: the moment 80 % of the target is used, for the "approaching breach" warning.

Each transition mutates the clock and returns the ClockAction it performed (the caller saves the clock and
writes the ClockEvent); an impossible transition raises ClockError.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from prm.business_hours import business_deadline, business_time_between

from .models import ClockAction, ClockState, Coverage, TicketClock

WARN_SHARE = 0.8


class ClockError(ValueError):
    pass


@dataclass(frozen=True)
class Calendar:
    """Where covered time is counted: 24×7, or working hours in a time zone with a country's holidays."""

    always: bool = True
    tz: str = "UTC"
    country: str = "RU"
    subdivision: str = ""
    work_start: time = time(9)
    work_end: time = time(18)

    @classmethod
    def for_contract(cls, contract) -> "Calendar":
        if contract.coverage == Coverage.ALWAYS:
            return cls(always=True)
        return cls(
            always=False,
            tz=contract.timezone,
            country=contract.country,
            subdivision=contract.subdivision,
            work_start=_as_time(contract.work_start),
            work_end=_as_time(contract.work_end),
        )

    def _kw(self) -> dict:
        return {
            "tz": self.tz,
            "country": self.country,
            "subdivision": self.subdivision,
            "work_start": self.work_start,
            "work_end": self.work_end,
        }

    def add(self, start: datetime, seconds: int) -> datetime:
        """The moment `seconds` covered seconds after `start`."""
        if self.always:
            # In UTC: arithmetic on a zone-aware datetime is wall-clock arithmetic (wrong across a DST change).
            return start.astimezone(UTC) + timedelta(seconds=seconds)
        return business_deadline(start=start, hours=timedelta(seconds=seconds), **self._kw())

    def between(self, start: datetime, end: datetime) -> int:
        """Covered whole seconds from `start` to `end` (0 when end is not after start)."""
        if end.astimezone(UTC) <= start.astimezone(UTC):
            return 0
        if self.always:
            return int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds())
        return int(business_time_between(start=start, end=end, **self._kw()).total_seconds())


def _as_time(value) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def _schedule(clock: TicketClock, cal: Calendar, at: datetime) -> None:
    """Running from `at` with `elapsed_seconds` used: the breach and warning moments."""
    clock.running_since = at
    remaining = max(clock.target_seconds - clock.elapsed_seconds, 0)
    clock.due_at = cal.add(at, remaining) if remaining else at
    warn_left = int(clock.target_seconds * WARN_SHARE) - clock.elapsed_seconds
    clock.warn_at = cal.add(at, warn_left) if warn_left > 0 else at


def _checkpoint(clock: TicketClock, cal: Calendar, at: datetime) -> None:
    if at < clock.running_since:
        raise ClockError("a clock cannot change before it last started running")
    clock.elapsed_seconds += cal.between(clock.running_since, at)


def elapsed_at(clock: TicketClock, cal: Calendar, at: datetime) -> int:
    """Covered seconds used by `at` (for display; does not change the clock)."""
    if clock.state == ClockState.RUNNING and clock.running_since is not None:
        return clock.elapsed_seconds + cal.between(clock.running_since, at)
    return clock.elapsed_seconds


def start(clock: TicketClock, cal: Calendar, at: datetime, *, target_seconds: int) -> str:
    if target_seconds <= 0:
        raise ClockError("a clock needs a positive target")
    clock.target_seconds = target_seconds
    clock.started_at = at
    clock.elapsed_seconds = 0
    clock.state = ClockState.RUNNING
    clock.paused_at = clock.stopped_at = None
    _schedule(clock, cal, at)
    return ClockAction.START


def pause(clock: TicketClock, cal: Calendar, at: datetime) -> str:
    if clock.state != ClockState.RUNNING:
        raise ClockError("only a running clock can pause")
    _checkpoint(clock, cal, at)
    clock.state = ClockState.PAUSED
    clock.paused_at = at
    clock.running_since = clock.due_at = clock.warn_at = None
    return ClockAction.PAUSE


def resume(clock: TicketClock, cal: Calendar, at: datetime) -> str:
    if clock.state != ClockState.PAUSED:
        raise ClockError("only a paused clock can resume")
    if at < clock.paused_at:
        raise ClockError("a clock cannot resume before it paused")
    clock.state = ClockState.RUNNING
    clock.paused_at = None
    _schedule(clock, cal, at)
    return ClockAction.RESUME


def stop(clock: TicketClock, cal: Calendar, at: datetime) -> str:
    """The clock's condition is met (responded, resolved). A stop after the target marks the breach if the job
    has not yet done so: `breached_at` is then the moment the target ran out."""
    if clock.state == ClockState.RUNNING:
        _checkpoint(clock, cal, at)
    elif clock.state != ClockState.PAUSED:
        raise ClockError("only a running or paused clock can stop")
    if clock.elapsed_seconds > clock.target_seconds and clock.breached_at is None:
        clock.breached_at = min(clock.due_at or at, at)
    clock.state = ClockState.STOPPED
    clock.stopped_at = at
    clock.running_since = clock.paused_at = clock.warn_at = None
    return ClockAction.STOP


def cancel(clock: TicketClock, cal: Calendar, at: datetime) -> str:
    """The ticket was cancelled: the clock ends without counting for or against the SLA."""
    if clock.state in (ClockState.STOPPED, ClockState.CANCELLED):
        raise ClockError("the clock has already ended")
    if clock.state == ClockState.RUNNING:
        _checkpoint(clock, cal, at)
    clock.state = ClockState.CANCELLED
    clock.stopped_at = at
    clock.running_since = clock.paused_at = clock.warn_at = None
    return ClockAction.CANCEL


def reopen(clock: TicketClock, cal: Calendar, at: datetime) -> str:
    """A resolved ticket is reopened: the stopped clock runs on from the time it had used (the time it stood
    resolved does not count)."""
    if clock.state != ClockState.STOPPED:
        raise ClockError("only a stopped clock can be reopened")
    clock.state = ClockState.RUNNING
    clock.stopped_at = None
    _schedule(clock, cal, at)
    return ClockAction.REOPEN


def retarget(clock: TicketClock, cal: Calendar, at: datetime, *, target_seconds: int) -> str:
    """The priority changed: the new target applies to the time already used (elapsed time is kept)."""
    if target_seconds <= 0:
        raise ClockError("a clock needs a positive target")
    if clock.state == ClockState.RUNNING:
        _checkpoint(clock, cal, at)
        clock.target_seconds = target_seconds
        _schedule(clock, cal, at)
        if clock.breached_at is None and clock.warn_at > at:
            clock.warned_at = None  # a longer target: warn again when the new 80 % comes
    else:
        clock.target_seconds = target_seconds
    return ClockAction.RETARGET


def is_breached(clock: TicketClock, cal: Calendar, at: datetime) -> bool:
    return clock.breached_at is not None or elapsed_at(clock, cal, at) > clock.target_seconds
