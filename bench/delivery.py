"""Benchmark of post-sale delivery on PostgreSQL: the every-minute breach scan and the nightly service KPIs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_bench python bench/delivery.py --reset
    DATABASE_URL=... python bench/delivery.py --reset --partners 100 --tickets 10000 --open 1000

--reset TRUNCATEs the partner, lead and delivery tables of that database (never point it at real data). Data is
generated with INSERT … SELECT generate_series: partners, customers with one service contract each, won deals
with implementations, tickets with their two clocks and ~2.5 clock events per clock; the newest `--open` tickets
are open with running clocks (most not yet due); one ticket in 30 is an on-site visit dispatched to and accepted by
another partner (whose SLA figures count it). Printed beside their targets (issue 18):

- the breach scan (`tickets_flag_breaches`) with nothing due: < 200 ms over 100,000 open, beside the bare index
  scans it makes (the floor); processing 100 due clocks (each booked: penalty, credit, webhook, notices) beside
  one hand-written statement that only flags them and writes their events;
- the service KPIs (`service_kpis`, with the check-in score over check-ins and ticket ratings) next to the same
  aggregates written by hand as ONE SQL statement (the floor):
  ≤ 1.5 × the floor at 10,000 partners, 1,000,000 tickets, 5,000,000 clock events.
"""

import argparse
import datetime
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

TABLES = [
    "leads_checkin",
    "leads_dispatch",
    "leads_servicereport",
    "leads_clockevent",
    "leads_servicecredit",
    "leads_ticketclock",
    "leads_ticket",
    "leads_customerlink",
    "leads_milestone",
    "leads_implementation_team",
    "leads_implementation",
    "leads_servicecontract",
    "leads_slatemplate",
    "kpi_commissionentry",
    "prm_auditevent",
    "leads_lead",
    "leads_customer",
    "partners_partner",
    "partners_region",
]


def sql(statement: str, params=None) -> float:
    if isinstance(params, dict):
        statement = re.sub(r"%(?!\()", "%%", statement)  # modulo signs next to %(name)s placeholders
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(statement, params)
    return time.monotonic() - started


