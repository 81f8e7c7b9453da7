"""prm.parallel: independent database work on several connections, or in order where that is not safe."""

import threading

import pytest
from django.db import connection

from partners.models import Partner
from prm.parallel import parallel_call, parallel_map
from tests.partners.factories import PartnerFactory


def _backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


@pytest.mark.django_db
def test_inside_a_transaction_tasks_run_in_order_on_the_callers_connection(settings):
    settings.PRM_DB_JOBS = 4
    PartnerFactory(name="Uncommitted")  # only the caller's connection can see this row
    seen = []
    results = parallel_map(lambda n: seen.append(n) or Partner.objects.filter(name="Uncommitted").count(), [1, 2, 3])
    assert results == [1, 1, 1]
    assert seen == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_tasks_run_at_once_on_their_own_connections(postgres_only, settings):
    settings.PRM_DB_JOBS = 2
    both_running = threading.Barrier(2, timeout=10)  # breaks (and fails the test) unless the two overlap

    def task():
        both_running.wait()
        return _backend_pid()

    first, second = parallel_call(task, task)
    assert len({first, second, _backend_pid()}) == 3


@pytest.mark.django_db(transaction=True)
def test_an_exception_in_a_task_reaches_the_caller(postgres_only, settings):
    settings.PRM_DB_JOBS = 2

    def fail(n):
        if n == 2:
            raise ValueError("task 2 failed")
        return n

    with pytest.raises(ValueError, match="task 2 failed"):
        parallel_map(fail, [1, 2, 3])
