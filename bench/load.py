"""Load test: gunicorn (production settings) + PostgreSQL + Redis under a mix of partner portal pages,
channel-manager pages, API reads and API writes from 32 concurrent clients for 2 minutes (locust, headless).
Prints p50/p95/p99 per request type and overall, errors and requests/s. Target: 0 errors, p95 < 100 ms.

    # once: a seeded database (full size 10,000 / 2,000,000 takes ~7 min; develop with e.g. 500 / 50,000)
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_load REDIS_URL=redis://127.0.0.1:6379/14
    python manage.py migrate && python manage.py seed_demo --partners 10000 --leads 2000000
    python bench/load.py [--users 32] [--duration 2m] [--workers N] [--wait 1-3] [--partners 16]
    python bench/load.py --wait 0 --users 4,8,16,32 --duration 1m     # closed-loop capacity, one step each

Closed loop (`--wait 0`, clients send their next request as soon as the last is answered) with a list of client
counts runs one step per count against the same gunicorn and prints, per step: requests/s, p50/p95/p99, errors,
and the CPU used by gunicorn (master and workers), by PostgreSQL's backends of this database, by locust and by the
whole machine, sampled from /proc from the end of the warm-up logins to the end of the step. Requests/s per core of
the web server is requests/s divided by gunicorn's CPU: a figure for sizing that holds on a shared machine, where
wall-clock throughput depends on what else runs. The saturation point is the last step before one that adds less
than 10 % throughput. The per-key API throttle is raised for closed-loop runs (a flat-out client exceeds a
CRM's 1,200 requests a minute by design).

What it does: creates (or reuses) a partner admin `loadtest-<partner id>@bench.prm` for a sample of active
partners with deals and a channel manager `loadtest-cm@bench.prm` (password below), one API key per CRM client
(earlier bench keys are revoked), collects static files, starts gunicorn with prm.settings.production on
127.0.0.1 (DEBUG off, 2 × cores + 1 sync workers unless --workers), runs bench/locustfile.py, prints the table
and stops gunicorn. The API writes add leads (source_system "loadtest") and activities to the sampled partners.

Locust is not a dependency of the portal: the first run creates a virtualenv for it in
~/.cache/prm-bench/locust-venv (--locust-venv) and `pip install`s locust there.

The latency of GET /healthz (one database and one broker round trip through the same gunicorn) is measured in
the same run as a floor, so figures taken on a busy machine can be read as multiples of it; `uptime` is printed
before and after.
"""

import argparse
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

PASSWORD = "loadtest-Secret-42"
OUT = ROOT / "var" / "loadtest"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--users",
        default="32",
        help="concurrent clients (default 32); several, e.g. 4,8,16, run one step each (a capacity curve)",
    )
    p.add_argument("--duration", default="2m", help="locust run time, e.g. 2m, 30s (default 2m)")
    p.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    p.add_argument("--wait", default="1-3", help="think time between a client's requests, seconds (0 = none)")
    p.add_argument("--partners", type=int, default=16, help="partners whose staff and CRMs take part")
    p.add_argument("--port", type=int, default=8791)
    p.add_argument("--locust-venv", type=Path, default=Path.home() / ".cache" / "prm-bench" / "locust-venv")
    return p.parse_args()


# --- preparation (Django, in this process) -------------------------------------------------------------------


