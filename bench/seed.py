"""Benchmark: `seed_demo --partners N --leads M` on a fresh PostgreSQL database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm python bench/seed.py [--partners 10000] [--leads 2000000]

Creates (and drops first) a database named prm_bench_seed (or --database) on the server of DATABASE_URL, migrates it, times the
seed and prints the row counts. Target: 10,000 partners and 2,000,000 leads in under 5 minutes on 2 cores.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "prm_bench_seed"
TABLES = [
    "partners_partner",
    "prm_user",
    "training_certification",
    "training_enrollment",
    "leads_customer",
    "leads_lead",
    "leads_registration",
    "leads_protectionwindow",
    "leads_routingdecision",
    "leads_offer",
    "leads_activity",
    "partners_customerreview",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=2_000_000)
    parser.add_argument("--activities", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--database", default=BENCH_DB, help=f"name of the database to (re)create (default {BENCH_DB})")
    parser.add_argument(
        "--template", help="copy this migrated, empty database instead of migrating (CI's tiny run saves the migrate)"
    )
    args = parser.parse_args()
    bench_db = args.database

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/prm")
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    bench_url = urlunsplit(parts._replace(path=f"/{bench_db}"))

    def admin(sql):
        conn = psycopg2.connect(admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    admin(f"DROP DATABASE IF EXISTS {bench_db} WITH (FORCE)")
    env = {**os.environ, "DATABASE_URL": bench_url}
    manage = [sys.executable, str(ROOT / "manage.py")]
    if args.template:
        admin(f'CREATE DATABASE {bench_db} TEMPLATE "{args.template}"')
    else:
        admin(f"CREATE DATABASE {bench_db}")
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)

    started = time.monotonic()
    subprocess.run(
        [
            *manage,
            "seed_demo",
            f"--partners={args.partners}",
            f"--leads={args.leads}",
            f"--activities={args.activities}",
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )
    elapsed = time.monotonic() - started

    conn = psycopg2.connect(urlunsplit(parts._replace(scheme="postgresql", path=f"/{bench_db}")))
    with conn.cursor() as cur:
        print(f"\nseed_demo --partners {args.partners} --leads {args.leads} --activities {args.activities}")
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names
            print(f"  {table:<28} {cur.fetchone()[0]:>12,}")
    conn.close()
    print(f"elapsed: {elapsed:.1f} s ({'under' if elapsed < 300 else 'OVER'} the 5-minute target)")
    if not args.keep:
        admin(f"DROP DATABASE IF EXISTS {bench_db} WITH (FORCE)")


if __name__ == "__main__":
    main()