def generate(*, partners: int, tickets: int, open_tickets: int, now: datetime.datetime) -> None:
    customers = max(partners * 5, 10)
    implementations = partners * 2
    params = {"now": now}
    steps = [
        (
            "region",
            "INSERT INTO partners_region (code, name, name_ru, country, subdivision, timezone) "
            "VALUES ('bench', 'Bench', 'Бенч', 'RU', '', 'Europe/Moscow')",
        ),
        (
            "partners",
            f"""INSERT INTO partners_partner (created_at, updated_at, name, legal_name, country, tax_id,
            website, email_domain, description, program_model, partner_type, status, status_reason, lead_capacity,
            open_load, home_region_id)
            SELECT now(), now(), 'Partner '||g, '', 'RU', 'B'||g, '', '', '', 'full_cycle', 'operational', 'active',
                '', 20, 0, 1 FROM generate_series(1, {partners}) g""",
        ),
        (
            "customers",
            f"""INSERT INTO leads_customer (created_at, updated_at, name, normalized_name, country, tax_id,
            domain, size, reserved_for_direct, reserved_reason, region_id)
            SELECT now(), now(), 'Customer '||g, 'customer '||g, 'RU', '', '', '', false, '', 1
            FROM generate_series(1, {customers}) g""",
        ),
        (
            "won deals",
            f"""INSERT INTO leads_lead (created_at, updated_at, title, kind, source, stage, contact_name,
            contact_email, contact_phone, products, value, currency, notes, lost_reason, source_system, external_id,
            route_failures, customer_id, partner_id, won_at, closed_at, customer_name)
            SELECT %(now)s, %(now)s, 'Deal '||g, 'implementation', 'vendor', 'won', '', '', '', '', 100000, 'RUB',
                '', '', '', '', 0, 1 + g % {customers}, 1 + g % {partners}, %(now)s, %(now)s, ''
            FROM generate_series(1, {implementations}) g""",
        ),
        (
            "implementations",
            """INSERT INTO leads_implementation (created_at, updated_at, lead_id, partner_id,
            customer_id, planned_go_live, status, signed_off_at, signed_off_by, source_system, external_id)
            SELECT %(now)s, %(now)s, id, partner_id, customer_id, (%(now)s::timestamptz - (id % 120) * interval '1 day')::date,
                CASE WHEN id % 4 = 0 THEN 'in_progress' ELSE 'live' END,
                CASE WHEN id % 4 = 0 THEN NULL ELSE %(now)s::timestamptz - (id % 120 + (id % 3) - 1) * interval '1 day' END,
                '', '', '' FROM leads_lead""",
        ),
        (
            "contracts",
            f"""INSERT INTO leads_servicecontract (created_at, updated_at, coverage, work_start, work_end,
            targets, onsite_included, credit_pct_per_breach, credit_pct_per_downtime_hour, credit_cap_pct,
            penalty_per_breach, penalty_currency, customer_id, partner_id, number, timezone, country, subdivision,
            monthly_fee, currency, starts_on, source_system, external_id)
            SELECT now(), now(), '24x7', '09:00', '18:00',
                '{{"p1": {{"response_minutes": 30, "resolution_minutes": 240}}, "p2": {{"response_minutes": 120, "resolution_minutes": 960}}, "p3": {{"response_minutes": 480, "resolution_minutes": 2400}}, "p4": {{"response_minutes": 960, "resolution_minutes": 4800}}}}',
                true, 5, 1, 30, 1000, 'RUB', g, 1 + g % {partners}, 'SC-'||g, 'Europe/Moscow', 'RU', '', 100000, 'RUB',
                '2025-01-01', '', '' FROM generate_series(1, {customers}) g""",
        ),
        (
            "tickets",
            f"""INSERT INTO leads_ticket (created_at, updated_at, partner_id, customer_id, contract_id, title,
            description, priority, kind, status, source, contact_name, resolved_at, closed_at, reopen_count,
            rating_comment, source_system, external_id)
            SELECT opened, opened, 1 + c % {partners}, c, c, 'Ticket '||g, '', 'p'||(1 + g % 4), 'incident',
                CASE WHEN g > {tickets - open_tickets} THEN 'in_progress' ELSE 'closed' END, 'partner', '',
                CASE WHEN g > {tickets - open_tickets} THEN NULL ELSE opened + interval '3 hours' END,
                CASE WHEN g > {tickets - open_tickets} THEN NULL ELSE opened + interval '1 day' END,
                CASE WHEN g % 17 = 0 THEN 1 ELSE 0 END, '', '', ''
            FROM (SELECT g, 1 + g % {customers} AS c,
                         %(now)s::timestamptz - ({tickets} - g) * (interval '120 days' / {tickets}) AS opened
                  FROM generate_series(1, {tickets}) g) s""",
        ),
        (
            "clocks",
            """INSERT INTO leads_ticketclock (ticket_id, kind, state, target_seconds, started_at,
            running_since, paused_at, elapsed_seconds, warn_at, due_at, stopped_at, warned_at, breached_at, updated_at)
            SELECT t.id, k.kind,
                CASE WHEN t.status = 'closed' OR k.kind = 'response' THEN 'stopped' ELSE 'running' END,
                k.target, t.created_at,
                CASE WHEN t.status = 'closed' OR k.kind = 'response' THEN NULL ELSE t.created_at END, NULL,
                CASE WHEN t.status = 'closed' OR k.kind = 'response' THEN (t.id % 3) * k.target / 2 ELSE 0 END,
                CASE WHEN t.status = 'closed' OR k.kind = 'response' THEN NULL ELSE %(now)s::timestamptz + interval '1 day' END,
                CASE WHEN t.status = 'closed' OR k.kind = 'response' THEN t.created_at + k.target * interval '1 second'
                     ELSE %(now)s::timestamptz + interval '2 days' END,
                CASE WHEN t.status = 'closed' OR k.kind = 'response' THEN t.created_at + interval '2 hours' END,
                NULL,
                CASE WHEN (t.status = 'closed' OR k.kind = 'response') AND t.id % 3 = 2
                     THEN t.created_at + k.target * interval '1 second' END,
                now()
            FROM leads_ticket t CROSS JOIN (VALUES ('response', 1800), ('resolution', 14400)) k(kind, target)""",
        ),
        (
            "clock events",
            """INSERT INTO leads_clockevent (clock_id, action, at, elapsed_seconds, due_at, data)
            SELECT c.id, (ARRAY['start', 'stop', 'pause'])[n], c.started_at + n * interval '1 minute',
                c.elapsed_seconds, c.due_at, '{}'
            FROM leads_ticketclock c CROSS JOIN generate_series(1, 3) n WHERE n < 3 OR c.id % 2 = 0""",
        ),
        (
            "ticket ratings",
            """UPDATE leads_ticket SET rating = 1 + id % 5, rated_at = closed_at WHERE closed_at IS NOT NULL
            AND id % 4 = 0""",
        ),
        (
            "on-site work orders (1 ticket in 30)",
            f"""WITH wo AS (
                INSERT INTO leads_lead (created_at, updated_at, title, kind, source, stage, contact_name,
                contact_email, contact_phone, products, value, currency, notes, lost_reason, source_system,
                external_id, route_failures, customer_id, partner_id, accepted_at, customer_name)
                SELECT t.created_at, t.created_at, 'Visit '||t.id, 'onsite_service', 'dispatch', 'registered', '',
                    '', '', '', 0, 'RUB', '', '', 'bench', t.id::text, 0, t.customer_id, 1 + t.partner_id % {partners},
                    t.created_at + interval '10 minutes', ''
                FROM leads_ticket t WHERE t.id % 30 = 0
                RETURNING id, external_id, created_at
            )
            INSERT INTO leads_dispatch (ticket_id, work_order_id, partner_id, created_at)
            SELECT t.id, wo.id, t.partner_id, wo.created_at FROM wo JOIN leads_ticket t ON t.id = wo.external_id::bigint""",
        ),
        (
            "check-ins",
            """INSERT INTO leads_checkin (implementation_id, partner_id, day, due_on, token, created_at, invited_at,
            rating, comment, author_name, consent_publish, answered_at)
            SELECT i.id, i.partner_id, d.day, i.signed_off_at::date + d.day, md5(i.id || '-' || d.day),
                i.signed_off_at + d.day * interval '1 day', i.signed_off_at + d.day * interval '1 day',
                CASE WHEN i.id % 3 > 0 THEN 1 + (i.id + d.day) % 5 END, '', '', false,
                CASE WHEN i.id % 3 > 0 THEN i.signed_off_at + (d.day + 2) * interval '1 day' END
            FROM leads_implementation i CROSS JOIN (VALUES (30), (90), (180)) d(day)
            WHERE i.signed_off_at IS NOT NULL AND i.signed_off_at + d.day * interval '1 day' <= %(now)s""",
        ),
        (
            "100 clocks due",
            """UPDATE leads_ticketclock SET due_at = %(now)s::timestamptz - interval '1 minute'
            WHERE id IN (SELECT id FROM leads_ticketclock WHERE state = 'running' ORDER BY id LIMIT 100)""",
        ),
    ]
    sql("SET session_replication_role = replica")
    for name, statement in steps:
        print(f"  {name:<40} {sql(statement, params):6.1f} s", flush=True)
    sql("SET session_replication_role = DEFAULT")
    print(f"  {'ANALYZE':<40} {sql('ANALYZE'):6.1f} s", flush=True)


