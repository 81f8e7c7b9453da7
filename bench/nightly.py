"""Benchmark of the nightly run on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_bench python bench/nightly.py --reset
    DATABASE_URL=... python bench/nightly.py --reset --partners 1000 --leads 200000 --activities 1000000

--reset TRUNCATEs the partner, lead, training and KPI tables of that database (never point it at real data).
Data is generated with INSERT … SELECT generate_series. The script then times the nightly run for the last
generated day next to the same KPI aggregates written by hand as ONE SQL statement (the floor).
Targets (issue 7): KPI phase ≤ 1.5 × floor; whole run < 10 s at 10,000 / 2,000,000 / 10,000,000.
"""

import argparse
import datetime
import json
import os
import re
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

TABLES = [
    "kpi_commissionentry",
    "kpi_tierchange",
    "kpi_tierlock",
    "kpi_kpisnapshot",
    "kpi_nightlyrun",
    "kpi_scorecomponent",
    "kpi_exchangerate",
    "prm_notification",
    "prm_auditevent",
    "leads_activity",
    "leads_offer",
    "leads_cosell",
    "partners_customerreview",
    "leads_lead",
    "leads_customer",
    "training_enrollment",
    "training_certification",
    "training_certificationtype",
    "training_course",
    "prm_user",
    "partners_tierrequirement",
    "partners_partner",
    "partners_tier",
    "partners_slapolicy",
    "partners_competency",
    "partners_region",
]


def sql(statement: str, params=None) -> float:
    if params is not None:
        statement = re.sub(r"%(?!\()", "%%", statement)  # modulo signs next to %(name)s placeholders
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(statement, params)
    return time.monotonic() - started


