"""Benchmark of the monthly statement close on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_bench python bench/statement_close.py --reset
    DATABASE_URL=... python bench/statement_close.py --reset --partners 100 --entries 20000   # a quick check

--reset TRUNCATEs the partner and commission tables (CASCADE) of that database: never point it at real data.
Entries are generated with INSERT … SELECT generate_series, all dated in one past month and booked for it (as
`ledger_entries_place` does: `statement_period`, no holding period); every fifth partner is paid in EUR (its entries
carry a stored payout rate and amount), and a few entries have no payout amount (no rate stored), so the
partner-currency total must be left empty for their partners. The month before is closed (an empty statement per
partner), as on every monthly close after the first. The script times the same per-partner totals written by hand as
ONE SQL statement (the floor, reporting and partner-currency totals) and then `statement_close` for that month (lock,
checks, inserting the statements), each in a transaction that is rolled back so runs repeat. It then checks that both
give the same figures for every partner and exits non-zero when they do not.
Target (issue 19): close ≤ 1.5 × floor at 10,000 partners / 2,000,000 entries.
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from kpi.payouts.services import statement_close  # noqa: E402

KINDS = "ARRAY['accrual','accrual','accrual','penalty','adjustment','override']"


def sql(statement: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def generate(partners: int, entries: int, period: datetime.date) -> None:
    sql("TRUNCATE kpi_statement, kpi_commissionentry, partners_partner RESTART IDENTITY CASCADE")
    sql(
        f"""INSERT INTO partners_partner (created_at, updated_at, name, legal_name, country, tax_id, website,
            email_domain, description, program_model, partner_type, status, status_reason, lead_capacity, open_load)
        SELECT now(), now(), 'Partner '||g, '', 'RU', 'S'||g, '', '', '', 'full_cycle', 'operational', 'active',
            '', 20, 0
        FROM generate_series(1::bigint, {partners}) g"""
    )
    sql(
        f"""INSERT INTO kpi_commissionentry (partner_id, kind, entry_date, amount, currency, amount_reporting,
            share_percent, description, source_key, status, created_at, updated_at,
            payout_currency, payout_rate, amount_payout, statement_period)
        SELECT x.partner_id, ({KINDS})[1 + g %% 6], %s::date + (g %% 28)::int,
            (g %% 1000) - 100, 'RUB', (g %% 1000) - 100, 100, 'bench', 'bench:'||g, 'pending', now(), now(),
            CASE WHEN x.eur THEN 'EUR' ELSE 'RUB' END,
            CASE WHEN g %% 997 = 0 THEN NULL WHEN x.eur THEN 0.01 ELSE 1 END,
            CASE WHEN g %% 997 = 0 THEN NULL WHEN x.eur THEN round(((g %% 1000) - 100) * 0.01, 2)
                 ELSE (g %% 1000) - 100 END,
            %s::date
        FROM generate_series(1::bigint, {entries}) g,
             LATERAL (SELECT 1 + g %% {partners} AS partner_id, (1 + g %% {partners}) %% 5 = 0 AS eur) x""",
        [period, period],
    )
    before = (period - datetime.timedelta(days=1)).replace(day=1)
    sql(
        """INSERT INTO kpi_statement (partner_id, period, status, currency, accruals, overrides, penalties, clawbacks,
            adjustments, reimbursements, total, entries_count, payout_currency, hold_days, closed_at, updated_at,
            payment_reference)
        SELECT id, %s, 'closed', 'RUB', 0, 0, 0, 0, 0, 0, 0, 0, '', 0, now(), now(), '' FROM partners_partner""",
        [before],
    )
    sql("ANALYZE kpi_commissionentry")
    sql("ANALYZE kpi_statement")
    sql("ANALYZE partners_partner")


FLOOR = """
CREATE TEMP TABLE floor_totals AS
SELECT p.id AS partner_id,
       COALESCE(SUM(CASE WHEN e.kind = 'accrual' THEN e.amount_reporting END), 0) AS accruals,
       COALESCE(SUM(CASE WHEN e.kind = 'override' THEN e.amount_reporting END), 0) AS overrides,
       COALESCE(SUM(CASE WHEN e.kind = 'penalty' THEN e.amount_reporting END), 0) AS penalties,
       COALESCE(SUM(CASE WHEN e.kind = 'clawback' THEN e.amount_reporting END), 0) AS clawbacks,
       COALESCE(SUM(CASE WHEN e.kind = 'adjustment' THEN e.amount_reporting END), 0) AS adjustments,
       COALESCE(SUM(CASE WHEN e.kind = 'reimbursement' THEN e.amount_reporting END), 0) AS reimbursements,
       COALESCE(SUM(e.amount_reporting), 0) AS total, COUNT(e.id) AS n,
       CASE WHEN COUNT(e.id) > 0 AND COUNT(e.amount_payout) = COUNT(e.id)
                 AND MIN(e.payout_currency) = MAX(e.payout_currency)
            THEN MIN(e.payout_currency) ELSE '' END AS payout_currency,
       CASE WHEN COUNT(e.id) > 0 AND COUNT(e.amount_payout) = COUNT(e.id)
                 AND MIN(e.payout_currency) = MAX(e.payout_currency)
            THEN SUM(e.amount_payout) END AS payout_total
