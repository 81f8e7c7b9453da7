"""Benchmark of lead routing against N partners: batch throughput and single-decision latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_routing python bench/routing.py \
        [--partners 10000] [--leads 10000] [--batch 500] [--single 1000]

Generates partners (regions, competencies, tiers, KPIs on the partner rows as the nightly run leaves them) and
`--leads` + `--single` vendor leads with bulk inserts. Then:

1. throughput: routes the `--leads` leads with leads_route_batch, `--batch` leads per transaction (as the CSV
   import and the leads_route_new job do), and prints decisions/s (target >= 1,000/s) and the router process's
   own CPU a decision (less sensitive to the machine's load). A worker routes for hours: what it builds once
   (the routing pool, its lists, the URL map, its connection's caches) is built by a first batch of `--batch`
   more leads before the clock starts, and that batch's time is printed on its own;
2. latency: routes the other `--single` leads one per transaction with lead_route, as the web form and the API
   do (commit included), and prints p50/p95/p99 of one decision (target p99 < 20 ms) and where its time goes
   (statements per decision and their time, the commit, the rest);
3. two routers: the capital region's leads routed by one process, then by `--routers` side by side (each a
   fresh process that routes a first batch of its own before the routers start together); beside it the floor,
   the same with routers that share nothing (router i routes only region i's leads): how far this machine lets
   that many routers scale at all (two processes and their two backends on two cores never make 2 ×).

Both phases run against the same partners, the second after the first has filled some capacity. It also prints
the machine's load (uptime) and floors measured in the same run: the median round trip of `SELECT 1` and the
p50/p99 of a one-row insert with its commit (what every single decision pays at least once), so runs on a busy
machine can be compared by ratio. Deletes what it made after printing the figures (not with `--keep`).
"""

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from kpi.models import KpiSnapshot  # noqa: E402
from leads.models import Customer, Lead, LeadKind, LeadSource, Offer, RoutingDecision, Stage  # noqa: E402
from leads.selectors.routing import decision_candidates, decision_more_candidates  # noqa: E402
from leads.services.routing import lead_route, leads_route_batch  # noqa: E402
from partners.models import (  # noqa: E402
    Competency,
    Partner,
    PartnerStatus,
    PartnerType,
    ProgramModel,
    Region,
    Tier,
)
from prm.models import AuditEvent, Notification, Role, User  # noqa: E402

TAG = "bench-routing"
TIMEZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
             "Asia/Novosibirsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan",
             "Asia/Kamchatka"]  # fmt: skip


# Regions are skewed as a real network is: the capital region holds a large share of the partners and the leads.
CAPITAL_SHARE = 0.35


def _region(regions, rng: random.Random):
    return regions[0] if rng.random() < CAPITAL_SHARE else regions[min(len(regions) - 1, int(rng.paretovariate(1.2)))]


