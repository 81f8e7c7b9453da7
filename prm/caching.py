"""A shared figure that is expensive to compute, kept in the shared cache without stampedes.

`cache_fresh` serves a value for `seconds`; when it turns stale exactly one process (the one that wins an atomic
`cache.add` of a lock key) recomputes it while every other request keeps getting the stale value, so an expiry
under load costs one computation, not one per concurrent request. Only a cold cache (first request after a start
or a flush) makes requests wait, briefly, for the one computing it.
"""

import time
from collections.abc import Callable

from django.core.cache import cache

KEEP_STALE_FACTOR = 10  # a stale value stays servable this many freshness periods
COLD_WAIT_SECONDS = 10.0  # how long a request waits for another's first computation before computing itself


def cache_fresh(*, key: str, compute: Callable[[], object], seconds: int, now: Callable[[], float] = time.time):
    entry = cache.get(key)
    if entry is not None and entry[1] > now():
        return entry[0]
    lock = f"{key}:refreshing"
    if cache.add(lock, 1, timeout=max(int(COLD_WAIT_SECONDS) * 3, seconds)):
        try:
            value = compute()
            cache.set(key, (value, now() + seconds), timeout=seconds * KEEP_STALE_FACTOR)
            return value
        finally:
            cache.delete(lock)
    if entry is not None:
        return entry[0]  # stale while the lock holder refreshes
    deadline = time.monotonic() + COLD_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)
        entry = cache.get(key)
        if entry is not None:
            return entry[0]
    return compute()