FROM partners_partner p
LEFT JOIN kpi_commissionentry e ON e.partner_id = p.id AND e.statement_period = %s
WHERE p.status = 'active' OR e.id IS NOT NULL
GROUP BY p.id
"""

COLUMNS = [
    "accruals",
    "overrides",
    "penalties",
    "clawbacks",
    "adjustments",
    "reimbursements",
    "total",
    "n",
    "payout_currency",
    "payout_total",
]
PRODUCT = f"""SELECT partner_id, {", ".join(COLUMNS).replace(" n,", " entries_count,")}
FROM kpi_statement WHERE period = %s ORDER BY partner_id"""


def floor_rows(period: datetime.date) -> list[tuple]:
    """The floor's figures per partner: the totals of the entries booked for `period`."""
    sql("DROP TABLE IF EXISTS floor_totals")
    sql(FLOOR, [period])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT partner_id, {', '.join(COLUMNS)} FROM floor_totals ORDER BY partner_id")  # noqa: S608
        return cursor.fetchall()


def product_rows(period: datetime.date) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(PRODUCT, [period])
        return cursor.fetchall()


def disagreements(period: datetime.date) -> list[str]:
    """Close the month after computing the floor, in one rolled-back transaction; the rows where they differ."""
    try:
        with transaction.atomic():
            floor = floor_rows(period)
            statement_close(period=period)
            product = product_rows(period)
            raise Rollback
    except Rollback:
        pass
    if len(floor) != len(product):
        return [f"{len(floor)} floor rows, {len(product)} statements"]
    return [f"floor {f} ≠ product {p}" for f, p in zip(floor, product, strict=True) if f != p]


class Rollback(Exception):
    pass


def timed(step) -> float:
    started = time.perf_counter()
    try:
        with transaction.atomic():
            step()
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=2_000_000)
    parser.add_argument("--reset", action="store_true", help="TRUNCATE the tables first and generate data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)  # a fresh database works as well as one used before
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database.")
    today = datetime.date.today()
    period = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    result = {"bench": "statement_close", "partners": args.partners, "entries": args.entries}
    if args.reset:
        started = time.perf_counter()
        generate(args.partners, args.entries, period)
        result["generation_s"] = round(time.perf_counter() - started, 1)
        print(f"generated {args.partners:,} partners, {args.entries:,} entries in {result['generation_s']} s")
    floor = min(timed(lambda: sql(FLOOR, [period])) for _ in range(args.repeat))
    close = min(timed(lambda: statement_close(period=period)) for _ in range(args.repeat))
    print(f"floor (one SQL statement, totals only): {floor:.3f} s")
    print(f"statement_close (insert the statements): {close:.3f} s  = {close / floor:.2f} × floor")
    with open("/proc/loadavg") as f:
        print(f"load average: {f.read().split()[0]}")
    wrong = disagreements(period)
    if wrong:
        print(f"floor and statement_close disagree for {len(wrong)} partners:", *wrong[:10], sep="\n  ")
        sys.exit(1)
    print("floor and statement_close agree for every partner (reporting and partner-currency totals)")
    result.update(close_s=round(close, 3), floor_s=round(floor, 3), ratio=round(close / floor, 2))
    result["load"] = os.getloadavg()[0]
    print("RESULT", json.dumps(result))  # read by bench/scale.py


if __name__ == "__main__":
    main()
