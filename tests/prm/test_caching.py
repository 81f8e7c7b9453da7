"""prm.caching: one computation per expiry, the stale value for everyone else meanwhile; a periodic refresh."""

import threading

import pytest
from django.core.cache import cache

from prm.caching import cache_fresh, cache_refresh


@pytest.fixture(autouse=True)
def local_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fresh"}}
    cache.clear()
    yield
    cache.clear()


class Clock:
    def __init__(self):
        self.t = 1_000.0

    def __call__(self):
        return self.t


def test_a_fresh_value_is_served_without_computing():
    clock, calls = Clock(), []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache_fresh(key="k", compute=compute, seconds=60, now=clock) == 1
    clock.t += 59
    assert cache_fresh(key="k", compute=compute, seconds=60, now=clock) == 1
    assert len(calls) == 1
    clock.t += 2  # stale: the next request recomputes
    assert cache_fresh(key="k", compute=compute, seconds=60, now=clock) == 2


def test_while_one_request_refreshes_the_others_get_the_stale_value():
    clock = Clock()
    cache_fresh(key="k", compute=lambda: "old", seconds=60, now=clock)
    clock.t += 120
    cache.add("k:refreshing", 1)  # another process is computing
    assert cache_fresh(key="k", compute=lambda: pytest.fail("computed twice"), seconds=60, now=clock) == "old"


def test_concurrent_requests_at_expiry_compute_once():
    clock, calls, started = Clock(), [], threading.Event()
    cache_fresh(key="k", compute=lambda: "old", seconds=60, now=clock)
    clock.t += 120

    def slow():
        calls.append(1)
        started.set()
        threading.Event().wait(0.2)
        return "new"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache_fresh(key="k", compute=slow, seconds=60, now=clock)))
               for _ in range(8)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results.count("new") == 1 and results.count("old") == 7
    assert cache_fresh(key="k", compute=slow, seconds=60, now=clock) == "new"


def test_a_cold_cache_makes_the_others_wait_for_the_first_computation():
    calls, results = [], []

    def slow():
        calls.append(1)
        threading.Event().wait(0.2)
        return "first"

    threads = [threading.Thread(target=lambda: results.append(cache_fresh(key="cold", compute=slow, seconds=60)))
               for _ in range(5)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and results == ["first"] * 5


def test_a_cold_waiter_computes_itself_once_the_holder_is_gone():
    cache.add("gone:refreshing", 1)  # a process took the lock and died
    threading.Timer(0.1, lambda: cache.delete("gone:refreshing")).start()  # the lock's timeout
    assert cache_fresh(key="gone", compute=lambda: "mine", seconds=60) == "mine"


def test_the_periodic_refresh_keeps_requests_from_computing():
    clock = Clock()
    assert cache_refresh(key="k", compute=lambda: "counted", seconds=60, now=clock) == "counted"
    clock.t += 30
    assert cache_refresh(key="k", compute=lambda: "recounted", seconds=60, now=clock) == "recounted"
    clock.t += 59  # a request 89 s after the first count still finds a fresh value
    assert cache_fresh(key="k", compute=lambda: pytest.fail("a request computed"), seconds=60, now=clock) == "recounted"
    cache.add("k:refreshing", 1)  # a request is counting: the job does not count beside it
    assert cache_refresh(key="k", compute=lambda: pytest.fail("computed twice"), seconds=60, now=clock) is None


def test_a_slow_computation_stays_fresh_ten_times_as_long_as_it_took():
    clock = Clock()

    def slow(value):
        clock.t += 20  # a 20 s count
        return value

    assert cache_refresh(key="k", compute=lambda: slow("counted"), seconds=60, now=clock) == "counted"
    for _run in range(5):  # the job's next runs (every 30 s) leave it: fresh for 200 s after the count
        clock.t += 30
        assert cache_refresh(key="k", compute=lambda: pytest.fail("recounted too soon"), seconds=60, now=clock) is None
    clock.t += 30  # 170 s after the count: it would turn stale before the next run
    assert cache_refresh(key="k", compute=lambda: slow("recounted"), seconds=60, now=clock) == "recounted"
    assert cache_fresh(key="k", compute=lambda: pytest.fail("a request computed"), seconds=60, now=clock) == "recounted"


def test_the_dashboard_job_fills_the_figures_the_page_reads(db, settings):
    from portal.selectors import vendor_home_summary, vendor_home_summary_refresh

    settings.PRM_DASHBOARD_CACHE_SECONDS = 60
    assert vendor_home_summary_refresh() is True
    counted = cache.get("prm:vendor_home_summary")[0]["counted_at"]
    assert vendor_home_summary()["counted_at"] == counted


def test_a_computation_that_gives_up_stores_nothing_and_the_stale_value_stays():
    clock = Clock()
    assert cache_fresh(key="k", compute=lambda: None, seconds=60, now=clock) is None  # cold: nothing to show yet
    assert cache.get("k") is None
    cache_fresh(key="k", compute=lambda: "old", seconds=60, now=clock)
    clock.t += 61
    assert cache_fresh(key="k", compute=lambda: None, seconds=60, now=clock) == "old"
    # the next requests of the period do not try again (each attempt costs the request its time limit)
    assert cache_fresh(key="k", compute=lambda: pytest.fail("tried again"), seconds=60, now=clock) == "old"
    clock.t += 61
    assert cache_fresh(key="k", compute=lambda: "new", seconds=60, now=clock) == "new"


def _sleep(seconds: float) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return "counted"


def test_within_cancels_a_statement_over_its_budget_and_leaves_the_session_unlimited(db, postgres_only):
    from django.db import connection

    from prm.caching import within

    assert within(ms=50, compute=lambda: _sleep(1)) is None
    assert within(ms=2000, compute=lambda: _sleep(0.01)) == "counted"
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_a_dashboard_too_big_to_count_in_a_request_is_counted_by_the_job(
    db, postgres_only, settings, monkeypatch, client_for, channel_manager, django_capture_on_commit_callbacks
):
    """At tens of millions of leads the count outlasts a request: the page says so at once and queues the job."""
    import portal.selectors
    import portal.tasks

    settings.PRM_DASHBOARD_CACHE_SECONDS, settings.PRM_DASHBOARD_INLINE_MS = 60, 50
    count = portal.selectors._vendor_home_count
    monkeypatch.setattr(portal.selectors, "_vendor_home_count", lambda: _sleep(1) and count())
    queued = []
    monkeypatch.setattr(portal.tasks.vendor_home_summary_refresh, "delay", lambda: queued.append(1))

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(channel_manager).get("/")
    assert response.status_code == 200
    assert "being counted" in response.content.decode()
    assert queued == [1]

    assert portal.selectors.vendor_home_summary_refresh() is True  # what the queued job does, with no limit
    page = client_for(channel_manager).get("/").content.decode()
    assert "being counted" not in page and "Counted at" in page
