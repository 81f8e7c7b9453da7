"""The nightly run: KPI snapshots → commission ledger → tier evaluation, single-flight and resumable."""

import datetime
import logging
import time
import traceback
from contextlib import contextmanager

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from prm.bulk import gc_paused

from ..models import NightlyRun, RunStatus
from .ledger import commission_accrue, sla_penalties_book
from .snapshots import kpi_snapshots_compute
from .tiers import tier_evaluate

log = logging.getLogger(__name__)

# Fixed key of the PostgreSQL advisory lock that makes the run single-flight across workers and hosts.
ADVISORY_LOCK_KEY = 7_202_611


@contextmanager
def _single_flight():
    """Yields True when this process may run. PostgreSQL: a session advisory lock; elsewhere: always True
    (the unique run row per date and the stale check guard those databases)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        acquired = cur.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def _claim(on: datetime.date, *, locked: bool) -> NightlyRun | None:
    """The run row for the date, marked running; None when there is nothing to do or another run is alive."""
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                return NightlyRun.objects.create(date=on, started_at=now, status=RunStatus.RUNNING)
        except IntegrityError:
            pass
        run = NightlyRun.objects.select_for_update().get(date=on)
        if run.status == RunStatus.SUCCEEDED:
            return None
        stale = now - run.started_at > datetime.timedelta(minutes=settings.PRM_NIGHTLY_STALE_MINUTES)
        # Holding the advisory lock, a "running" row can only be left by a dead worker.
        if run.status == RunStatus.RUNNING and not (locked or stale):
            return None
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.finished_at = None
        run.attempts += 1
        run.errors = ""
        run.save()
        return run


PHASES = (
    ("kpi", lambda on, run: {"snapshots": kpi_snapshots_compute(on=on)}),
    ("ledger", lambda on, run: {**commission_accrue(on=on), **sla_penalties_book(on=on)}),
    ("tiers", lambda on, run: {"changes": len(tier_evaluate(on=on, run=run))}),
)


def nightly_run(*, on: datetime.date) -> NightlyRun | None:
    """Run every phase for `on`. Returns None when another run holds the lock or the date is already done.

    Each phase commits on its own and is idempotent, so a run killed half-way is simply run again by the next
    start (attempts + 1); a phase that fails rolls back entirely and the run is recorded as failed.
    """
    with _single_flight() as acquired:
        if not acquired:
            log.info("nightly run for %s skipped: another run holds the lock", on)
            return None
        run = _claim(on, locked=connection.vendor == "postgresql")
        if run is None:
            return None
        counts = {}
        for name, phase in PHASES:
            started = time.monotonic()
            try:
                with gc_paused():  # a phase holds its rows (100,000 partners' decisions at 10×) until it ends
                    result = phase(on, run)
            except Exception:
                log.exception("nightly run %s failed in phase %s", on, name)
                run.status = RunStatus.FAILED
                run.errors = f"phase {name}:\n{traceback.format_exc()}"[-5000:]
                run.finished_at = timezone.now()
                run.counts = counts
                run.save(update_fields=["status", "errors", "finished_at", "counts"])
                raise
            counts[name] = {**result, "seconds": round(time.monotonic() - started, 3)}
            run.counts = counts
            run.save(update_fields=["counts"])
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        return run


def nightly_default_date() -> datetime.date:
    """Yesterday in the vendor's time zone: the last complete day."""
    return timezone.localdate() - datetime.timedelta(days=1)