def generate(n_partners: int, n_leads: int, extra: list[int], rng: random.Random):
    """Partners with an admin and a sales rep each (who get the offer notifications), `n_leads` leads over the
    skewed regions and one more lead in each region of `extra` (region numbers, 0 the capital: for routers running
    side by side)."""
    regions = [
        Region.objects.get_or_create(
            code=f"{TAG}-r{i}", defaults={"name": f"Bench region {i}", "country": "RU", "timezone": TIMEZONES[i % 11]}
        )[0]
        for i in range(40)
    ]
    comps = [
        Competency.objects.get_or_create(code=f"{TAG}-c{i}", defaults={"name": f"Bench competency {i}"})[0]
        for i in range(12)
    ]
    tiers = [
        Tier.objects.get_or_create(
            code=f"{TAG}-t{i}",
            defaults={"name": f"Bench tier {i}", "rank": 900 + i, "commission_rate": Decimal("0.1"),
                      "allocation_weight": w},
        )[0]
        for i, w in enumerate((1, 2, 4, 8))
    ]  # fmt: skip
    models = [ProgramModel.FULL_CYCLE, ProgramModel.FRANCHISE, ProgramModel.DISTRIBUTOR, ProgramModel.RESELLER]
    partners = Partner.objects.bulk_create(
        [
            Partner(
                name=f"Bench partner {i}",
                country="RU",
                tax_id=f"{TAG}-{i}",
                program_model=rng.choice(models),
                partner_type=rng.choice(list(PartnerType.values)),
                status=PartnerStatus.ACTIVE,
                tier=rng.choice(tiers),
                home_region=_region(regions, rng),
                lead_capacity=rng.randint(10, 40),
                sla_score=Decimal(rng.randint(50, 100)) if rng.random() < 0.8 else None,
            )  # fmt: skip
            for i in range(n_partners)
        ],
        batch_size=2000,
    )
    User.objects.bulk_create(
        [
            User(email=f"{role}-{p.pk}@{TAG}.example", role=role, partner=p, password="!")
            for p in partners
            for role in (Role.PARTNER_ADMIN, Role.PARTNER_SALES)
        ],
        batch_size=5000,
    )
    region_links, comp_links = [], []
    for p in partners:
        for r in {p.home_region, *(_region(regions, rng) for _ in range(rng.randint(0, 2)))}:
            region_links.append(Partner.regions.through(partner_id=p.pk, region_id=r.pk))
        for c in rng.sample(comps, rng.randint(2, 6)):
            comp_links.append(Partner.competencies.through(partner_id=p.pk, competency_id=c.pk))
    Partner.regions.through.objects.bulk_create(region_links, batch_size=5000)
    Partner.competencies.through.objects.bulk_create(comp_links, batch_size=5000)
    snapshots = KpiSnapshot.objects.bulk_create(
        [
            KpiSnapshot(partner=p, date=date(2026, 1, 1), win_rate_pct=Decimal(rng.randint(5, 60)),
                        customer_rating=Decimal(rng.randint(30, 50)) / 10)
            for p in partners
            if rng.random() < 0.7
        ],
        batch_size=5000,
    )  # fmt: skip
    # What the nightly KPI run writes onto the partner rows for the router.
    Partner.objects.bulk_update(
        [Partner(pk=k.partner_id, kpi_win_rate=k.win_rate_pct, kpi_rating=k.customer_rating) for k in snapshots],
        ["kpi_win_rate", "kpi_rating"],
        batch_size=2000,
    )
    customers = Customer.objects.bulk_create(
        [Customer(name=f"Bench customer {i}", normalized_name=f"bench customer {i}", tax_id=f"{TAG}-{i}")
         for i in range(n_leads + len(extra))],
        batch_size=5000,
    )  # fmt: skip
    leads = Lead.objects.bulk_create(
        [
            Lead(customer=c, title=f"Bench lead {i}", kind=rng.choice(list(LeadKind.values)), source=LeadSource.VENDOR,
                 stage=Stage.NEW, region=_region(regions, rng) if i < n_leads else regions[extra[i - n_leads]], external_id=f"{TAG}-{i}",
                 source_system=TAG)
            for i, c in enumerate(customers)
        ],
        batch_size=5000,
    )  # fmt: skip
    Lead.competencies.through.objects.bulk_create(
        [
            Lead.competencies.through(lead_id=lead.pk, competency_id=c.pk)
            for lead in leads
            for c in rng.sample(comps, rng.randint(0, 2))
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:  # fresh statistics and no dead rows of earlier runs, as autovacuum would give
        cursor.execute("VACUUM ANALYZE")
    return leads


def cleanup():
    with transaction.atomic():
        leads = Lead.objects.filter(source_system=TAG)
        lead_ids = list(leads.values_list("pk", flat=True))
        AuditEvent.objects.filter(object_id__in=[str(pk) for pk in lead_ids], action__startswith="lead.").delete()
        Offer.objects.filter(lead__in=lead_ids).delete()
        RoutingDecision.objects.filter(lead__in=lead_ids).delete()
        leads.delete()
        Customer.objects.filter(tax_id__startswith=TAG).delete()
        partners = Partner.objects.filter(tax_id__startswith=TAG)
        Notification.objects.filter(user__partner__in=partners).delete()
        User.objects.filter(partner__in=partners).delete()
        KpiSnapshot.objects.filter(partner__in=partners).delete()
        partners.delete()
        Tier.objects.filter(code__startswith=TAG).delete()
        Region.objects.filter(code__startswith=TAG).delete()
        Competency.objects.filter(code__startswith=TAG).delete()


def floor_ms(n: int = 200) -> float:
    """Median round trip of the cheapest statement: what the machine and database give right now."""
    times = []
    with connection.cursor() as cursor:
        for _ in range(n):
            t = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process on this machine has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_START = None  # the routers' start line (routers_side_by_side)


@contextlib.contextmanager
def _profiled(name: str):
    """With BENCH_PROFILE=<path>: a cProfile of the block, written to <path>-<name>-<pid> (cProfile slows Python
    code down unevenly, generators most: read it for where the time goes, not for figures)."""
    if not os.environ.get("BENCH_PROFILE"):
        yield
        return
    import cProfile

    with cProfile.Profile() as prof:
        yield
    prof.dump_stats(f"{os.environ['BENCH_PROFILE']}-{name}-{os.getpid()}")


def _route_slice(warm: list[int], ids: list[int], batch: int) -> tuple:
    """One router process: route `warm` (untimed: a long-lived worker has built its URL map, its routing pool's
    lists and its connection's caches long before), then `ids` in batches; (start, end, decisions) on the wall
    clock, the CPU seconds of the router and of its PostgreSQL backend, the statements it sent (see _profiled for a
    profile of the timed part), the warm-up decisions and how many timed batches decided in a lane (beside another
    router: leads.services.routing._lane_classes)."""
    from django.db import connections

    import leads.services.routing as routing

    connections.close_all()  # a forked child opens its own connection
    warmed = len(leads_route_batch(leads=list(Lead.objects.filter(pk__in=warm).order_by("pk"))))
    leads = list(Lead.objects.filter(pk__in=ids).order_by("pk"))
    laned, lane_classes = [0], routing._lane_classes

    def lane_counted(**kwargs):
        classes = lane_classes(**kwargs)
        laned[0] += classes is not None
        return classes

    routing._lane_classes = lane_counted  # this forked process's copy only
    _START.wait()  # every router warmed up: the timed parts start together
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    count = [0]

    def counted(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    started, own, theirs = time.time(), time.process_time(), _proc_cpu(backend)
    with connection.execute_wrapper(counted), _profiled(f"routers-{len(ids)}"):
        n = sum(len(leads_route_batch(leads=leads[i : i + batch])) for i in range(0, len(leads), batch))
    return started, time.time(), n, time.process_time() - own, _proc_cpu(backend) - theirs, count[0], warmed, laned[0]


def _wal_lsn() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()")
        return cursor.fetchone()[0]


def routers_side_by_side(
    ids: list[int], *, warm: list[int], routers: int, batch: int
) -> tuple[float, float, float, float, float, tuple[int, int]]:
    """Decisions/s of `routers` processes routing `ids` (one region) at once, each its own slice after routing its
    slice of `warm` untimed (see _route_slice); the CPU milliseconds a decision took in the routers and in their
    database backends (what the machine's cores cap: with no waiting on each other, two routers use the same CPU a
    decision as one); the KiB of WAL a decision wrote (the whole server's, over the warm-up decisions and the timed
    ones: run it on a quiet one); the statements sent a decision; and how many of the timed batches decided in a lane, of how many."""
    from django.db import connections

    slices = [(warm[i::routers], ids[i::routers], batch) for i in range(routers)]
    lsn = _wal_lsn()
    connections.close_all()
    global _START
    context = multiprocessing.get_context("fork")
    _START = context.Barrier(routers)  # inherited by the forked routers
    with context.Pool(routers) as pool:
        results = pool.starmap(_route_slice, slices)
    n, warmed = sum(r[2] for r in results), sum(r[6] for r in results)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [lsn])
        wal = float(cursor.fetchone()[0])
    return (
        n / (max(r[1] for r in results) - min(r[0] for r in results)),
        sum(r[3] for r in results) / n * 1000,
        sum(r[4] for r in results) / n * 1000,
        wal / (n + warmed) / 1024,
        sum(r[5] for r in results) / n,
        (sum(r[7] for r in results), sum(math.ceil(len(sl[1]) / batch) for sl in slices)),
    )


def python_speed() -> str:
    """This machine's speed at plain Python (best of 3), to compare runs made on different machines: the routers'
    own CPU a decision follows it."""
    best = math.inf
    for _ in range(3):
        t, total = time.process_time(), 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.process_time() - t)
    return f"this machine's Python adds 2,000,000 integers in {best * 1000:.0f} ms"


def commit_floor_ms(n: int = 200) -> tuple[float, float]:
    """p50 and p99 of the cheapest durable transaction: one one-row insert and its commit (the WAL flush every
    single decision pays once), in a scratch table dropped afterwards."""
    times = []
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_routing_floor (x int)")
    for _ in range(n):
        t = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_routing_floor VALUES (1)")
        times.append(time.perf_counter() - t)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_routing_floor")
    ms = sorted(x * 1000 for x in times)
    return ms[n // 2], ms[min(n - 1, int(0.99 * n))]


class StatementTimes:
    """Where the time of the single decisions goes: statements (Django's cursor, and prm.bulk's inserts that go
    to the driver directly), by their first words, and commits; the rest is Python, the driver and on-commit hooks."""

    def __init__(self):
        self.by_statement: dict[str, list] = {}  # first words → [count, seconds]
        self.commit = [0, 0.0]

    def _add(self, key: str, seconds: float) -> None:
        entry = self.by_statement.setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def _execute(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            words = " ".join(str(sql).split())
            self._add("SAVEPOINT" if "SAVEPOINT" in words else words[:60], time.perf_counter() - t)

    def __enter__(self):
        import prm.bulk

        self._wrapper = connection.execute_wrapper(self._execute)
        self._wrapper.__enter__()
        self._insert, self._commit = prm.bulk._insert, connection.commit

        def insert(model, *args, **kwargs):
            t = time.perf_counter()
            try:
                return self._insert(model, *args, **kwargs)
            finally:
                self._add(f"INSERT INTO {model._meta.db_table} (prm.bulk)", time.perf_counter() - t)

        def commit():
            t = time.perf_counter()
            try:
                return self._commit()
            finally:
                self.commit[0] += 1
                self.commit[1] += time.perf_counter() - t

        prm.bulk._insert, connection.commit = insert, commit
        return self

    def __exit__(self, *exc):
        import prm.bulk

        prm.bulk._insert = self._insert
        del connection.commit  # back to the class's method
        self._wrapper.__exit__(*exc)

    def report(self, decisions: int, elapsed: float) -> str:
        sql = sum(s for _n, s in self.by_statement.values())
        count = sum(n for n, _s in self.by_statement.values())
        lines = [
            f"single, per decision: {elapsed / decisions * 1000:.1f} ms = {count / decisions:.1f} statements "
            f"{sql / decisions * 1000:.1f} ms + {self.commit[0] / decisions:.0f} commit "
            f"{self.commit[1] / decisions * 1000:.1f} ms + Python, driver and on-commit hooks "
            f"{(elapsed - sql - self.commit[1]) / decisions * 1000:.1f} ms"
        ]
        for key, (n, seconds) in sorted(self.by_statement.items(), key=lambda kv: -kv[1][1]):
            lines.append(f"  {n / decisions:5.2f} × {seconds / n * 1000:5.2f} ms  {key}")
        return "\n".join(lines)


class SlotVacuum(threading.Thread):
    """What autovacuum does in production (leads migration 0032 sets it to run after every 1,000 changes of the
    routing slots), for a server with autovacuum off: VACUUM leads_routingslot every `every` seconds."""

    def __init__(self, every: float):
        super().__init__(daemon=True)
        self.every, self.runs, self.stop = every, 0, threading.Event()

    def run(self):
        from django.db import connections

        while not self.stop.wait(self.every):
            with connection.cursor() as cursor:
                cursor.execute("VACUUM leads_routingslot")
            self.runs += 1
        connections.close_all()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=10_000, help="routed in batches (throughput)")
    parser.add_argument("--batch", type=int, default=500, help="leads per leads_route_batch transaction")
    parser.add_argument("--single", type=int, default=1_000, help="routed one per transaction (latency)")
    parser.add_argument("--routers", type=int, default=2, help="processes routing one region side by side")
    parser.add_argument(
        "--concurrent",
        type=int,
        default=None,
        help="capital-region leads per router phase "
        "(default --leads): routed by 1 process, then as many again by --routers processes",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--slot-vacuum", type=float, default=5.0, help="seconds between VACUUMs of the routing slots (0: none)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the generated rows (a throwaway database)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)  # a fresh database works as well as one used before
    if connection.vendor != "postgresql":
        print("warning: not PostgreSQL; the figures mean little", file=sys.stderr)
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cleanup()
    t0 = time.perf_counter()
    concurrent = args.leads if args.concurrent is None else args.concurrent
    first = min(args.batch, args.leads)  # a fresh process's first batch: untimed, timed on its own
    n = first + args.leads + args.single
    # Leads for the routers side by side, per phase: a warm-up batch for each router process, then `concurrent`
    # timed. In the capital: one router, then `routers`; spread (the floor): the k-th lead of a phase in region
    # k mod `routers`, so that router i of `routers` routes region i's leads only (nothing shared between routers).
    wb = min(args.batch, concurrent) if args.routers > 1 else 0
    phases = {
        "one": (wb, 0), "many": (args.routers * wb, 0), "one_spread": (wb, 1), "many_spread": (args.routers * wb, 1)
    }  # fmt: skip
    extra = [
        0 if not spread else k % args.routers
        for warm_n, spread in phases.values()
        for size in (warm_n, concurrent if wb else 0)
        for k in range(size)
    ]
    leads = generate(args.partners, n, extra, random.Random(args.seed))
    warm_batch, batched, singles = leads[:first], leads[first : first + args.leads], leads[first + args.leads : n]
    side: dict[str, tuple[list[int], list[int]]] = {}  # phase → (warm-up ids, timed ids)
    at = n
    for name, (warm_n, _spread) in phases.items():
        ids = [lead.pk for lead in leads[at : at + warm_n + (concurrent if wb else 0)]]
        side[name], at = (ids[:warm_n], ids[warm_n:]), at + len(ids)
    print(f"generated {args.partners} partners and {len(leads)} leads in {time.perf_counter() - t0:.1f} s")
    print(f"floor: SELECT 1 round trip p50 {floor_ms():.3f} ms; {python_speed()}")
    commit_p50, commit_p99 = commit_floor_ms()
    print(f"floor: a one-row insert and its commit p50 {commit_p50:.2f} ms, p99 {commit_p99:.2f} ms")

    outcomes = {"offered": 0, "queued": 0}
    latencies = []
    vacuum = SlotVacuum(args.slot_vacuum)
    if args.slot_vacuum > 0 and connection.vendor == "postgresql":
        vacuum.start()
    try:
        started = time.perf_counter()
        for decision in leads_route_batch(leads=warm_batch):  # builds the routing pool, the URL map, ...
            outcomes["offered" if decision.chosen_id else "queued"] += 1
        first_elapsed = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(batched), args.batch):
            for decision in leads_route_batch(leads=batched[i : i + args.batch]):
                outcomes["offered" if decision.chosen_id else "queued"] += 1
        batch_elapsed, batch_cpu = time.perf_counter() - started, time.process_time() - cpu
        with StatementTimes() as statements, _profiled(f"single-{len(singles)}"):
            for lead in singles:
                t = time.perf_counter()
                decision = lead_route(lead=lead)
                latencies.append(time.perf_counter() - t)
                outcomes["offered" if decision.chosen_id else "queued"] += 1
        if wb:
            one, one_own, one_db, one_wal, one_sql, _ = routers_side_by_side(
                side["one"][1], warm=side["one"][0], routers=1, batch=args.batch
            )
            many, many_own, many_db, many_wal, many_sql, laned = routers_side_by_side(
                side["many"][1], warm=side["many"][0], routers=args.routers, batch=args.batch
            )
            one_cpu, many_cpu = one_own + one_db, many_own + many_db
            one_spread, *_ = routers_side_by_side(
                side["one_spread"][1], warm=side["one_spread"][0], routers=1, batch=args.batch
            )
            many_spread, *_ = routers_side_by_side(
                side["many_spread"][1], warm=side["many_spread"][0], routers=args.routers, batch=args.batch
            )
        sample = RoutingDecision.objects.filter(lead__source_system=TAG, chosen__isnull=False)[:200]
        avg_candidates = statistics.mean(len(decision_candidates(decision=d)) for d in sample) if sample else 0
        avg_eligible = (
            statistics.mean(len(decision_candidates(decision=d)) + decision_more_candidates(decision=d) for d in sample)
            if sample
            else 0
        )
        json_bytes = statistics.mean(len(json.dumps(d.candidates)) for d in sample) if sample else 0
        vacuum.stop.set()
    except BaseException:
        if not args.keep:
            cleanup()
        raise
    if batched:
        print(
            f"batch: routed {len(batched)} leads in {batch_elapsed:.1f} s, {args.batch} per transaction: "
            f"{len(batched) / batch_elapsed:.0f} decisions/s (target >= 1000); the router process's own CPU "
            f"{batch_cpu / len(batched) * 1000:.2f} ms a decision (less sensitive to the machine's load), after "
            f"the process's first batch of {len(warm_batch)} ({first_elapsed:.2f} s, untimed: it builds the routing "
            "pool and the process's caches, once in a worker's life)"
        )
    if latencies:
        ms = sorted(x * 1000 for x in latencies)
        pct = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
        print(
            f"single: {len(ms)} leads, one lead_route per transaction: p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms, "
            f"p99 {pct(0.99):.1f} ms (target p99 < 20 ms); {len(ms) / sum(latencies):.0f} decisions/s"
        )
        print(statements.report(len(ms), sum(latencies)))
    if wb:
        cores = os.cpu_count() or 1
        print(
            f"one region (the capital, {concurrent} leads per phase): 1 router {one:.0f} decisions/s, "
            f"{args.routers} routers side by side {many:.0f} decisions/s: {many / one:.2f} × (target ≥ 1.6 × with 2); "
            f"{laned[0]} of their {laned[1]} batches decided in a lane"
        )
        print(
            f"  floor, routers sharing nothing ({args.routers} regions, router i routing region i's leads): 1 router "
            f"{one_spread:.0f} decisions/s, {args.routers} side by side {many_spread:.0f} decisions/s: "
            f"{many_spread / one_spread:.2f} × (what this machine allows {args.routers} routers; one region reached "
            f"{many / one / (many_spread / one_spread) * 100:.0f} % of it)"
        )
        print(
            f"  CPU a decision, routers and their PostgreSQL backends together: {one_cpu:.2f} ms with 1 router, "
            f"{many_cpu:.2f} ms with {args.routers} ({many_cpu / one_cpu:.2f} ×: above 1 is contention); this "
            f"machine's {cores} cores allow at most {cores * 1000 / one_cpu:.0f} decisions/s at 1 router's CPU a "
            f"decision = {cores * 1000 / one_cpu / one:.2f} × one router; {args.routers} routers reached "
            f"{many / (cores * 1000 / one_cpu) * 100:.0f} % of that ceiling"
        )
        print(
            f"  of it the routers' own {one_own:.2f} / {many_own:.2f} ms and their backends' {one_db:.2f} / "
            f"{many_db:.2f} ms; {one_sql * args.batch:.1f} / {many_sql * args.batch:.1f} statements a batch of "
            f"{args.batch}; {one_wal:.1f} / {many_wal:.1f} KiB of WAL a decision"
        )
    print(
        f"outcomes: {outcomes}; ~{avg_eligible:.0f} eligible, ~{avg_candidates:.0f} shortlisted candidates and ~{json_bytes / 1024:.1f} KiB of stored "
        "explanation per offered decision (first 200)"
    )
    print(f"routing slots vacuumed {vacuum.runs} times (every {args.slot_vacuum:g} s, as autovacuum would)")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    if not args.keep:
        cleanup()


if __name__ == "__main__":
    main()
