"""Independent database work on several connections at once.

PostgreSQL runs each statement on one core, so two big statements finish sooner on two connections. Only for
work that needs no uncommitted rows of the caller: inside a transaction (and so in tests that wrap each test in
one) and on SQLite the tasks simply run one after another on the caller's connection.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, connections, transaction


def parallel_jobs() -> int:
    """How many connections to use at most: settings.PRM_DB_JOBS, or one per core (at most 4)."""
    return max(1, settings.PRM_DB_JOBS or min(4, os.cpu_count() or 1))


def can_run_in_parallel() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block and parallel_jobs() > 1


def parallel_map(task, items: list, *, jobs: int | None = None) -> list:
    """[task(item) for item in items], up to `jobs` at a time, each call in its own transaction on its own
    connection. Results keep the order of `items`; the first exception is raised."""
    jobs = jobs or parallel_jobs()
    if jobs == 1 or len(items) < 2 or not can_run_in_parallel():
        return [task(item) for item in items]

    def run(item):
        try:
            with transaction.atomic():
                return task(item)
        finally:
            connections.close_all()  # this worker thread's connections only

    with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        return list(pool.map(run, items))


def parallel_call(*tasks) -> list:
    """Call each zero-argument task as parallel_map does; their results in order."""
    return parallel_map(lambda task: task(), list(tasks))