def generate(*, partners: int, leads: int, activities: int, day: datetime.date) -> None:
    from kpi.models import ExchangeRate, ScoreComponent
    from partners.models import Competency, Region, SlaPolicy, Tier, TierRequirement

    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min).isoformat()
    customers = max(1000, leads // 10)
    region = Region.objects.create(code="bench", name="Bench", country="RU")
    policy = SlaPolicy.objects.create(name="Bench SLA", penalty_per_breach=Decimal("1000"))
    comps = [Competency.objects.create(code=c, name=c.title()) for c in ("security", "network", "cloud")]
    reg = Tier.objects.create(code="registered", name="Registered", rank=0, commission_rate=Decimal("0.05"))
    silver = Tier.objects.create(code="silver", name="Silver", rank=1, commission_rate=Decimal("0.10"))
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, commission_rate=Decimal("0.15"))
    TierRequirement.objects.create(tier=silver, metric="sla_acceptance", threshold=70)
    TierRequirement.objects.create(tier=silver, metric="certified_people", threshold=1)
    TierRequirement.objects.create(tier=gold, metric="sla_acceptance", threshold=85)
    TierRequirement.objects.create(tier=gold, metric="certified_people", competency=comps[0], threshold=2)
    TierRequirement.objects.create(tier=gold, metric="won_revenue_12m", threshold=5_000_000)
    for name, metric, target, points in (
        ("SLA", "sla_acceptance", 100, 30),
        ("First contact", "sla_first_contact", 100, 20),
        ("Hygiene", "deal_hygiene", 100, 20),
        ("Skills", "certified_people", 5, 15),
        ("Customers", "customer_rating", 5, 15),
    ):
        ScoreComponent.objects.create(name=name, metric=metric, target=target, max_points=points)
    for m in range(16):
        ExchangeRate.objects.create(currency="USD", valid_from=day - datetime.timedelta(days=30 * m), rate=90 + m)

    steps = [
        (
            "partners",
            f"""INSERT INTO partners_partner (created_at, updated_at, name, legal_name, country, tax_id, website,
                email_domain, description, program_model, partner_type, status, status_reason, lead_capacity,
                open_load, home_region_id, sla_policy_id, tier_id)
            SELECT now(), now(), 'Partner '||g, '', 'RU', 'B'||g, '', '', '', 'full_cycle', 'operational', 'active',
                '', 20, 0, {region.pk}, {policy.pk}, (ARRAY[{reg.pk},{silver.pk},{gold.pk}])[1 + g % 3]
            FROM generate_series(1::bigint, {partners}) g""",
        ),
        (
            "users",
            f"""INSERT INTO prm_user (password, is_superuser, first_name, last_name, is_staff, is_active, date_joined,
                email, role, phone, job_title, email_events, email_digest, language, is_channel_lead, updated_at,
                partner_id)
            SELECT '!', false, '', '', false, true, now(), 'u'||g||'@bench.example',
                (ARRAY['partner_admin','partner_sales','partner_engineer'])[1 + g / {partners}], '', '', '[]', false,
                '', false, now(), 1 + g % {partners}
            FROM generate_series(0::bigint, {3 * partners - 1}) g""",
        ),
        (
            "certifications",
            """INSERT INTO training_certificationtype (code, name, name_ru, validity_months, description, competency_id)
            SELECT code, name, '', 24, '', id FROM partners_competency;
            INSERT INTO training_certification (created_at, updated_at, code, issued_on, expires_on, revoked_reason,
                course_version, partner_id, user_id, type_id)
            SELECT now(), now(), 'C'||u.id, %(day)s::date - 100, %(day)s::date + 600, '', '', u.partner_id, u.id,
                (SELECT min(id) FROM training_certificationtype) + u.id % 3
            FROM prm_user u WHERE u.partner_id IS NOT NULL AND u.id % 3 <> 0""",
        ),
        (
            "training",
            """INSERT INTO training_course (created_at, updated_at, title, title_ru, product, level, language, audience_role,
                duration_minutes, description, version_major, version_minor, status, is_mandatory_onboarding)
            VALUES (now(), now(), 'Onboarding', '', '', 'basic', 'ru', '', 60, '', 1, 0, 'published', true);
            INSERT INTO training_enrollment (created_at, updated_at, status, course_version, course_id, partner_id,
                user_id)
            SELECT now(), now(), 'passed', '1.0', (SELECT max(id) FROM training_course), partner_id, id
            FROM prm_user WHERE partner_id IS NOT NULL AND id % 2 = 0""",
        ),
        (
            "customers",
            f"""INSERT INTO leads_customer (created_at, updated_at, name, normalized_name, country, tax_id, domain,
                size, reserved_for_direct, reserved_reason, region_id)
            SELECT now(), now(), 'Customer '||g, 'customer '||g, 'RU', '', '', '', false, '', {region.pk}
            FROM generate_series(1::bigint, {customers}) g""",
        ),
        (
            "leads",
            f"""INSERT INTO leads_lead (created_at, updated_at, title, kind, source, stage, contact_name,
                contact_email, contact_phone, products, value, currency, notes, lost_reason, source_system,
                external_id, route_failures, customer_name, customer_id, partner_id, region_id, accepted_at, first_contact_due,
                first_contact_at, last_activity_at, won_at, closed_at)
            SELECT c, c, 'Deal '||g, 'license', 'vendor', stage, '', '', '', '', 10000 + (g * 7919) % 1000000,
                CASE WHEN g % 20 = 0 THEN 'USD' ELSE 'RUB' END, '', '', '', '', 0, '', 1 + g % {customers},
                1 + g % {partners}, {region.pk},
                CASE WHEN routed THEN c + interval '1 hour' END,
                CASE WHEN routed THEN c + interval '9 hours' END,
                CASE WHEN routed AND g % 10 <> 0 THEN c + (g % 12) * interval '1 hour' END,
                CASE WHEN stage IN ('registered','qualified','proposal','negotiation')
                     THEN %(end)s::timestamptz - (g % 30) * interval '1 day' END,
                CASE WHEN stage = 'won' THEN closed END,
                CASE WHEN stage IN ('won','lost') THEN closed END
            FROM (
                SELECT g, routed, stage, closed, closed - (5 + g % 60) * interval '1 day' AS c FROM (
                    SELECT g, g % 2 = 0 AS routed,
                        %(end)s::timestamptz - ((g * 104729) % (400 * 1440) + 1) * interval '1 minute' AS closed,
                        (ARRAY['won','won','lost','lost','registered','qualified','proposal','negotiation',
                               'registered','qualified'])[1 + g % 10] AS stage
                    FROM generate_series(1::bigint, {leads}) g
                ) t
            ) s""",
        ),
        (
            "offers",
            """INSERT INTO leads_offer (created_at, updated_at, status, offered_at, deadline, responded_at, reason,
                lead_id, partner_id)
            SELECT l.created_at, l.created_at, st, l.created_at, l.created_at + interval '4 hours',
                CASE WHEN st <> 'expired' THEN l.created_at + (l.id % 360) * interval '1 minute' END, '', l.id,
                l.partner_id
            FROM (SELECT *, (ARRAY['accepted','accepted','accepted','accepted','accepted','accepted','accepted',
                                   'expired','declined','accepted'])[1 + (id / 2) % 10] AS st
                  FROM leads_lead WHERE accepted_at IS NOT NULL) l""",
        ),
        (
            "activities",
            f"""INSERT INTO leads_activity (created_at, updated_at, kind, occurred_at, subject, notes, source_system,
                external_id, partner_id, lead_id)
            SELECT t, t, 'call', t, 'Call', '', '', '', 1 + (1 + g % {leads}) % {partners}, 1 + g % {leads}
            FROM (SELECT g, %(end)s::timestamptz - (g % 400) * interval '1 day' AS t
                  FROM generate_series(0::bigint, {activities - 1}) g) s""",
        ),
        (
            "reviews",
            """INSERT INTO partners_customerreview (created_at, updated_at, token, status, rating, text, author_name,
                submitted_at, moderation_reason, lead_id, partner_id)
            SELECT won_at, won_at, 't'||id, 'published', 3 + id % 3, '', '', won_at, '', id, partner_id
            FROM leads_lead WHERE stage = 'won' AND id % 50 = 0""",
        ),
        (
            "ledger history (nights before the benchmarked one)",
            """INSERT INTO kpi_commissionentry (kind, entry_date, amount, currency, amount_reporting, rate,
                share_percent, description, source_key, status, created_at, updated_at, lead_id, partner_id, payout_currency,
                statement_period)
            SELECT 'accrual', (won_at AT TIME ZONE %(tz)s)::date, value * 0.1, currency, value * 0.1, 0.1, 100, '',
                'accrual:lead:'||id||':partner:'||partner_id, 'pending', now(), now(), id, partner_id, '',
                date_trunc('month', (won_at AT TIME ZONE %(tz)s)::date + %(hold)s::int)::date
            FROM leads_lead WHERE stage = 'won' AND won_at < %(start)s::timestamptz;
            INSERT INTO kpi_commissionentry (kind, entry_date, amount, currency, amount_reporting, share_percent,
                description, source_key, status, created_at, updated_at, lead_id, partner_id, payout_currency,
                statement_period)
            SELECT 'penalty', (deadline AT TIME ZONE %(tz)s)::date, -1000, 'RUB', -1000, 100, '',
                'penalty:offer:'||id, 'pending', now(), now(), lead_id, partner_id, '',
                date_trunc('month', deadline AT TIME ZONE %(tz)s)::date
            FROM leads_offer WHERE deadline < %(start)s::timestamptz
                AND (status = 'expired' OR (status = 'accepted' AND responded_at > deadline));
            INSERT INTO kpi_commissionentry (kind, entry_date, amount, currency, amount_reporting, share_percent,
                description, source_key, status, created_at, updated_at, lead_id, partner_id, payout_currency,
                statement_period)
            SELECT 'penalty', (first_contact_due AT TIME ZONE %(tz)s)::date, -1000, 'RUB', -1000, 100, '',
                'penalty:first_contact:lead:'||id, 'pending', now(), now(), id, partner_id, '',
                date_trunc('month', first_contact_due AT TIME ZONE %(tz)s)::date
            FROM leads_lead WHERE first_contact_due < %(start)s::timestamptz
                AND (first_contact_at IS NULL OR first_contact_at > first_contact_due)""",
        ),
    ]
    tz = settings.TIME_ZONE
    params = {
        "day": day.isoformat(),
        "end": f"{end} {tz}",
        "start": f"{datetime.datetime.combine(day, datetime.time.min).isoformat()} {tz}",
        "tz": tz,
        "hold": settings.PRM_PAYOUT_HOLD_DAYS,  # the month `ledger_entries_place` would book each entry for
    }
    # Generated rows are consistent by construction: skip the per-row foreign-key triggers while loading.
    sql("SET session_replication_role = replica")
    for name, statement in steps:
        print(f"  {name:<50} {sql(statement, params):6.1f} s", flush=True)
    sql("SET session_replication_role = DEFAULT")
    from leads.services.routing import partners_open_load_recount

    started = time.monotonic()
    partners_open_load_recount()  # the open_load triggers were off with the other triggers
    print(f"  {'open load recount':<50} {time.monotonic() - started:6.1f} s", flush=True)
    print(f"  {'ANALYZE':<50} {sql('ANALYZE'):6.1f} s", flush=True)