FLOOR_SQL = """
WITH c AS (
    SELECT t.partner_id,
        count(*) FILTER (WHERE c.kind = 'response' AND (c.state = 'stopped' OR c.breached_at IS NOT NULL)) AS rt,
        count(*) FILTER (WHERE c.kind = 'response' AND c.state = 'stopped' AND c.breached_at IS NULL) AS rok,
        count(*) FILTER (WHERE c.kind = 'resolution' AND (c.state = 'stopped' OR c.breached_at IS NOT NULL)) AS st,
        count(*) FILTER (WHERE c.kind = 'resolution' AND c.state = 'stopped' AND c.breached_at IS NULL) AS sok
    FROM leads_ticketclock c JOIN leads_ticket t ON t.id = c.ticket_id
    WHERE c.started_at >= %(start)s AND c.started_at < %(end)s AND c.state <> 'cancelled' GROUP BY t.partner_id
), f AS (  -- field partners: clocks of dispatched tickets still running when they accepted the work order
    SELECT l.partner_id,
        count(*) FILTER (WHERE c.kind = 'response' AND (c.state = 'stopped' OR c.breached_at IS NOT NULL)) AS rt,
        count(*) FILTER (WHERE c.kind = 'response' AND c.state = 'stopped' AND c.breached_at IS NULL) AS rok,
        count(*) FILTER (WHERE c.kind = 'resolution' AND (c.state = 'stopped' OR c.breached_at IS NOT NULL)) AS st,
        count(*) FILTER (WHERE c.kind = 'resolution' AND c.state = 'stopped' AND c.breached_at IS NULL) AS sok
    FROM leads_dispatch d JOIN leads_lead l ON l.id = d.work_order_id JOIN leads_ticket t ON t.id = d.ticket_id
        JOIN leads_ticketclock c ON c.ticket_id = d.ticket_id
    WHERE c.started_at >= %(start)s AND c.started_at < %(end)s AND c.state <> 'cancelled'
        AND l.partner_id IS NOT NULL AND l.accepted_at IS NOT NULL AND l.partner_id <> t.partner_id
        AND (c.stopped_at IS NULL OR c.stopped_at > l.accepted_at)
        AND (c.breached_at IS NULL OR c.breached_at > l.accepted_at)
    GROUP BY l.partner_id
), t AS (
    SELECT partner_id, count(*) AS resolved, count(*) FILTER (WHERE reopen_count > 0) AS reopened FROM leads_ticket
    WHERE created_at >= %(start)s AND created_at < %(end)s AND status <> 'cancelled'
        AND (resolved_at IS NOT NULL OR reopen_count > 0) GROUP BY partner_id
), i AS (
    SELECT partner_id, count(*) AS due,
        count(*) FILTER (WHERE (signed_off_at AT TIME ZONE %(tz)s)::date <= planned_go_live) AS on_time
    FROM leads_implementation WHERE planned_go_live >= %(first)s AND planned_go_live <= %(day)s
        AND (planned_go_live < %(day)s OR signed_off_at IS NOT NULL) AND status <> 'cancelled' GROUP BY partner_id
), r AS (
    SELECT partner_id, sum(rating) AS rating_sum, count(*) AS answers FROM (
        SELECT partner_id, rating FROM leads_checkin WHERE answered_at >= %(start)s AND answered_at < %(end)s
        UNION ALL
        SELECT partner_id, rating FROM leads_ticket WHERE rated_at >= %(start)s AND rated_at < %(end)s
    ) x GROUP BY partner_id
)
SELECT p.id, c.rt + coalesce(f.rt, 0), c.rok + coalesce(f.rok, 0), c.st + coalesce(f.st, 0),
    c.sok + coalesce(f.sok, 0), t.resolved, t.reopened, i.due, i.on_time, r.rating_sum, r.answers
FROM partners_partner p
LEFT JOIN c ON c.partner_id = p.id LEFT JOIN f ON f.partner_id = p.id
LEFT JOIN t ON t.partner_id = p.id LEFT JOIN i ON i.partner_id = p.id
LEFT JOIN r ON r.partner_id = p.id
"""


