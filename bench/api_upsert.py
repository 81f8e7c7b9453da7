"""Upsert N leads through POST /api/v1/leads/bulk-upsert/ (batches of 5,000), first as inserts, then as updates,
and print rows/s next to the floor: COPY of the same rows into a temporary table plus one
INSERT … ON CONFLICT DO UPDATE, on the same PostgreSQL in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_api python manage.py migrate
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

from django.db import connection, transaction  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from leads.models import Customer, Lead, LeadSource  # noqa: E402
from partners.models import Partner  # noqa: E402
from prm.api_auth import ApiKeyRateThrottle, api_key_create  # noqa: E402
from prm.celery import app as celery_app  # noqa: E402
from prm.models import Role, User  # noqa: E402

BATCH = 5000


def _inn(nine: str) -> str:
    """A valid 10-digit INN (the checksum the customer rule checks) from nine digits."""
    control = sum(int(d) * w for d, w in zip(nine, (2, 4, 10, 3, 5, 9, 4, 6, 8))) % 11 % 10
    return f"{nine}{control}"


def items(n: int, run: str, version: int) -> list[dict]:
    return [
        {
            "source_system": run,
            "external_id": f"deal-{i}",
            "title": f"Deal {i} v{version}",
            "customer": {"name": f"Bench customer {i % 1000}", "tax_id": _inn(f"{run[-6:]}{i % 1000:03d}")},
            "contact_name": "Ivan Petrov",
            "contact_email": f"buyer{i}@example.com",
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
            [r["source_system"], r["external_id"], r["title"], r["contact_name"], r["contact_email"]]
            + [r["value"], r["currency"], r["expected_close"], r["notes"]]
        )
        + "\n"
        for r in rows
    )


def floor(tsv: str, *, partner_id: int, customer_id: int) -> float:
    """COPY into a temp table + one INSERT … ON CONFLICT DO UPDATE: the least work the database can do."""
    buf = io.StringIO(tsv)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE floor_in (source_system text, external_id text, title text, contact_name text, "
            "contact_email text, value numeric, currency text, expected_close date, notes text) ON COMMIT DROP"
        )
        cursor.cursor.copy_expert("COPY floor_in FROM STDIN", buf)
        cursor.execute(
            f"""
            INSERT INTO leads_lead (customer_id, customer_name, partner_id, title, kind, source, stage, contact_name, contact_email,
                contact_phone, products, value, currency, expected_close, notes, lost_reason, source_system,
                external_id, route_failures, created_at, updated_at)
            SELECT {customer_id}, 'Bench customer', {partner_id}, title, 'license', 'api', 'registered', contact_name, contact_email,
                '', '', value, currency, expected_close, notes, '', source_system || '-floor', external_id, 0, now(), now()
            FROM floor_in
            ON CONFLICT (partner_id, source_system, external_id) WHERE external_id <> ''
            DO UPDATE SET title = EXCLUDED.title, contact_name = EXCLUDED.contact_name,
                contact_email = EXCLUDED.contact_email, value = EXCLUDED.value, currency = EXCLUDED.currency,
                expected_close = EXCLUDED.expected_close, notes = EXCLUDED.notes, updated_at = EXCLUDED.updated_at
            """
        )
    return time.perf_counter() - started


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (uptime load averages, 1/5/15 min)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL=postgres://...")
    ApiKeyRateThrottle.THROTTLE_RATES = {"api_key": "100000/min"}
    run = f"bench{int(time.time())}"
    partner = Partner.objects.create(
        name=f"Bench {run}", tax_id=run[-10:], country="ZZ", program_model="full_cycle", partner_type="operational"
    )
    admin = User.objects.create_user(email=f"{run}@bench.example", role=Role.PARTNER_ADMIN, partner=partner)
    _key, raw = api_key_create(created_by=admin, name="bench", scopes=["leads:write", "leads:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    try:
        print(f"{args.rows} leads in batches of {BATCH}, PostgreSQL {connection.pg_version}, {os.cpu_count()} CPUs")
        print(f"load before: {_load()}")
        for version, label in ((1, "insert"), (2, "update")):
            rows = items(args.rows, run, version)
            payloads, tsv = bodies(rows), floor_input(rows)
            del rows
            gc.collect()
            api_seconds, counts = through_api(client, payloads)
            customer_id = Customer.objects.filter(tax_id__startswith=run[-6:]).values_list("id", flat=True).first()
            floor_seconds = floor(tsv, partner_id=partner.pk, customer_id=customer_id)
            api_rate, floor_rate = args.rows / api_seconds, args.rows / floor_seconds
            print(
                f"{label:>6}: API {api_rate:>9,.0f} rows/s ({api_seconds:.1f} s, {counts}) | "
                f"floor {floor_rate:>9,.0f} rows/s ({floor_seconds:.1f} s) | API is {floor_rate / api_rate:.2f}x the floor"
            )
        print(f"load after:  {_load()}")
        assert Lead.objects.filter(partner=partner, source_system=run).count() == args.rows
        queued = Lead.objects.filter(partner=partner, source=LeadSource.PARTNER_REGISTRATION, registration=None).count()
        print(f"{queued} new deals queued for the registration check (a Celery worker's job, not timed here)")
    finally:
        with connection.cursor() as cursor:  # raw SQL: no per-row signals for bench data
            cursor.execute("DELETE FROM leads_registration WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM leads_lead WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM leads_customer WHERE tax_id LIKE %s", [run[-6:] + "%"])
            cursor.execute("DELETE FROM prm_auditevent WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM prm_apikey WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM prm_user WHERE partner_id = %s", [partner.pk])
            cursor.execute("DELETE FROM partners_partner WHERE id = %s", [partner.pk])
        celery_app.control.purge()  # the registration checks queued for the bench's deals


if __name__ == "__main__":
    main()
