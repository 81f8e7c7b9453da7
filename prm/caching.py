"""A shared figure that is expensive to compute, kept in the shared cache without stampedes.

`cache_fresh` serves a value for `seconds`; when it turns stale exactly one process (the one that wins an atomic
`cache.add` of a lock key) recomputes it while every other request keeps getting the stale value, so an expiry
under load costs one computation, not one per concurrent request. Only a cold cache (first request after a start
or a flush) makes requests wait for the one computing it; they compute themselves only when nobody is (the holder
died). `cache_refresh` is for a periodic job that keeps a figure fresh, so no request computes it at all.

A figure stays fresh at least BUSY_SHARE times as long as its computation took: a count that takes 20 s on a
network of tens of millions of rows is redone every 200 s or so, not every half minute, so keeping it fresh never
takes more than a tenth of a core (its age is shown with it).

A `compute` may give up and return None (`within`: a request counts only what it can count in a few seconds); then
nothing new is stored, a stale value stays served for another period (the next request does not try again at once),
and with none the caller shows that the figure is being counted.
"""

import time
from collections.abc import Callable

from django.core.cache import cache
from django.db import OperationalError, connection, transaction

KEEP_STALE_FACTOR = 10  # a stale value stays servable this many freshness periods
COLD_WAIT_SECONDS = 10.0  # a computation's lock outlives it by this much at least (see the lock's timeout)
BUSY_SHARE = 10  # a value stays fresh at least this many times as long as computing it took


def cache_fresh(*, key: str, compute: Callable[[], object], seconds: int, now: Callable[[], float] = time.time):
    """The shared value, recomputed by one process when stale; with `seconds` 0 or less, computed live."""
    if seconds <= 0:
        return compute()
    entry = cache.get(key)
    if entry is not None and entry[1] > now():
        return entry[0]
    lock = f"{key}:refreshing"
    if cache.add(lock, 1, timeout=_lock_seconds(seconds)):
        return _compute_and_store(key=key, lock=lock, compute=compute, seconds=seconds, now=now)
    if entry is not None:
        return entry[0]  # stale while the lock holder refreshes
    # Cold: wait for the one computing (however long it takes) rather than compute beside it; compute only once
    # nobody holds the lock any more (its holder died or failed).
    while cache.get(lock) is not None:
        time.sleep(0.05)
        entry = cache.get(key)
        if entry is not None:
            return entry[0]
    entry = cache.get(key)
    return entry[0] if entry is not None else compute()


def cache_refresh(*, key: str, compute: Callable[[], object], seconds: int, now: Callable[[], float] = time.time):
    """Recompute the figure (a periodic job, every `seconds` / 2) unless it stays fresh until the job's next run or
    someone already is recomputing it. Nothing to keep fresh with `seconds` 0 or less (live figures)."""
    if seconds <= 0:
        return None
    entry = cache.get(key)
    if entry is not None and entry[1] - now() > seconds / 2:
        return None
    lock = f"{key}:refreshing"
    if cache.add(lock, 1, timeout=_lock_seconds(seconds)):
        return _compute_and_store(key=key, lock=lock, compute=compute, seconds=seconds, now=now)
    return None


def _lock_seconds(seconds: int) -> int:
    return max(int(COLD_WAIT_SECONDS) * 3, seconds)


def _compute_and_store(*, key: str, lock: str, compute, seconds: int, now):
    try:
        started = now()
        value = compute()
        if value is None:  # gave up (`within`): keep serving what there is, for another period (the job counts)
            entry = cache.get(key)
            if entry is not None:  # so that one request a period tries, not every one after the expiry
                cache.set(key, (entry[0], now() + seconds), timeout=seconds * KEEP_STALE_FACTOR)
            return entry[0] if entry is not None else None
        fresh = max(seconds, (now() - started) * BUSY_SHARE)
        cache.set(key, (value, now() + fresh), timeout=int(fresh * KEEP_STALE_FACTOR))
        return value
    finally:
        cache.delete(lock)


def within(*, ms: int, compute: Callable[[], object]):
    """`compute()` with each of its statements cancelled after `ms` milliseconds (PostgreSQL; elsewhere, and with
    `ms` 0, it runs as it is); None when one was cancelled. For a request that must not wait for a network-wide count
    that a periodic job makes anyway."""
    if connection.vendor != "postgresql" or ms <= 0:
        return compute()
    from psycopg2 import errors

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [ms])
            value = compute()
            with connection.cursor() as cursor:  # an outer transaction goes on without the limit
                cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
            return value
    except OperationalError as exc:
        if isinstance(exc.__cause__, errors.QueryCanceled):
            return None
        raise