def best(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        fn()
        times.append(time.monotonic() - started)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000, help="open tickets (running resolution clocks)")
    parser.add_argument("--reset", action="store_true", help="TRUNCATE the tables first and generate data")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)  # a fresh database works as well as one used before
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database.")
    from django.conf import settings

    from kpi.services.snapshots import day_end
    from leads.delivery.breaches import tickets_flag_breaches
    from leads.delivery.kpis import service_kpis

    now = timezone.now()
    if args.reset:
        print(f"Generating {args.partners:,} partners, {args.tickets:,} tickets ({args.open:,} open) …")
        sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        generate(partners=args.partners, tickets=args.tickets, open_tickets=args.open, now=now)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM leads_clockevent")
        events = cur.fetchone()[0]
    print(f"Clock events: {events:,}; load average {Path('/proc/loadavg').read_text().split(' ', 3)[:3]}")

    class Rollback(Exception):
        pass

    def scan(due: int = 0):
        """The job in a transaction rolled back; with `due`, that many running clocks are made due first."""
        try:
            with transaction.atomic():
                if due:
                    sql(
                        "UPDATE leads_ticketclock SET due_at = %s WHERE id IN (SELECT id FROM leads_ticketclock "
                        "WHERE state = 'running' AND breached_at IS NULL ORDER BY id LIMIT %s)",
                        [now - datetime.timedelta(minutes=1), due],
                    )
                started = time.monotonic()
                counts = tickets_flag_breaches(now=now)
                raise Rollback(counts, time.monotonic() - started)
        except Rollback as done:
            return done.args

    def scan_floor():
        """The bare claims the job makes when nothing is due: the same partial-index scans, by hand."""
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id FROM leads_ticketclock WHERE state = 'running' AND breached_at IS NULL AND due_at <= %s "
                "ORDER BY due_at LIMIT 500 FOR NO KEY UPDATE SKIP LOCKED",
                [now],
            )
            cur.fetchall()
            cur.execute(
                "SELECT id FROM leads_ticketclock WHERE state = 'running' AND warned_at IS NULL "
                "AND breached_at IS NULL AND warn_at <= %s ORDER BY warn_at LIMIT 500 FOR NO KEY UPDATE SKIP LOCKED",
                [now],
            )
            cur.fetchall()
            cur.execute(
                "SELECT id FROM leads_milestone WHERE done_at IS NULL AND late_flagged_at IS NULL AND due_on < %s "
                "ORDER BY due_on LIMIT 500 FOR NO KEY UPDATE SKIP LOCKED",
                [now.date()],
            )
            cur.fetchall()

    def due_floor(due: int):
        """Flagging `due` due clocks by hand in one statement, with their breach events (no ledger, credit or
        notification): what any per-clock booking is compared against."""
        try:
            with transaction.atomic():
                sql(
                    "UPDATE leads_ticketclock SET due_at = %s WHERE id IN (SELECT id FROM leads_ticketclock "
                    "WHERE state = 'running' AND breached_at IS NULL ORDER BY id LIMIT %s)",
                    [now - datetime.timedelta(minutes=1), due],
                )
                started = time.monotonic()
                sql(
                    """WITH b AS (UPDATE leads_ticketclock SET breached_at = due_at, updated_at = now()
                    WHERE state = 'running' AND breached_at IS NULL AND due_at <= %s RETURNING id, elapsed_seconds,
                    due_at) INSERT INTO leads_clockevent (clock_id, action, at, elapsed_seconds, due_at, data)
                    SELECT id, 'breach', %s, elapsed_seconds, due_at, '{}' FROM b""",
                    [now, now],
                )
                raise Rollback(time.monotonic() - started)
        except Rollback as done:
            return done.args[0]

    sql(  # nothing due outside the measured transactions
        "UPDATE leads_ticketclock SET due_at = %s WHERE state = 'running' AND due_at < %s",
        [now + datetime.timedelta(days=2), now],
    )
    for due in (100,):
        runs = [scan(due) for _ in range(3)]
        counts, with_due = runs[0][0], min(r[1] for r in runs)
        floor_due = min(due_floor(due) for _ in range(3))
        print(
            f"Due clocks processed: {counts['breached']} in {with_due * 1000:7.1f} ms "
            f"({with_due * 1000 / max(counts['breached'], 1):5.1f} ms each, penalty + credit + webhook + notice); "
            f"floor (flag + event, one statement) {floor_due * 1000:6.1f} ms"
        )
    quiet = min(scan()[1] for _ in range(5))
    floor_scan = best(scan_floor, runs=5)
    print(
        f"Breach scan, nothing due, {args.open:,} open tickets: {quiet * 1000:7.1f} ms; "
        f"floor (bare index scans) {floor_scan * 1000:6.1f} ms   (target < 200 ms)"
    )

    day = timezone.localdate()
    end = day_end(day)
    start = end - datetime.timedelta(days=settings.PRM_KPI_WINDOW_DAYS)
    params = {"start": start, "end": end, "first": start.date(), "day": day, "tz": settings.TIME_ZONE}

    def floor():
        with connection.cursor() as cur:
            cur.execute(FLOOR_SQL, params)
            return cur.fetchall()

    def as_kpis(rows) -> dict:
        """The floor's counts as the product's figures, to check both answer the same."""
        from decimal import ROUND_HALF_UP, Decimal

        def pct(part, whole):
            return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP) if whole else None

        out = {}
        for pid, rt, rok, st, sok, resolved, reopened, due, on_time, rating_sum, answers in rows:
            figures = {
                "ontime_golive_pct": pct(on_time or 0, due or 0),
                "response_in_sla_pct": pct(rok or 0, rt or 0),
                "resolution_in_sla_pct": pct(sok or 0, st or 0),
                "reopen_rate_pct": pct(reopened or 0, resolved or 0),
                "checkin_score": (Decimal(rating_sum) / answers).quantize(Decimal("0.01"), ROUND_HALF_UP)
                if answers
                else None,
            }
            if any(v is not None for v in figures.values()):
                out[pid] = figures
        return out

    def nonempty(kpis: dict) -> dict:
        return {pid: f for pid, f in kpis.items() if any(v is not None for v in f.values())}

    if as_kpis(floor()) != nonempty(service_kpis(start=start, end=end, on=day)):
        sys.exit("The floor and service_kpis disagree: the comparison would be meaningless.")
    floor_s = best(floor)
    ours = best(lambda: service_kpis(start=start, end=end, on=day))
    print(
        f"Service KPIs: {ours:6.2f} s; floor (one statement) {floor_s:6.2f} s; ratio {ours / floor_s:4.2f} × (target ≤ 1.5 ×)"
    )
    print(f"Load average: {Path('/proc/loadavg').read_text().split(' ', 3)[:3]}")


if __name__ == "__main__":
    main()
