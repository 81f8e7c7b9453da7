"""Every benchmark script runs at a tiny size against the test database, so a schema change cannot break one
silently, and each floor returns the same rows as the product's query (the scripts exit non-zero when they
disagree). The figures printed at this size mean nothing; only that the scripts run and agree."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "nightly.py": ["--reset", "--partners", "30", "--leads", "3000", "--activities", "3000"],
    "retention.py": ["--days", "300"],  # on nightly.py's data, just generated
    "routing.py": ["--partners", "60", "--leads", "60", "--batch", "20", "--single", "20", "--routers", "2"],
    "api_upsert.py": ["--rows", "300"],
    "registration.py": [
        "--reset",
        "--leads",
        "2000",
        "--protections",
        "300",
        "--deals",
        "40",
        "--partners",
        "20",
        "--batch",
        "60",
        "--senders",
        "1",
        "--chunk",
        "20",
    ],
    "statement_close.py": ["--reset", "--partners", "20", "--entries", "2000", "--repeat", "1"],
    "delivery.py": ["--reset", "--partners", "20", "--tickets", "300", "--open", "50"],
    "csv_import.py": ["--rows", "200", "--partners", "10"],
    # nightly.py and retention.py at 1× and 2× of a 1/3,000 reference network
    "scale.py": ["--scales", "1,2", "--unit", "0.0003", "--benches", "nightly,retention"],
}
# Run again right after, on the data the first run left.
THEN = {"registration.py": ["--protections", "300", "--deals", "20", "--checks-only"]}
# seed.py creates a database of its own and load.py needs locust in its own virtualenv and a gunicorn: here
# both are checked to start and parse their arguments; .ci/run's smoke test runs them for real (.ci/bench_tiny).
HELP_ONLY = ["seed.py", "load.py"]


def _database_url() -> str:
    s = connection.settings_dict
    host = s.get("HOST") or "127.0.0.1"
    return f"postgres://{s['USER']}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


def _run(script: str, args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_script_is_covered():
    assert sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "locustfile.py") == sorted(
        [*TINY, *HELP_ONLY]
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_scripts_run_tiny_and_floors_agree(postgres_only):
    connection.close()  # the scripts TRUNCATE tables: hold no transaction open on them
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": "", "DJANGO_SETTINGS_MODULE": ""}
    env.pop("DJANGO_SETTINGS_MODULE")
    failures = []
    runs = [(script, a) for script, args in TINY.items() for a in (args, THEN.get(script)) if a is not None]
    for script, args in runs:
        started = time.monotonic()
        result = _run(script, args, env)
        print(f"{script}: {time.monotonic() - started:.1f} s")
        if result.returncode != 0:
            failures.append(
                f"{script} {' '.join(args)} → {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
            )
    for script in HELP_ONLY:
        result = _run(script, ["--help"], env)
        if result.returncode != 0:
            failures.append(f"{script} --help → {result.returncode}\n{result.stderr[-2000:]}")
    assert not failures, "\n\n".join(failures)
