"""Every periodic job, fired from two Celery workers at once, books exactly what one run books.

Used by .ci/run's production smoke test, on a seeded demo database and a copy of it taken before any process
started (`CREATE DATABASE … TEMPLATE`):

    python .ci/periodic_twice.py fire --out twice.json        # DATABASE_URL = the smoke database
    python .ci/periodic_twice.py once --out once.json         # DATABASE_URL = the copy, at the same time
    python .ci/periodic_twice.py compare twice.json once.json

`fire` sends every task of CELERY_BEAT_SCHEDULE to both running workers (the default and the long queue) at
once and waits for all of them; `once` runs each task once, in-process, in the same order. Both then count the
rows of every table. The two databases must hold the same number of rows in every table that records business
work (ledger, offers, notifications, reminders, escalations, expiries, KPI snapshots, tier changes, nightly
runs …): a job that double-books on several workers shows up as a difference. Tables that only record the
processes themselves (beat's schedule state, sessions, sign-in attempts) are left out.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.production")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from prm.celery import app  # noqa: E402

# Process bookkeeping, not business work: beat's own tables, sessions, sign-in attempts and the migrations table.
IGNORED_PREFIXES = ("django_celery_beat_", "django_session", "axes_", "django_migrations")
QUEUES = ("celery", "long")  # one worker each in the smoke test (as in docker-compose.yml)


def jobs() -> list[str]:
    return sorted({entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()})


def table_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            if table.startswith(IGNORED_PREFIXES):
                continue
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 (names from the catalogue)
            counts[table] = cursor.fetchone()[0]
    return counts


def fire() -> dict:
    sent = [(name, queue, app.send_task(name, queue=queue)) for name in jobs() for queue in QUEUES]
    failed = []
    for name, queue, result in sent:
        try:
            result.get(timeout=600, propagate=True)
        except Exception as exc:  # noqa: BLE001 (each failure is listed, then CI fails)
            failed.append(f"{name} on {queue}: {type(exc).__name__}: {exc}")
    return {"failed": failed, "counts": table_counts()}


def once() -> dict:
    app.loader.import_default_modules()  # what a worker does at start: CELERY_IMPORTS and the apps' tasks
    failed = []
    for name in jobs():
        result = app.tasks[name].apply()
        if result.failed():
            failed.append(f"{name}: {result.result!r}")
    return {"failed": failed, "counts": table_counts()}


def compare(twice_path: str, once_path: str) -> int:
    twice, single = (json.loads(Path(p).read_text()) for p in (twice_path, once_path))
    problems = [f"failed (two workers): {f}" for f in twice["failed"]] + [
        f"failed (once): {f}" for f in single["failed"]
    ]
    for table in sorted(set(twice["counts"]) | set(single["counts"])):
        a, b = twice["counts"].get(table), single["counts"].get(table)
        if a != b:
            problems.append(f"{table}: {a} rows after two workers, {b} after one run")
    if problems:
        print("periodic jobs on two workers differ from one run:\n  " + "\n  ".join(problems))
        return 1
    print(
        f"periodic jobs: {len(jobs())} jobs fired from both workers at once; "
        f"{len(twice['counts'])} tables hold the same rows as after one run"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["fire", "once", "compare"])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.mode == "compare":
        return compare(*args.files)
    started = time.monotonic()
    result = fire() if args.mode == "fire" else once()
    result["seconds"] = round(time.monotonic() - started, 1)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True))
    print(f"{args.mode}: {len(jobs())} jobs in {result['seconds']} s, {len(result['failed'])} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
