"""Benchmark of retention (`portal.retention.history_prune`) on the data bench/nightly.py generates.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_bench python bench/nightly.py --reset   # the data
    DATABASE_URL=... python bench/retention.py --days 300

DESTRUCTIVE: it really deletes the history older than --days (use a scratch database). It measures, on the
largest history table (activities: 10,000,000 at 1×, 100,000,000 at 10×):
- the deal page's read (the 50 latest activities of a deal) for 1,000 deals, before and after pruning;
- the prune itself (batches of 5,000 under SKIP LOCKED, as the daily job runs it) beside its floor, one
  hand-written DELETE of the same rows in a transaction that is rolled back;
- VACUUM of the table afterwards (what autovacuum then has to do).
These figures decide between retention on plain tables and monthly partitioning (docs/operations.md).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402


class Rollback(Exception):
    pass


FLOOR_SQL = """
DELETE FROM leads_activity a USING leads_lead l
WHERE l.id = a.lead_id AND a.occurred_at < %(cut)s AND l.stage IN %(closed)s AND l.closed_at < %(cut)s
"""


def deal_reads(lead_ids: list[int]) -> list[float]:
    """Milliseconds of the deal page's activity read (its queryset) for each deal."""
    from leads.models import Activity

    out = []
    for lead_id in lead_ids:
        started = time.perf_counter()
        list(Activity.objects.filter(lead_id=lead_id).order_by("-occurred_at", "-id")[:50])
        out.append((time.perf_counter() - started) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=300, help="retention age of every kind of history")
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database.")
    from leads.models import CLOSED_STAGES, Activity, Lead
    from portal.retention import history_prune

    settings.PRM_RETAIN_DAYS = {k: args.days for k in settings.PRM_RETAIN_DAYS}
    now = timezone.now()
    cut = now - timezone.timedelta(days=args.days)
    total = Activity.objects.count()
    max_lead = Lead.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    leads = [1 + (i * 7919) % max_lead for i in range(1000)] if max_lead else []
    if not total or not leads:
        sys.exit("No activities: generate the data with bench/nightly.py --reset first.")
    before = deal_reads(leads)
    params = {"cut": cut, "closed": tuple(CLOSED_STAGES)}
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(FLOOR_SQL, params)
            floor_rows = cur.rowcount
            floor_s = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    started = time.perf_counter()
    done = history_prune(now=now, batch=args.batch)
    prune_s = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) leads_activity")
    vacuum_s = time.perf_counter() - started
    after = deal_reads(leads)
    load = os.getloadavg()
    print(f"activities: {total:,}; retention {args.days} days; pruned {done}")
    print(
        f"prune of activities {prune_s:.1f} s = {done['activities'] / prune_s:,.0f} rows/s"
        f" vs floor (one DELETE, rolled back) {floor_s:.1f} s = {floor_rows / floor_s:,.0f} rows/s:"
        f" {prune_s / floor_s:.2f} × floor"
    )
    print(f"VACUUM (ANALYZE) leads_activity afterwards: {vacuum_s:.1f} s")
    for name, ms in (("before", before), ("after", after)):
        print(f"deal page's activity read, 1,000 deals, {name}: p50 {pct(ms, 50):.2f} ms, p99 {pct(ms, 99):.2f} ms")
    print(f"load: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    if floor_rows != done["activities"]:
        sys.exit(f"The floor deletes {floor_rows:,} rows, the product {done['activities']:,}: different work.")
    result = {
        "bench": "retention",
        "activities": total,
        "pruned": done["activities"],
        "prune_s": round(prune_s, 2),
        "floor_s": round(floor_s, 2),
        "ratio": round(prune_s / floor_s, 2),
        "vacuum_s": round(vacuum_s, 2),
        "read_p99_before_ms": round(pct(before, 99), 2),
        "read_p99_after_ms": round(pct(after, 99), 2),
        "load": load[0],
    }
    print("RESULT", json.dumps(result))


if __name__ == "__main__":
    main()
