"""Upsert N leads through POST /api/v1/leads/bulk-upsert/ (batches of 5,000), first as inserts, then as updates,
and print rows/s next to the floor: COPY of the same rows into a temporary table plus one
INSERT … ON CONFLICT DO UPDATE, on the same PostgreSQL in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_api python bench/api_upsert.py [--rows 200000]

Goes through the whole stack in-process (DRF test client: JSON parsing, key auth, scopes, throttle, validation,
customer resolution, the upsert, JSON rendering), without a network hop. Bench rows are removed at the end.
"""

import argparse
import gc
import io
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
from rest_framework.test import APIClient  # noqa: E402
from stdnum.ru import inn as stdnum_inn  # noqa: E402

from leads.models import Lead  # noqa: E402
from leads.services.registration import registrations_check  # noqa: E402
from partners.models import Partner  # noqa: E402
from prm.api_auth import ApiKeyRateThrottle, api_key_create  # noqa: E402
from prm.celery import app as celery_app  # noqa: E402
from prm.models import Role, User  # noqa: E402

BATCH = 5000


FORMS = ["ООО", "АО", "ПАО", "LLC", "JSC", ""]
DOMAINS = [
    "romashka",
    "vektor",
    "sever",
    "tekhno",
    "alfa",
    "gamma",
    "nord",
    "sigma",
    "polus",
    "orbita",
    "kvant",
    "lider",
]
WORDS = ["Ромашка", "Вектор", "Север", "Техно", "Альфа", "Gamma", "Nord", "Sigma", "Полюс", "Орбита", "Kvant", "Лидер"]


def inn(n: int) -> str:
    """A valid 10-digit company INN, different for every n."""
    base = f"{n:09d}"
    return base + stdnum_inn.calc_company_check_digit(base)


def items(n: int, run: int, version: int) -> list[dict]:
    """What a CRM sends: one customer per deal (its own INN, a varied name and legal form), contacts at the
    customers' own domains."""
    return [
        {
            "source_system": f"bench{run}",
            "external_id": f"deal-{i}",
            "title": f"Deal {i} v{version}",
            "customer": {
                "name": f"{FORMS[i % 6]} {WORDS[i % 12]} {WORDS[(i // 12) % 12]} {i}".strip(),
                "tax_id": inn(run * 1_000_000 + i),
            },
            "contact_name": "Ivan Petrov",
            "contact_email": f"buyer@{DOMAINS[i % 12]}-{i}.{('ru', 'com', 'io')[i % 3]}",
            "value": f"{1000 + i}.00",
            "currency": "RUB",
            "expected_close": "2027-03-31",
            "notes": f"version {version}",
        }
        for i in range(n)
    ]


def bodies(rows: list[dict]) -> list[bytes]:
    """Request bodies, encoded before the clock starts (a CRM sends bytes; it holds no Python objects here)."""
    return [json.dumps({"items": rows[start : start + BATCH]}).encode() for start in range(0, len(rows), BATCH)]