def prepare(n_partners: int, n_keys: int) -> dict:
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count, Q
    from django.utils import timezone

    from leads.models import Lead
    from partners.models import Partner, PartnerStatus
    from prm.api_auth import ALL_SCOPES, api_key_create
    from prm.models import ApiKey, Role, User

    partners = list(
        Partner.objects.filter(status=PartnerStatus.ACTIVE)
        .annotate(deals=Count("leads", filter=Q(leads__accepted_at__isnull=False)))
        .filter(deals__gte=10)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not partners:
        sys.exit("No active partner with deals: seed first (python manage.py seed_demo --partners N --leads M).")
    step = max(len(partners) // n_partners, 1)
    sample = partners[::step][:n_partners]
    ApiKey.objects.filter(name="loadtest", revoked_at__isnull=True).update(revoked_at=timezone.now())
    fixture = {"password": PASSWORD, "partners": [], "keys": []}
    admins = {}
    for partner_id in sample:
        admin, _ = User.objects.update_or_create(
            email=f"loadtest-{partner_id}@bench.prm",
            defaults={"role": Role.PARTNER_ADMIN, "partner_id": partner_id, "first_name": "Load", "last_name": "Test"},
        )
        admin.set_password(PASSWORD)
        admin.save(update_fields=["password"])
        admins[partner_id] = admin
        deal_ids = list(
            Lead.objects.filter(partner_id=partner_id, accepted_at__isnull=False)
            .order_by("?")
            .values_list("id", flat=True)[:50]
        )
        fixture["partners"].append({"partner_id": partner_id, "email": admin.email, "deal_ids": deal_ids})
    for i in range(n_keys):
        partner_id = sample[i % len(sample)]
        _key, raw = api_key_create(created_by=admins[partner_id], name="loadtest", scopes=list(ALL_SCOPES))
        fixture["keys"].append({"partner_id": partner_id, "key": raw})
    cm, _ = User.objects.update_or_create(
        email="loadtest-cm@bench.prm", defaults={"role": Role.CHANNEL_MANAGER, "partner": None, "first_name": "Load"}
    )
    cm.set_password(PASSWORD)
    cm.save(update_fields=["password"])
    fixture["channel_manager"] = cm.email
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Planner statistics as a running system has them (autovacuum may not have analyzed a fresh seed).
            cursor.execute("ANALYZE")
    counts = {"partners": Partner.objects.count(), "leads": Lead.objects.count()}
    print(f"data: {counts['partners']:,} partners, {counts['leads']:,} leads; sample of {len(sample)} partners")
    return fixture


# --- locust in its own virtualenv ------------------------------------------------------------------------------


def locust_bin(venv: Path) -> Path:
    exe = venv / "bin" / "locust"
    if not exe.exists():
        print(f"installing locust into {venv} (not a portal dependency; once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "locust"], check=True)
    return exe


# --- gunicorn ----------------------------------------------------------------------------------------------------


def production_env(port: int) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="prm.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        STATIC_ROOT=str(OUT / "static"),
        LOG_LEVEL="WARNING",
    )
    env.pop("DEBUG", None)
    return env


# The project's gunicorn: the one beside this interpreter (a virtualenv that is not activated), else on PATH.
GUNICORN = (
    str(Path(sys.executable).with_name("gunicorn"))
    if Path(sys.executable).with_name("gunicorn").exists()
    else (shutil.which("gunicorn") or "gunicorn")
)


def gunicorn_start(env: dict, port: int, workers: int) -> subprocess.Popen:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    log = open(OUT / "gunicorn.log", "w")  # noqa: SIM115 - open for the server's lifetime
    proc = subprocess.Popen(
        [GUNICORN, "prm.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", str(workers), "--access-logfile", "-"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, stopped as one
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            gunicorn_stop(proc)
            sys.exit(f"gunicorn did not answer /healthz; see {OUT / 'gunicorn.log'}")
        time.sleep(0.5)


def gunicorn_stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- report ------------------------------------------------------------------------------------------------------


def report(prefix: Path, floor_name: str = "floor /healthz", target: bool = True) -> None:
    with open(f"{prefix}_stats.csv") as f:
        rows = list(csv.DictReader(f))
    with open(f"{prefix}_failures.csv") as f:
        failures = list(csv.DictReader(f))
    # locust writes "N/A" for a request that never completed (a very short run may not reach the floor's).
    floor = next((_ms(r["50%"]) for r in rows if r["Name"] == floor_name), None) or None
    print(f"\nfloor = p50 of GET /healthz = {floor} ms; the last column is each p95 in multiples of it")
    print(
        f"\n{'request':<34}{'count':>8}{'errors':>8}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'p95/floor':>10}"
    )
    rows = [r for r in rows if int(r["Request Count"])]  # the logins, when the warm-up reset the statistics
    body = sorted((r for r in rows if r["Name"] != "Aggregated"), key=lambda r: -(_ms(r["95%"]) or 0))
    for r in [*body, *(r for r in rows if r["Name"] == "Aggregated")]:
        name = "OVERALL" if r["Name"] == "Aggregated" else f"{r['Type']} {r['Name']}"[:33]
        ratio = f"{_ms(r['95%']) / floor:>10.1f}" if floor and _ms(r["95%"]) else f"{'-':>10}"
        print(
            f"{name:<34}{int(r['Request Count']):>8}{int(r['Failure Count']):>8}{float(r['Requests/s']):>8.1f}"
            f"{r['50%']:>8}{r['95%']:>8}{r['99%']:>8}{ratio}"
        )
    for fail in failures:
        print(f"ERROR {fail['Method']} {fail['Name']}: {fail['Occurrences']}× {fail['Error'][:160]}")
    if not target:
        return
    overall = next(r for r in rows if r["Name"] == "Aggregated")
    errors, p95 = int(overall["Failure Count"]), _ms(overall["95%"]) or 0.0
    verdict = "met" if errors == 0 and p95 < 100 else "NOT met"
    print(f"\ntarget 0 errors and p95 < 100 ms: {verdict} ({errors} errors, p95 {p95:.0f} ms)")


def _ms(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def uptime() -> str:
    # Django set TZ to the portal's time zone in this process: print the machine's clock, as `date` does.
    env = {k: v for k, v in os.environ.items() if k != "TZ"}
    return subprocess.run(["uptime"], capture_output=True, text=True, env=env).stdout.strip()


def dashboard_count() -> None:
    """What the beat's `vendor_home_summary_refresh` does before anyone asks: count the channel dashboard into the
    shared cache (no request counts it; on a cold cache a request that cannot count within PRM_DASHBOARD_INLINE_MS
    shows "being counted"). Its duration is the job's cost at this size."""
    from django.core.cache import cache

    from portal.selectors import VENDOR_HOME_KEY
    from portal.tasks import vendor_home_summary_refresh

    started = time.monotonic()
    vendor_home_summary_refresh()
    entry = cache.get(VENDOR_HOME_KEY)
    print(
        f"channel dashboard and KPI figures counted by the refresh job in {time.monotonic() - started:.1f} s; fresh"
        f" for {entry[1] - time.time():.0f} s (PRM_DASHBOARD_CACHE_SECONDS={os.environ['PRM_DASHBOARD_CACHE_SECONDS']},"
        " at least ten times the count's duration)"
    )


def main():
    args = parse_args()
    # The product's default freshness: a count that takes tens of seconds at tens of millions of leads keeps its
    # figures ten times as long (prm.caching.BUSY_SHARE), so the 2-minute run is served the count made above.
    os.environ.setdefault("PRM_DASHBOARD_CACHE_SECONDS", "60")
    steps = [int(n) for n in args.users.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    locust = locust_bin(args.locust_venv)
    crm_users = max(max(steps) // 2, 1)
    fixture = prepare(args.partners, crm_users)
    (OUT / "fixture.json").write_text(json.dumps(fixture))
    dashboard_count()
    env = production_env(args.port)
    if args.wait == "0":
        # Flat out, one CRM client sends far more than a CRM's 1,200 requests a minute: the per-key throttle
        # (still counted) must not turn capacity into 429s.
        env["API_RATE_PER_KEY"] = "1000000/min"
    print(
        f"gunicorn: {args.workers} workers on 127.0.0.1:{args.port}; {args.users} clients, think time {args.wait} s,"
        f" {args.duration} a step; {os.cpu_count()} cores"
    )
    server = gunicorn_start(env, args.port, args.workers)
    results = []
    try:
        print("before:", uptime())
        for users in steps:
            prefix = OUT / ("run" if len(steps) == 1 else f"run-{users}")
            results.append(run_step(locust, env, args, users, prefix, server.pid))
            print(capacity_line(results[-1]), flush=True)
        print("after: ", uptime())
    finally:
        gunicorn_stop(server)
    if len(steps) == 1:
        report(results[0]["prefix"], target=args.wait != "0")
        print(capacity_line(results[0], header=True))
        print_warmup(results[0])
    else:
        capacity_report(results)


def run_step(locust: Path, env: dict, args, users: int, prefix: Path, server_pid: int) -> dict:
    """One locust run of `users` clients against the running gunicorn; CPU of every party sampled from the moment
    the warm-up logins are over (when the statistics restart) to the end."""
    logins = Path(f"{prefix}_logins.json")
    logins.unlink(missing_ok=True)
    for suffix in ("_stats.csv", "_failures.csv"):
        Path(f"{prefix}{suffix}").unlink(missing_ok=True)
    locust_env = {
        **env,
        "LOADTEST_FIXTURE": str(OUT / "fixture.json"),
        "LOADTEST_WAIT": args.wait,
        "LOADTEST_LOGINS": str(logins),
    }
    proc = subprocess.Popen(
        [str(locust), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--only-summary"]
        + ["-u", str(users), "-r", str(users), "-t", args.duration]
        + ["--host", f"http://127.0.0.1:{args.port}", "--csv", str(prefix), "--loglevel", "WARNING"],
        cwd=ROOT,
        env=locust_env,
        stdout=subprocess.DEVNULL,
        stderr=open(f"{prefix}_locust.log", "w"),  # noqa: SIM115 - its own summary; ours is below
    )
    # Without a browser among the clients there is no warm-up: the whole run counts.
    cpu, warm = CpuMeter(server_pid, proc.pid), False
    while proc.poll() is None:  # locust exits 1 when any request failed; the table says which
        if not warm and logins.exists():
            cpu.start()
            warm = True
        cpu.sample()
        time.sleep(0.25)
    usage = cpu.stop()
    if not Path(f"{prefix}_stats.csv").exists():
        sys.exit(f"locust wrote no statistics; see {prefix}_locust.log")
    with open(f"{prefix}_stats.csv") as f:
        overall = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {
        "users": users,
        "prefix": prefix,
        "logins": logins,
        "requests": int(overall["Request Count"]),
        "errors": int(overall["Failure Count"]),
        "rps": float(overall["Requests/s"]),
        "avg": float(overall["Average Response Time"]),
        "p50": _ms(overall["50%"]),
        "p95": _ms(overall["95%"]),
        "p99": _ms(overall["99%"]),
        **usage,
    }


# --- CPU: the web server, PostgreSQL's backends of this database, locust, the whole machine -----------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, children: bool = False) -> float | None:
    """CPU seconds of a process (and of its reaped children), from /proc; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / TICK


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def _machine_busy() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


class CpuMeter:
    """Samples CPU seconds per process; a process that ends between samples loses at most one interval."""

    def __init__(self, server_pid: int, locust_pid: int):
        self.server_pid, self.locust_pid = server_pid, locust_pid
        self.start()

    def _pg_pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            )
            return [row[0] for row in cursor.fetchall()]

    def _sample(self, into: dict) -> None:
        web = [("web", self.server_pid, True)] + [("web", pid, False) for pid in _children(self.server_pid)]
        db = [("db", pid, False) for pid in self._pg_pids()] if self._postgres else []
        for kind, pid, children in web + db:
            value = _proc_cpu(pid, children)
            if value is not None:
                into[(kind, pid)] = value
        if (value := _proc_cpu(self.locust_pid)) is not None:
            self.locust_last = value

    @property
    def _postgres(self) -> bool:
        from django.db import connection

        return connection.vendor == "postgresql"

    def start(self) -> None:
        """The measured window starts now (the warm-up logins are over)."""
        self.started_at = time.monotonic()
        self.first, self.last = {}, {}
        self.machine0 = _machine_busy()
        self.locust0 = self.locust_last = _proc_cpu(self.locust_pid) or 0.0
        self._sample(self.first)

    def sample(self) -> None:
        self._sample(self.last)

    def stop(self) -> dict:
        wall = time.monotonic() - self.started_at
        machine = _machine_busy() - self.machine0
        used = {"web": 0.0, "db": 0.0}
        for (kind, pid), value in self.last.items():
            used[kind] += value - self.first.get((kind, pid), 0.0)  # a new process counts from its start
        # The locust process has been reaped by poll(): its last sample is the closest figure.
        locust = self.locust_last - self.locust0
        return {
            "wall": wall,
            "web_cores": used["web"] / wall,
            "db_cores": used["db"] / wall,
            "locust_cores": locust / wall,
            "machine_cores": machine / wall,
        }


def capacity_line(r: dict, header: bool = False) -> str:
    per_core = r["rps"] / r["web_cores"] if r["web_cores"] else 0.0
    line = (
        f"{r['users']:>7}{r['rps']:>8.1f}{r['p50'] or 0:>7.0f}{r['p95'] or 0:>7.0f}{r['p99'] or 0:>7.0f}"
        f"{r['errors']:>7}{r['web_cores']:>7.2f}{per_core:>9.1f}{r['db_cores']:>7.2f}{r['locust_cores']:>7.2f}"
        f"{r['machine_cores']:>8.2f}"
    )
    return (CAPACITY_HEADER + "\n" + line) if header else line


CAPACITY_HEADER = (
    "\nclients   req/s    p50    p95    p99 errors    web req/s/web     db locust machine\n"
    "                   ms     ms     ms        cores     core  cores  cores   cores"
)
SATURATION_GAIN = 1.10  # a step that adds less than 10 % throughput to the one before is past saturation


def capacity_report(results: list[dict]) -> None:
    print(CAPACITY_HEADER)
    for r in results:
        print(capacity_line(r))
    best = max(results, key=lambda r: r["rps"])
    knee = next(
        (prev for prev, r in zip(results, results[1:], strict=False) if r["rps"] < SATURATION_GAIN * prev["rps"]),
        None,
    )
    errors = sum(r["errors"] for r in results)
    print(f"\nerrors over all steps: {errors}")
    if knee is None:
        print(f"not saturated up to {results[-1]['users']} clients (each step added ≥ 10 % throughput): add steps")
    else:
        print(
            f"saturation at {knee['users']} clients: {knee['rps']:.1f} req/s, p95 {knee['p95']:.0f} ms; more clients add"
            f" < 10 % (best {best['rps']:.1f} req/s at {best['users']} clients, p95 {best['p95']:.0f} ms)"
        )
    top = knee or best
    if top["web_cores"]:
        print(
            f"capacity: {top['rps'] / top['web_cores']:.1f} req/s per core of web server"
            f" ({top['web_cores']:.2f} cores busy in gunicorn, {top['db_cores']:.2f} in PostgreSQL,"
            f" {top['locust_cores']:.2f} in locust, {top['machine_cores']:.2f} on the whole machine)"
        )
    low = results[0]
    if low["requests"] and low["web_cores"]:
        web_ms = low["web_cores"] * low["wall"] / low["requests"] * 1000
        db_ms = low["db_cores"] * low["wall"] / low["requests"] * 1000
        print(
            f"a request costs {web_ms:.1f} ms of web CPU and {db_ms:.1f} ms of PostgreSQL CPU; at {low['users']}"
            f" clients it took {low['avg']:.0f} ms on average, so one sync worker is on the CPU"
            f" {web_ms / low['avg']:.0%} of the time: ~{low['avg'] / web_ms:.1f} workers keep a core busy"
        )
    print(f"\nper request at saturation ({top['users']} clients):")
    report(top["prefix"], target=False)


def print_warmup(result: dict) -> None:
    logins = result["logins"]
    if logins.exists():
        times = sorted(json.loads(logins.read_text()))
        print(
            f"warm-up (not in the table): {len(times)} logins at once, "
            f"median {times[len(times) // 2]:.0f} ms, slowest {times[-1]:.0f} ms"
        )
    else:
        print("warm-up did not finish: the table includes the logins")


if __name__ == "__main__":
    main()
