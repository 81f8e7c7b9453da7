"""Load test: gunicorn (production settings) + PostgreSQL + Redis under a mix of partner portal pages,
channel-manager pages, API reads and API writes from 32 concurrent clients for 2 minutes (locust, headless).
Prints p50/p95/p99 per request type and overall, errors and requests/s. Target: 0 errors, p95 < 100 ms.

    # once: a seeded database (full size 10,000 / 2,000,000 takes ~7 min; develop with e.g. 500 / 50,000)
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_load REDIS_URL=redis://127.0.0.1:6379/14
    python manage.py migrate && python manage.py seed_demo --partners 10000 --leads 2000000
    python bench/load.py [--users 32] [--duration 2m] [--workers N] [--wait 1-3] [--partners 16]

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
    p.add_argument("--users", type=int, default=32, help="concurrent clients (default 32)")
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


def report(prefix: Path, floor_name: str = "floor /healthz") -> None:
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
    overall = next(r for r in rows if r["Name"] == "Aggregated")
    errors, p95 = int(overall["Failure Count"]), _ms(overall["95%"]) or 0.0
    verdict = "met" if errors == 0 and p95 < 100 else "NOT met"
    print(f"\ntarget 0 errors and p95 < 100 ms: {verdict} ({errors} errors, p95 {p95:.0f} ms)")


def _ms(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    args = parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    locust = locust_bin(args.locust_venv)
    crm_users = max(args.users // 2, 1)
    fixture = prepare(args.partners, crm_users)
    (OUT / "fixture.json").write_text(json.dumps(fixture))
    env = production_env(args.port)
    print(f"gunicorn: {args.workers} workers on 127.0.0.1:{args.port}; {args.users} clients for {args.duration}")
    server = gunicorn_start(env, args.port, args.workers)
    try:
        print("before:", uptime())
        logins = OUT / "logins.json"
        logins.unlink(missing_ok=True)
        locust_env = {
            **env,
            "LOADTEST_FIXTURE": str(OUT / "fixture.json"),
            "LOADTEST_WAIT": args.wait,
            "LOADTEST_LOGINS": str(logins),
        }
        subprocess.run(
            [str(locust), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--only-summary"]
            + ["-u", str(args.users), "-r", str(args.users), "-t", args.duration]
            + ["--host", f"http://127.0.0.1:{args.port}", "--csv", str(OUT / "run"), "--loglevel", "WARNING"],
            cwd=ROOT,
            env=locust_env,
            stdout=subprocess.DEVNULL,
            stderr=open(OUT / "locust.log", "w"),  # noqa: SIM115 - its own summary; ours is below
            check=False,  # locust exits 1 when any request failed; the table below says which
        )
        print("after: ", uptime())
    finally:
        gunicorn_stop(server)
    if not Path(f"{OUT / 'run'}_stats.csv").exists():
        sys.exit(f"locust wrote no statistics; see {OUT / 'locust.log'}")
    report(OUT / "run")
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
