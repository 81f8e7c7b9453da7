"""Import an N-row CSV file of vendor leads (Windows-1251, `;`-separated, as Excel on Russian Windows writes it)
through the import job, routed, and print rows/s next to the floor: a plain bulk_create of the same leads on the
same database in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_csv python bench/csv_import.py [--rows 100000] [--partners 200]

Runs the job in-process (lead_import_start + lead_import_run, what the Celery task calls): decoding, sniffing,
row validation, customer resolution, lead creation, audit, routing and the summed-up notifications. Bench rows are
removed at the end. Target: ≥ 2,000 rows/s, routed.
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from leads.models import Customer, Lead, LeadImport, LeadSource, Stage  # noqa: E402
from leads.services.intake import lead_import_start  # noqa: E402
from partners.models import Partner, Region  # noqa: E402
from prm.celery import app as celery_app  # noqa: E402


def network(partners: int, run: str) -> tuple[list[Region], list[Partner]]:
    from tests.leads.routing_factories import routing_partner  # factory-boy builders (the test extra)
    from tests.partners.factories import PartnerFactory, TierFactory

    PartnerFactory.reset_sequence(Partner.objects.count() + 1_000_000)  # a second run's partners are new ones
    TierFactory.reset_sequence(Partner.objects.count() + 1_000_000)

    regions = [Region.objects.create(code=f"b{run}{i}", name=f"Bench {i}", timezone="Europe/Moscow", country="RU")
               for i in range(4)]  # fmt: skip
    made = [
        routing_partner(regions=[regions[i % 4], regions[(i + 1) % 4]], capacity=10_000, weight=1 + i % 4)
        for i in range(partners)
    ]
    return regions, made


def csv_bytes(rows: int, regions: list[Region]) -> bytes:
    lines = ["title;customer;tax_id;kind;region;value;contact_email;external_id"]
    for i in range(rows):
        lines.append(f"Внедрение {i};ООО «Бенч {i % 5000}»;;implementation;{regions[i % 4].code};{1000 + i};"
                     f"buyer{i}@example.com;bench-{i}")  # fmt: skip
    return ("\n".join(lines) + "\n").encode("cp1251")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)  # a fresh database works as well as one used before
    run = uuid.uuid4().hex[:6]
    from django.db import connection

    if connection.vendor == "postgresql":  # a previous run's deleted rows, on a server without autovacuum, would
        with connection.cursor() as cursor:  # mislead the planner (the external_id probe scanned 1.4 M dead leads)
            cursor.execute(
                "VACUUM ANALYZE leads_lead, leads_offer, leads_routingdecision, prm_auditevent, leads_customer"
            )
    regions, partners = network(args.partners, run)
    data = csv_bytes(args.rows, regions)

    started = time.perf_counter()
    celery_app.conf.task_always_eager = True  # the job runs here, in-process, as a worker would run it
    job = lead_import_start(data=data, filename=f"bench-{run}.csv", actor=None)
    job.refresh_from_db()
    took = time.perf_counter() - started
    routed = Lead.objects.filter(source_system="csv", external_id__startswith="bench-", stage__in=[Stage.OFFERED, Stage.QUEUE]).count()  # fmt: skip

    customer = Customer.objects.create(name=f"Floor {run}", normalized_name=f"floor {run}")
    rows = [Lead(customer=customer, customer_name=customer.name, title=f"Floor {i}", kind="implementation",
                 source=LeadSource.IMPORT, stage=Stage.NEW, region=regions[i % 4], value=1000 + i,
                 contact_email=f"buyer{i}@example.com", source_system=f"floor{run}", external_id=f"f-{i}")
            for i in range(args.rows)]  # fmt: skip
    floor_started = time.perf_counter()
    Lead.objects.bulk_create(rows, batch_size=5000)
    floor = time.perf_counter() - floor_started

    print(f"rows: {args.rows:,}  partners: {args.partners:,}  created: {job.rows_created:,}  routed: {routed:,}  "
          f"errors: {job.rows_failed:,}")  # fmt: skip
    print(f"import job: {took:.1f} s = {args.rows / took:,.0f} rows/s (target ≥ 2,000 rows/s, routed)")
    print(f"floor (bulk_create of the same rows, unrouted): {floor:.1f} s = {args.rows / floor:,.0f} rows/s; "
          f"import = {took / floor:.1f} × the floor")  # fmt: skip

    from leads.models import Offer, RoutingDecision
    from prm.models import AuditEvent, Notification

    bench = Lead.objects.filter(source_system__in=["csv", f"floor{run}"], external_id__regex=r"^(bench|f)-")
    Offer.objects.filter(lead__in=bench).delete()
    RoutingDecision.objects.filter(lead__in=bench).delete()
    AuditEvent.objects.filter(object_id__in=bench.values_list("pk", flat=True).iterator()).delete()
    Notification.objects.filter(kind="review_queue").delete()
    bench.delete()
    Customer.objects.filter(leads__isnull=True, name__startswith="ООО «Бенч").delete()
    LeadImport.objects.filter(pk=job.pk).delete()


if __name__ == "__main__":
    main()