def through_api(client, payloads: list[bytes]) -> tuple[float, dict]:
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for body in payloads:
        response = client.post("/api/v1/leads/bulk-upsert/", body, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        for result in response.json()["results"]:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
    return time.perf_counter() - started, counts


def floor_input(rows: list[dict]) -> str:
    return "".join(
        "\t".join(
            [r["customer"]["name"], r["customer"]["tax_id"], r["source_system"], r["external_id"], r["title"]]
            + [r["contact_name"], r["contact_email"]]
            + [r["value"], r["currency"], r["expected_close"], r["notes"]]
        )
        + "\n"
        for r in rows
    )


def floor(tsv: str, *, partner_id: int) -> float:
    """COPY into a temp table, the missing customers in one INSERT, the deals in one INSERT … ON CONFLICT DO UPDATE
    joined to their customers: the least work the database can do for the same rows."""
    buf = io.StringIO(tsv)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE floor_in (customer_name text, tax_id text, source_system text, external_id text, title text, contact_name text, "
            "contact_email text, value numeric, currency text, expected_close date, notes text) ON COMMIT DROP"
        )
        cursor.cursor.copy_expert("COPY floor_in FROM STDIN", buf)
        cursor.execute(
            """
            INSERT INTO leads_customer (name, normalized_name, country, tax_id, domain, size, reserved_for_direct,
                reserved_reason, created_at, updated_at)
            SELECT customer_name, lower(customer_name), 'RU', 'F' || tax_id, '', '', false, '', now(), now()
            FROM floor_in f WHERE NOT EXISTS (SELECT 1 FROM leads_customer c WHERE c.tax_id = 'F' || f.tax_id)
            """
        )
        cursor.execute(
            f"""
            INSERT INTO leads_lead (customer_id, partner_id, title, kind, source, stage, contact_name, contact_email,
                contact_phone, products, value, currency, expected_close, notes, lost_reason, source_system,
                external_id, route_failures, customer_name, created_at, updated_at)
            SELECT c.id, {partner_id}, title, 'license', 'api', 'registered', contact_name, contact_email,
                '', '', value, currency, expected_close, notes, '', f.source_system || '-floor', external_id, 0, customer_name, now(), now()
            FROM floor_in f JOIN leads_customer c ON c.tax_id = 'F' || f.tax_id
            ON CONFLICT (partner_id, source_system, external_id) WHERE external_id <> ''
            DO UPDATE SET title = EXCLUDED.title, contact_name = EXCLUDED.contact_name,
                contact_email = EXCLUDED.contact_email, value = EXCLUDED.value, currency = EXCLUDED.currency,
                expected_close = EXCLUDED.expected_close, notes = EXCLUDED.notes, updated_at = EXCLUDED.updated_at
            """
        )
    return time.perf_counter() - started


def _floor_agrees(*, partner_id: int, run: str) -> str:
    """ "yes" when the floor's rows equal the API's (deal fields and the customer each deal points to)."""
    columns = "external_id, title, contact_name, contact_email, value, currency, expected_close, notes"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FROM (
                (SELECT {columns}, c.name, c.tax_id FROM leads_lead l JOIN leads_customer c ON c.id = l.customer_id
                 WHERE l.partner_id = %(p)s AND l.source_system = %(run)s
                 EXCEPT SELECT {columns}, c.name, substr(c.tax_id, 2) FROM leads_lead l
                 JOIN leads_customer c ON c.id = l.customer_id WHERE l.partner_id = %(p)s AND l.source_system = %(floor)s)
                UNION ALL
                (SELECT {columns}, c.name, substr(c.tax_id, 2) FROM leads_lead l
                 JOIN leads_customer c ON c.id = l.customer_id WHERE l.partner_id = %(p)s AND l.source_system = %(floor)s
                 EXCEPT SELECT {columns}, c.name, c.tax_id FROM leads_lead l JOIN leads_customer c ON c.id = l.customer_id
                 WHERE l.partner_id = %(p)s AND l.source_system = %(run)s)
            ) d
            """,
            {"p": partner_id, "run": run, "floor": run + "-floor"},
        )
        (differ,) = cursor.fetchone()
    return "yes" if not differ else f"no: {differ} rows differ"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (uptime load averages, 1/5/15 min)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--checks", type=int, default=10_000, help="registration checks timed after the inserts")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)  # a fresh database works as well as one used before
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL=postgres://...")
    ApiKeyRateThrottle.THROTTLE_RATES = {"api_key": "100000/min"}
    number = 100 + int(time.time()) % 800  # the INNs of this run: 1nn,nnn,nnn
    run = f"bench{number}"
    partner = Partner.objects.create(
        name=f"Bench {run}", tax_id=run, country="ZZ", program_model="full_cycle", partner_type="operational"
    )
    admin = User.objects.create_user(email=f"{run}@bench.example", role=Role.PARTNER_ADMIN, partner=partner)
    _key, raw = api_key_create(created_by=admin, name="bench", scopes=["leads:write", "leads:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    try:
        print(f"{args.rows} leads in batches of {BATCH}, PostgreSQL {connection.pg_version}, {os.cpu_count()} CPUs")
        print(f"load before: {_load()}")
        for version, label in ((1, "insert"), (2, "update")):
            rows = items(args.rows, number, version)
            payloads, tsv = bodies(rows), floor_input(rows)
            del rows
            gc.collect()
            api_seconds, counts = through_api(client, payloads)
            floor_seconds = floor(tsv, partner_id=partner.pk)
            api_rate, floor_rate = args.rows / api_seconds, args.rows / floor_seconds
            print(
                f"{label:>6}: API {api_rate:>9,.0f} rows/s ({api_seconds:.1f} s, {counts}) | "
                f"floor {floor_rate:>9,.0f} rows/s ({floor_seconds:.1f} s) | API is {floor_rate / api_rate:.2f}x the floor"
            )
            if label == "insert":
                # The step the partner waits for next: every new deal is checked for conflicts and registered.
                queued = Lead.objects.filter(partner=partner, source_system=run, registration=None)
                total = queued.count()
                ids = list(queued.order_by("pk").values_list("pk", flat=True)[: args.checks])
                started = time.perf_counter()
                checked = registrations_check(lead_ids=ids, limit=len(ids))
                seconds = time.perf_counter() - started
                print(
                    f"        registration checks: {checked} of {total} new deals in {seconds:.1f} s: "
                    f"{checked / seconds:,.0f} deals/s (target ≥ 2,000/s); all {total} would take "
                    f"{total / max(checked / seconds, 1e-9) / 60:.1f} min"
                )
        print(f"load after:  {_load()}")
        assert Lead.objects.filter(partner=partner, source_system=run).count() == args.rows
        same = _floor_agrees(partner_id=partner.pk, run=run)
        print(f"floor = product: {same}")
        if same != "yes":
            sys.exit("The floor and the API wrote different rows: the ratio above compares different work.")
    finally:
        with connection.cursor() as cursor:  # raw SQL: no per-row signals for bench data
            cursor.execute(
                "CREATE TEMP TABLE bench_customers AS SELECT DISTINCT customer_id AS id FROM leads_lead "
                "WHERE partner_id = %s",
                [partner.pk],
            )
            for table, column in (("leads_registrationdecision", "registration_id"), ("leads_protectionwindow",
                                  "registration_id"), ("leads_dispute", "registration_id"), ("leads_dispute", "held_registration_id")):  # fmt: skip
                cursor.execute(
                    f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM leads_registration WHERE partner_id = %s)",
                    [partner.pk],
                )
            cursor.execute("DELETE FROM leads_registration WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM prm_notification WHERE user_id IN (SELECT id FROM prm_user WHERE partner_id = %s)",
                           [partner.pk])  # fmt: skip
            cursor.execute("DELETE FROM leads_lead WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM leads_customer WHERE id IN (SELECT id FROM bench_customers)")
            cursor.execute("DROP TABLE bench_customers")
            cursor.execute("DELETE FROM prm_auditevent WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM prm_apikey WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM prm_user WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM partners_partner WHERE id = %s", [partner.pk])
        celery_app.control.purge()  # the registration checks queued for the bench's deals


if __name__ == "__main__":
    main()