def undo_nights(day: datetime.date) -> None:
    """Back to the state right after generation: the generated tiers, no tier history, no KPI copies on the partner
    rows, and nothing the two benchmarked nights booked, wrote to inboxes or audited."""
    with connection.cursor() as cur:
        cur.execute("SELECT code, id FROM partners_tier")
        tiers = dict(cur.fetchall())
        cur.execute(
            "UPDATE partners_partner SET sla_score = NULL, kpi_win_rate = NULL, kpi_rating = NULL,"
            " tier_id = (ARRAY[%s, %s, %s]::bigint[])[1 + id %% 3]",
            [tiers["registered"], tiers["silver"], tiers["gold"]],
        )
        cur.execute("DELETE FROM kpi_tierchange")
        cur.execute("DELETE FROM kpi_kpisnapshot WHERE date >= %s", [day - datetime.timedelta(days=1)])
        cur.execute("DELETE FROM kpi_commissionentry WHERE entry_date >= %s", [day])
        cur.execute("DELETE FROM prm_notification")
        cur.execute("DELETE FROM prm_auditevent")
        cur.execute("DELETE FROM prm_webhookdelivery")
        cur.execute("VACUUM ANALYZE partners_partner, kpi_kpisnapshot, kpi_tierchange, kpi_commissionentry")


