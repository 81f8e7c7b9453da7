"""Benchmark of lead routing: N partners, M vendor leads, each routed with leads.services.routing.lead_route.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_routing python bench/routing.py [--partners 10000] [--leads 10000]

Generates partners (regions, competencies, tiers, KPI snapshots) and leads with bulk inserts, routes every lead
one decision at a time as a client would (the web form, import and API: each lead_route call is its own
transaction, commit included in its latency), prints decisions/s and the single-decision latency percentiles,
then deletes what it made. Targets: >= 1,000 decisions/s, p99 < 20 ms.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from kpi.models import KpiSnapshot  # noqa: E402
from leads.models import Customer, Lead, LeadKind, LeadSource, Offer, RoutingDecision, Stage  # noqa: E402
from leads.services.routing import lead_route  # noqa: E402
from partners.models import (  # noqa: E402
    Competency,
    Partner,
    PartnerStatus,
    PartnerType,
    ProgramModel,
    Region,
    Tier,
)
from prm.models import AuditEvent, Notification  # noqa: E402

TAG = "bench-routing"
TIMEZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
             "Asia/Novosibirsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan",
             "Asia/Kamchatka"]  # fmt: skip


def generate(n_partners: int, n_leads: int, rng: random.Random):
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
                home_region=rng.choice(regions),
                lead_capacity=rng.randint(10, 40),
                sla_score=Decimal(rng.randint(50, 100)) if rng.random() < 0.8 else None,
            )  # fmt: skip
            for i in range(n_partners)
        ],
        batch_size=2000,
    )
    region_links, comp_links = [], []
    for p in partners:
        for r in {p.home_region, *rng.sample(regions, rng.randint(0, 2))}:
            region_links.append(Partner.regions.through(partner_id=p.pk, region_id=r.pk))
        for c in rng.sample(comps, rng.randint(2, 6)):
            comp_links.append(Partner.competencies.through(partner_id=p.pk, competency_id=c.pk))
    Partner.regions.through.objects.bulk_create(region_links, batch_size=5000)
    Partner.competencies.through.objects.bulk_create(comp_links, batch_size=5000)
    KpiSnapshot.objects.bulk_create(
        [
            KpiSnapshot(partner=p, date=date(2026, 1, 1), win_rate_pct=Decimal(rng.randint(5, 60)),
                        customer_rating=Decimal(rng.randint(30, 50)) / 10)
            for p in partners
            if rng.random() < 0.7
        ],
        batch_size=5000,
    )  # fmt: skip
    customers = Customer.objects.bulk_create(
        [Customer(name=f"Bench customer {i}", normalized_name=f"bench customer {i}", tax_id=f"{TAG}-{i}") for i in range(n_leads)],
        batch_size=5000,
    )  # fmt: skip
    leads = Lead.objects.bulk_create(
        [
            Lead(customer=c, title=f"Bench lead {i}", kind=rng.choice(list(LeadKind.values)), source=LeadSource.VENDOR,
                 stage=Stage.NEW, region=rng.choice(regions), external_id=f"{TAG}-{i}", source_system=TAG)
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
    with connection.cursor() as cursor:  # fresh planner statistics, as autovacuum would give a real database
        cursor.execute("ANALYZE")
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
        KpiSnapshot.objects.filter(partner__in=partners).delete()
        partners.delete()
        Tier.objects.filter(code__startswith=TAG).delete()
        Region.objects.filter(code__startswith=TAG).delete()
        Competency.objects.filter(code__startswith=TAG).delete()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("warning: not PostgreSQL; the figures mean little", file=sys.stderr)
    cleanup()
    t0 = time.perf_counter()
    leads = generate(args.partners, args.leads, random.Random(args.seed))
    print(f"generated {args.partners} partners and {args.leads} leads in {time.perf_counter() - t0:.1f} s")

    latencies, outcomes = [], {"offered": 0, "queued": 0}
    started = time.perf_counter()
    try:
        for lead in leads:
            t = time.perf_counter()
            decision = lead_route(lead=lead)
            latencies.append(time.perf_counter() - t)
            outcomes["offered" if decision.chosen_id else "queued"] += 1
        elapsed = time.perf_counter() - started
        candidates = RoutingDecision.objects.filter(lead__source_system=TAG, chosen__isnull=False)[:200]
        avg_candidates = statistics.mean(len(d.candidates) for d in candidates) if candidates else 0
    finally:
        cleanup()
    ms = sorted(x * 1000 for x in latencies)
    pct = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    print(f"routed {len(ms)} leads in {elapsed:.1f} s: {len(ms) / elapsed:.0f} decisions/s (target >= 1000)")
    print(f"single decision: p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms, p99 {pct(0.99):.1f} ms (target < 20 ms)")
    print(f"outcomes: {outcomes}; ~{avg_candidates:.0f} candidates per offered decision (first 200)")


if __name__ == "__main__":
    main()
