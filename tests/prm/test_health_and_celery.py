import os
import subprocess
import sys
import uuid
from pathlib import Path

from prm.celery import app
from prm.tasks import BEAT_TICK_KEY, heartbeat, ping

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_reports_database_broker_and_beat(client, db):
    from django.core.cache import cache

    cache.delete(BEAT_TICK_KEY)
    first = client.get("/healthz").json()
    assert first["database"]["ok"] is True
    assert first["beat"]["last_tick"] is None
    heartbeat()
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["beat"]["last_tick"] is not None


def test_beat_schedule_has_the_periodic_jobs():
    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    tasks = {entry["task"] for entry in schedule.values()}
    assert {"prm.tasks.heartbeat", "kpi.tasks.nightly_run", "leads.tasks.offers_expire"} <= tasks
    for name in tasks:
        assert name in app.tasks, f"scheduled task {name} is not registered"


def test_task_round_trip_through_a_real_worker_and_redis(redis_url, tmp_path):
    """Starts a real Celery worker against the real Redis and proves a task goes there and back."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "prm.settings.base",
        "REDIS_URL": redis_url,
        "PRM_VAR_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "prm", "worker", "-Q", queue, "--pool", "solo", "-l", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        result = ping.apply_async(queue=queue)
        assert result.get(timeout=60) == "pong"
    finally:
        app.conf.task_always_eager = eager
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