# The floor: the same KPIs as ONE hand-written statement, returning the same rows as the product (checked by
# floor_mismatches and tests/bench/test_bench_scripts.py). Currency conversion is a join against the rates'
# validity ranges (not a correlated subquery per lead), so the lead aggregate can run on parallel workers as the
# product's does.
FLOOR_SQL = """
WITH rates AS (
    SELECT currency, rate, valid_from,
        lead(valid_from) OVER (PARTITION BY currency ORDER BY valid_from) AS valid_to
    FROM kpi_exchangerate
), o AS (
    SELECT partner_id,
        count(*) FILTER (WHERE status IN ('accepted','declined','expired')) AS total,
        count(*) FILTER (WHERE status = 'accepted' AND responded_at <= deadline) AS in_sla,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY responded_at - offered_at)
            FILTER (WHERE status = 'accepted' AND responded_at IS NOT NULL) AS median
    FROM leads_offer WHERE offered_at >= %(start)s AND offered_at < %(end)s GROUP BY partner_id
), l AS (
    SELECT partner_id,
        count(*) FILTER (WHERE accepted_at >= %(start)s AND accepted_at < %(end)s AND first_contact_due IS NOT NULL
            AND (first_contact_due < %(end)s OR first_contact_at IS NOT NULL)) AS fc_total,
        count(*) FILTER (WHERE accepted_at >= %(start)s AND accepted_at < %(end)s AND first_contact_due IS NOT NULL
            AND first_contact_at <= first_contact_due) AS fc_ok,
        count(*) FILTER (WHERE stage IN ('registered','qualified','proposal','negotiation')) AS open,
        count(*) FILTER (WHERE stage IN ('registered','qualified','proposal','negotiation')
            AND (last_activity_at >= %(cut)s OR leads_lead.updated_at >= %(cut)s)) AS fresh,
        count(*) FILTER (WHERE stage = 'won' AND won_at >= %(start)s AND won_at < %(end)s) AS won,
        count(*) FILTER (WHERE stage = 'lost' AND closed_at >= %(start)s AND closed_at < %(end)s) AS lost,
        sum(value * CASE WHEN leads_lead.currency = %(cur)s THEN 1 ELSE x.rate END)
            FILTER (WHERE stage = 'won' AND won_at >= %(year)s AND won_at < %(end)s) AS revenue,
        avg(coalesce(closed_at, won_at) - leads_lead.created_at)
            FILTER (WHERE stage = 'won' AND won_at >= %(start)s AND won_at < %(end)s) AS cycle
    FROM leads_lead
    LEFT JOIN rates x ON stage = 'won' AND x.currency = leads_lead.currency
        AND (won_at AT TIME ZONE %(tz)s)::date >= x.valid_from
        AND (x.valid_to IS NULL OR (won_at AT TIME ZONE %(tz)s)::date < x.valid_to)
    WHERE partner_id IS NOT NULL GROUP BY partner_id
), r AS (
    SELECT partner_id, avg(rating) AS rating, count(*) AS n FROM partners_customerreview
    WHERE status = 'published' AND rating IS NOT NULL GROUP BY partner_id
), valid AS (
    SELECT c.partner_id, c.user_id, t.competency_id FROM training_certification c
    JOIN training_certificationtype t ON t.id = c.type_id
    WHERE c.revoked_at IS NULL AND c.issued_on <= %(day)s AND c.expires_on >= %(day)s
), people AS (
    SELECT partner_id, count(DISTINCT user_id) AS n FROM valid GROUP BY partner_id
), by_comp AS (
    SELECT partner_id, jsonb_object_agg(code, n) AS j FROM (
        SELECT v.partner_id, k.code, count(DISTINCT v.user_id) AS n FROM valid v
        JOIN partners_competency k ON k.id = v.competency_id GROUP BY 1, 2) s GROUP BY partner_id
), staff AS (
    SELECT u.partner_id, count(*) AS staff, count(*) FILTER (WHERE coalesce(e.n, 0) >= coalesce(m.n, 0)) AS done
    FROM prm_user u
    LEFT JOIN LATERAL (SELECT count(*) AS n FROM training_course c WHERE c.is_mandatory_onboarding
               AND c.status = 'published' AND c.audience_role IN ('', u.role)) m ON true
    LEFT JOIN LATERAL (SELECT count(*) AS n FROM training_enrollment e JOIN training_course c ON c.id = e.course_id
               WHERE e.user_id = u.id AND e.status = 'passed' AND (e.completed_at IS NULL OR e.completed_at < %(end)s)
               AND c.is_mandatory_onboarding AND c.status = 'published' AND c.audience_role IN ('', u.role)) e ON true
    WHERE u.partner_id IS NOT NULL AND u.is_active
      AND u.role IN ('partner_admin', 'partner_sales', 'partner_engineer')
    GROUP BY u.partner_id
)
SELECT p.id, o.total, o.in_sla, o.median, l.fc_total, l.fc_ok, l.open, l.fresh, l.won, l.lost, l.revenue, l.cycle,
    r.rating, r.n, people.n, by_comp.j, staff.staff, staff.done
FROM partners_partner p
LEFT JOIN o ON o.partner_id = p.id LEFT JOIN l ON l.partner_id = p.id LEFT JOIN r ON r.partner_id = p.id
LEFT JOIN people ON people.partner_id = p.id LEFT JOIN by_comp ON by_comp.partner_id = p.id
LEFT JOIN staff ON staff.partner_id = p.id
WHERE p.status IN ('active', 'onboarding', 'suspended')
"""


def floor(day: datetime.date) -> tuple[float, list[tuple]]:
    """Run the floor statement for `day`: (seconds, rows)."""
    from kpi.services.snapshots import day_end

    end = day_end(day)
    params = {
        "start": end - datetime.timedelta(days=settings.PRM_KPI_WINDOW_DAYS),
        "end": end,
        "cut": end - datetime.timedelta(days=settings.PRM_HYGIENE_DAYS),
        "year": end - datetime.timedelta(days=365),
        "day": day,
        "cur": settings.PRM_REPORTING_CURRENCY,
        "tz": settings.TIME_ZONE,
    }
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(FLOOR_SQL, params)
        rows = cur.fetchall()
    return time.monotonic() - started, rows


def floor_snapshot(row: tuple) -> dict:
    """One floor row as the snapshot fields it determines (the product's rounding, from kpi.rules)."""
    from kpi.rules import minutes, pct, quantize

    (pid, total, in_sla, median, fc_total, fc_ok, open_, fresh, won, lost, revenue, cycle, rating, reviews,
     people, by_comp, staff, done) = row  # fmt: skip
    won, lost = won or 0, lost or 0
    return {
        "partner_id": pid,
        "offers_total": total or 0,
        "accepted_in_sla_pct": pct(in_sla or 0, total or 0),
        "median_accept_minutes": minutes(median),
        "first_contact_in_sla_pct": pct(fc_ok or 0, fc_total or 0),
        "hygiene_pct": pct(fresh or 0, open_ or 0),
        "win_rate_pct": pct(won, won + lost),
        "won_revenue_12m": quantize(revenue or 0, "0.01"),
        "avg_cycle_days": None if cycle is None else quantize(cycle.total_seconds() / 86400, "0.1"),
        "customer_rating": quantize(rating, "0.01"),
        "reviews_count": reviews or 0,
        "certified_people": people or 0,
        "certified_by_competency": (json.loads(by_comp) if isinstance(by_comp, str) else by_comp) or {},
        "mandatory_training_pct": pct(done, staff) if staff else None,
    }


def floor_mismatches(day: datetime.date, rows: list[tuple]) -> list[tuple]:
    """(partner, field, floor value, product value) wherever the stored snapshots of `day` differ from the floor."""
    from kpi.models import KpiSnapshot

    expected = [floor_snapshot(row) for row in rows]
    fields = [f for f in expected[0] if f != "partner_id"] if expected else []
    stored = {s["partner_id"]: s for s in KpiSnapshot.objects.filter(date=day).values("partner_id", *fields)}
    out = []
    for want in expected:
        got = stored.get(want["partner_id"])
        if got is None:
            out.append((want["partner_id"], "snapshot", "present", None))
            continue
        out.extend((want["partner_id"], f, want[f], got[f]) for f in fields if want[f] != got[f])
    return out + [(pid, "snapshot", None, "present") for pid in stored.keys() - {w["partner_id"] for w in expected}]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=2_000_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--reset", action="store_true", help="TRUNCATE the tables first and generate data")
    parser.add_argument(
        "--day",
        type=datetime.date.fromisoformat,
        help="the last generated day (default yesterday); with --again, the day the data was generated for",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="without regenerating: undo what the two benchmarked nights wrote and run both again (first night too)",
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)  # a fresh database works as well as one used before
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database.")
    from django.utils import timezone

    from kpi.models import NightlyRun
    from kpi.services.nightly import nightly_run

    day = args.day or timezone.localdate() - datetime.timedelta(days=1)
    result = {"bench": "nightly", "partners": args.partners, "leads": args.leads, "activities": args.activities}
    if not args.reset:  # the data already there (estimates: counting 100 M rows takes minutes)
        with connection.cursor() as cur:
            for key, table in (
                ("partners", "partners_partner"),
                ("leads", "leads_lead"),
                ("activities", "leads_activity"),
            ):
                cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
                result[key] = cur.fetchone()[0]
    if args.reset:
        print(f"Generating {args.partners:,} partners, {args.leads:,} leads, {args.activities:,} activities …")
        started = time.monotonic()
        sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        generate(partners=args.partners, leads=args.leads, activities=args.activities, day=day)
        result["generation_s"] = round(time.monotonic() - started, 1)
    elif args.again:
        print("Reusing the data; undoing the benchmarked nights so the first night runs again.")
        undo_nights(day)
    else:
        print("Reusing the data already in the database (pass --reset to regenerate).")
    from django.urls import reverse

    print("load:", _load())
    reverse("kpi:scorecard")  # a worker has its URLconf loaded; don't time the import of every app's views
    floor(day)  # warm the cache the same way for both
    NightlyRun.objects.filter(date__gte=day - datetime.timedelta(days=1)).delete()
    first = args.reset or args.again
    nights = [day - datetime.timedelta(days=1), day] if first else [day]
    ok = True
    for i, night in enumerate(nights):
        # With --reset the generated tiers are arbitrary: the first night re-tiers most partners (what the first
        # night after a rule change does). Both nights are judged against the same targets.
        label = "first night (tiers settle)" if first and i == 0 else "steady night"
        started = time.monotonic()
        run = nightly_run(on=night)
        total = time.monotonic() - started
        floor_s, rows = floor(night)
        kpi_s = run.counts["kpi"]["seconds"]
        wrong = floor_mismatches(night, rows)
        print(f"\nNightly run for {night}, {label}: {run.status} in {total:.2f} s (target < 10 s at 1×)")
        for phase, counts in run.counts.items():
            print(f"  {phase:<8} {counts}")
        print(
            f"  KPI phase {kpi_s:.2f} s vs floor (one hand-written SQL statement, {len(rows):,} rows) {floor_s:.2f} s"
        )
        print(f"  ratio {kpi_s / floor_s:.2f} × (target ≤ 1.5 ×)")
        print(f"  floor = product: {len(rows) - len({w[0] for w in wrong}):,} of {len(rows):,} partners agree")
        for mismatch in wrong[:10]:
            print("    differs (partner, field, floor, product):", mismatch)
        ok = ok and not wrong and run.status == "succeeded"
        result["first" if first and i == 0 else "steady"] = {
            "run_s": round(total, 2),
            "kpi_s": kpi_s,
            "floor_s": round(floor_s, 3),
            "ratio": round(kpi_s / floor_s, 2),
            "tier_changes": run.counts.get("tiers", {}).get("changes"),
        }
    print("load:", _load())
    result["load"] = os.getloadavg()[0]
    print("RESULT", json.dumps(result))  # read by bench/scale.py
    if not ok:
        sys.exit("The floor and the product disagree (or the run failed): the figures above compare different work.")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" (load averages 1/5/15 min, {os.cpu_count()} CPUs)"


if __name__ == "__main__":
    main()
