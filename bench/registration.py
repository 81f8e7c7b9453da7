"""Deal-registration benchmark: conflict checks against a large database.

Generates (INSERT ... SELECT generate_series) N leads on N/4 customers and P approved registrations, each
protecting its tax id, domain and normalised name, then registers D deals through deal_register and prints
registrations/s and the conflict-check time percentiles. Target: p99 < 50 ms at 2,000,000 leads and
200,000 active protections.

Then a partner import: B deals created by the CRMs of --senders partners (4: each sends its share) by bulk upsert
(leads_bulk_upsert, 5,000 a request, one customer per deal, a tenth already protected by another partner, one in
fifty a second deal for a customer earlier in the same import) and decided by the checks the upserts queue
(registrations_check, one task a request, run one after another as one `long` worker runs them), timed: deals/s
beside the floor of 2,000 deals/s (a 200,000-row import decided within 100 s).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_scratch python bench/registration.py
    DATABASE_URL=... python bench/registration.py --leads 200000 --protections 20000 --deals 1000 --reset
    DATABASE_URL=... python bench/registration.py --leads 200000 --protections 20000 --deals 200 --batch 20000 --reset
    DATABASE_URL=... python bench/registration.py --protections 20000 --batch 5000 --import-only [--profile]

--checks-only runs only the labelled near-duplicates and the --deals single registrations, on the data already
generated (e.g. a fresh copy of a template). --import-only runs only the partner import, on the data already
generated (--protections: as generated), and commits chunk by chunk as the worker does. To compare two versions
of the code on the same data, generate once into a template database and run each on a fresh copy of it:

    createdb -T prm_bench_template prm_bench_run   # (dropdb prm_bench_run first)
    DATABASE_URL=.../prm_bench_run python bench/registration.py --protections 200000 --batch 20000 --import-only

Use a scratch database: --reset truncates every leads table first.
"""

import argparse
import math
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

import leads.services.registration as registration_service  # noqa: E402
from leads.models import Registration  # noqa: E402
from partners.models import Partner, PartnerStatus, PartnerType, ProgramModel  # noqa: E402

SYLLABLES = ["ka", "ro", "ma", "shi", "te", "lo", "vi", "na", "det", "sol", "tex", "pro", "gra", "ni", "um", "al"]
TAX_BASE = 9_000_000_000  # generated customers: tax id TAX_BASE + n; new bench customers above 9_500_000_000


def vocabulary_size(protections: int) -> int:
    """Distinct words of the generated company names: 1,000 at 200,000 protections (1×), growing with the square
    root of the protected names above that (Heaps' law, the distinct words of a text growing with a power 0.4–0.6 of
    its length), so that a pair of words is shared by as many protected names at 10× as at 1×. A vocabulary that
    stays at 1,000 words (--vocabulary 1000) puts every pair of words in ~12 of 1,980,000 protected names and a
    similar-name conflict on half the deals of an import: a network whose customers all had names from one short
    list."""
    return max(1000, round(1000 * math.sqrt(protections / 200_000)))


def vocabulary(n: int = 1000) -> list[str]:
    rng = random.Random(7)
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def generate(*, leads: int, protections: int, partners: int, words: list[str]) -> None:
    customers = max(protections, leads // 4)
    t0 = time.perf_counter()
    Partner.objects.bulk_create(
        [
            Partner(
                name=f"Bench partner {i}",
                country="ZZ",
                tax_id=f"BENCH{i:05d}",
                program_model=ProgramModel.FULL_CYCLE,
                partner_type=PartnerType.OPERATIONAL,
                status=PartnerStatus.ACTIVE,
            )
            for i in range(partners)
        ]
    )
    pids = list(Partner.objects.filter(country="ZZ").order_by("id").values_list("id", flat=True))
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        # Names are three words from the vocabulary, so first-word buckets hold ~customers/len(words) names.
        cur.execute(
            """
            INSERT INTO leads_customer (created_at, updated_at, name, normalized_name, country, tax_id, domain, size,
                                        reserved_for_direct, reserved_reason)
            SELECT now(), now(), initcap(nm), nm, 'RU', (%s + i)::text, 'c' || i || '.bench.example', '',
                   i %% 100 = 0, ''
            FROM (SELECT i, w[1 + floor(random() * cardinality(w))::int] || ' ' || w[1 + floor(random() * cardinality(w))::int]
                            || ' ' || w[1 + floor(random() * cardinality(w))::int] AS nm
                  FROM generate_series(1, %s) i, (SELECT %s::text[] AS w) v) s
            """,
            [TAX_BASE, customers, words],
        )
        cur.execute("SELECT min(id) FROM leads_customer WHERE tax_id = %s", [str(TAX_BASE + 1)])
        cmin = cur.fetchone()[0]
        cur.execute(
            """
            INSERT INTO leads_lead (created_at, updated_at, title, kind, source, stage, contact_name, contact_email,
                                    contact_phone, products, value, currency, notes, lost_reason, source_system,
                                    external_id, route_failures, customer_name, customer_id, partner_id)
            SELECT now() - (i %% 700) * interval '1 day', now(), 'Bench deal ' || i, 'license', 'registration',
                   'registered', '', '', '', '', 1000, 'RUB', '', '', '', '', 0, '',
                   %s + ((i - 1) %% %s), (%s::bigint[])[1 + i %% cardinality(%s::bigint[])]
            FROM generate_series(1, %s) i
            """,
            [cmin, customers, pids, pids, leads],
        )
        cur.execute("SELECT min(id) FROM leads_lead WHERE title = 'Bench deal 1'")
        lmin = cur.fetchone()[0]
        # The first P leads sit on P distinct customers (not named accounts): approve and protect them.
        cur.execute(
            """
            INSERT INTO leads_registration (created_at, updated_at, status, protected_from, protected_until, extended,
                                            decided_at, decision_rule, decision_reason, matches, lead_id, partner_id)
            SELECT now(), now(), 'approved', now(), now() + interval '90 days', false, now(), 'bench', '', '[]',
                   l.id, l.partner_id
            FROM leads_lead l JOIN leads_customer c ON c.id = l.customer_id
            WHERE l.id BETWEEN %s AND %s AND NOT c.reserved_for_direct
            """,
            [lmin, lmin + protections - 1],
        )
        for kind, column in (("tax_id", "c.tax_id"), ("domain", "c.domain"), ("name", "c.normalized_name")):
            cur.execute(
                f"""
                INSERT INTO leads_protectionwindow (key_kind, key, active, starts_at, ends_at, partner_id,
                                                    registration_id)
                SELECT %s, {column}, true, r.protected_from, r.protected_until, r.partner_id, r.id
                FROM leads_registration r JOIN leads_lead l ON l.id = r.lead_id
                JOIN leads_customer c ON c.id = l.customer_id
                WHERE r.decision_rule = 'bench'
                ON CONFLICT (key_kind, key) WHERE active DO NOTHING
                """,
                [kind],
            )
        cur.execute(
            "ANALYZE leads_customer; ANALYZE leads_lead; ANALYZE leads_registration; ANALYZE leads_protectionwindow"
        )
        cur.execute("SELECT count(*) FROM leads_lead")
        n_leads = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM leads_registration WHERE status = 'approved'")
        n_prot = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM leads_protectionwindow WHERE active")
        n_win = cur.fetchone()[0]
    print(
        f"generated in {time.perf_counter() - t0:.1f}s: {n_leads:,} leads, {customers:,} customers, "
        f"{n_prot:,} active protections ({n_win:,} key windows)"
    )


def register(*, deals: int, words: list[str], protections: int) -> None:
    rng = random.Random(11)
    partners = list(Partner.objects.filter(country="ZZ").select_related("tier"))
    timings: list[float] = []
    original = registration_service.customers_claims

    def timed(**kwargs):
        start = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            timings.append((time.perf_counter() - start) * 1000)

    registration_service.customers_claims = timed
    close = timezone.localdate() + timedelta(days=60)
    t0 = time.perf_counter()
    for i in range(deals):
        roll = rng.random()
        if roll < 0.1:  # an already protected customer: hard conflict
            n = rng.randint(1, protections)
            tax_id, name = str(TAX_BASE + n), "Some other name"
        else:  # a new customer with a plausible name (may collide softly with a protected one)
            tax_id = str(9_500_000_000 + i)
            name = " ".join(rng.choice(words) for _ in range(3))
        registration_service.deal_register(
            partner=rng.choice(partners),
            submitted_by=None,
            customer=registration_service.CustomerData(name=name, tax_id=tax_id),
            deal=registration_service.DealData(
                title=f"Bench registration {i}", value=Decimal("1000"), expected_close=close
            ),
        )
    elapsed = time.perf_counter() - t0
    registration_service.customers_claims = original
    timings.sort()

    def pct(p):
        return timings[min(len(timings) - 1, int(len(timings) * p))]

    print(f"registered {deals:,} deals in {elapsed:.1f}s: {deals / elapsed:,.0f} registrations/s")
    print(
        f"conflict check ({len(timings):,} calls): p50 {pct(0.50):.2f} ms, p95 {pct(0.95):.2f} ms, "
        f"p99 {pct(0.99):.2f} ms, max {timings[-1]:.2f} ms, mean {statistics.fmean(timings):.2f} ms"
    )
    outcome = Registration.objects.filter(lead__title__startswith="Bench registration ").values_list(
        "status", flat=True
    )
    counts: dict[str, int] = {}
    for status in outcome:
        counts[status] = counts.get(status, 0) + 1
    print("decisions:", counts)


IMPORT_FLOOR = 2000  # deals/s: a 200,000-row partner import decided within 100 s


# Steps of the check timed one by one (module functions of leads.services.registration, wrapped while it runs).
PHASES = (
    "_chunk_load", "_protection_lock", "customers_claims", "_batch_claims", "_decision_make", "_registrations_write",
    "_registrations_follow",
)  # fmt: skip


def partner_import(*, deals: int, words: list[str], protections: int, senders: int, profile: bool = False) -> None:
    """A CRM's bulk upsert of `deals` new partner deals, then the registration check it queues, timed."""
    import cProfile
    import pstats

    import leads.services.sync as sync

    rng = random.Random(13)
    partners = list(Partner.objects.filter(country="ZZ").order_by("id")[:senders])
    items: list[dict] = []  # tax ids of country "ZZ": the generated ones carry no INN check digit
    for i in range(deals):
        roll = rng.random()
        if roll < 0.1:  # a customer another partner protects
            tax_id, name = str(TAX_BASE + rng.randint(1, protections)), " ".join(rng.choice(words) for _ in range(3))
        elif roll < 0.12 and items:  # a second deal for a customer earlier in this import
            earlier = rng.choice(items)["customer"]
            tax_id, name = earlier["tax_id"], earlier["name"]
        else:
            tax_id, name = str(9_600_000_000 + i), " ".join(rng.choice(words) for _ in range(3))
        items.append({"source_system": "bench", "external_id": f"imp{i}", "title": f"Bench import {i}",
                      "customer": {"name": name, "tax_id": tax_id, "country": "ZZ"}, "value": "1000"})  # fmt: skip
    tasks: list[list[int]] = []  # the checks the upserts queued: one task per request, as the worker runs them
    original = sync.registrations_submit
    sync.registrations_submit = lambda *, lead_ids, submitted_by: tasks.append(list(lead_ids))
    t0 = time.perf_counter()
    per_partner = max(1, len(items) // len(partners))
    for n, partner in enumerate(partners):
        mine = items[n * per_partner : (n + 1) * per_partner] if n < len(partners) - 1 else items[n * per_partner :]
        for start in range(0, len(mine), sync.MAX_BATCH):
            sync.leads_bulk_upsert(items=mine[start : start + sync.MAX_BATCH], partner_id=partner.pk)
    sync.registrations_submit = original
    upserted = time.perf_counter() - t0
    spent = {name: [0.0, 0] for name in PHASES}
    originals = {name: getattr(registration_service, name) for name in PHASES}

    def timer(name, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name][0] += time.perf_counter() - start
                spent[name][1] += 1

        return timed

    for name, fn in originals.items():
        setattr(registration_service, name, timer(name, fn))
    profiler = cProfile.Profile() if profile else None
    load = os.getloadavg()
    t1 = time.perf_counter()
    cpu = time.process_time(), _machine_cpu()
    if profiler:
        profiler.enable()
    decided = sum(registration_service.registrations_check(lead_ids=ids) for ids in tasks)
    elapsed = time.perf_counter() - t1
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu[0], _machine_cpu() - cpu[1]
    for name, fn in originals.items():
        setattr(registration_service, name, fn)
    rate = decided / elapsed if elapsed else 0.0
    counts: dict[str, int] = {}
    queued = [pk for ids in tasks for pk in ids]
    for status in Registration.objects.filter(lead_id__in=queued).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    print(
        f"partner import: {len(queued):,} deals upserted in {upserted:.1f}s; registration checks ({len(tasks)} tasks, "
        f"one a request, run one after another as one `long` worker does; {registration_service.CHECK_LANES} chunks "
        f"of a task in flight) {decided:,} in "
        f"{elapsed:.1f}s: {rate:,.0f} deals/s (floor {IMPORT_FLOOR:,} deals/s: "
        f"{'met' if rate >= IMPORT_FLOOR else 'NOT met'}); a 200,000-row import decided in "
        f"{200_000 / max(rate, 1e-9) / 60:.1f} min"
    )
    print(
        f"  CPU of the check (less sensitive to the machine's load): this process (all its threads) {cpu[0]:.1f}s; "
        f"the whole machine {cpu[1]:.1f}s (this process, its PostgreSQL backends and anything else running), "
        f"{cpu[1] * 1000 / max(decided, 1):.2f} ms a deal, {cpu[1] / max(elapsed, 1e-9):.2f} of "
        f"{os.cpu_count()} cores busy on average"
    )
    asked = spent["customers_claims"]
    print(
        f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after"
    )
    overlap = registration_service.CHECK_LANES > 1
    print(
        f"  asking who claims the customers: {asked[0]:.1f}s in {asked[1]:,} statements (one per chunk of "
        f"{registration_service.CHECK_CHUNK:,}, plus one per deal an earlier deal of the import, or of the chunk "
        f"before it in flight, may claim)"
    )
    print(
        "  per step"
        + (" (time in each thread, summed: the chunks in flight overlap)" if overlap else "")
        + ": "
        + ", ".join(f"{name.strip('_')} {sec:.2f}s ({n:,} calls)" for name, (sec, n) in spent.items())
        + (
            ""
            if overlap
            else f"; outside them (notifications, the transactions): "
            f"{elapsed - sum(sec for sec, _n in spent.values()):.2f}s"
        )
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    print("import decisions:", counts)


def _machine_cpu() -> float:
    """CPU seconds all cores of this machine have been busy (user, nice, system, irq, softirq, steal), from
    /proc/stat: the check's threads run on connections of their own, whose backends come and go."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


LABELLED = Path(__file__).resolve().parent.parent / "tests" / "leads" / "data" / "near_duplicate_names.csv"


def labelled_recall() -> None:
    """The labelled near-duplicate names (tests/leads/data/near_duplicate_names.csv) protected among the generated
    ones: how many variants the scorer accepts, how many of those the conflict check finds, and its latency."""
    import csv

    from django.conf import settings
    from rapidfuzz import fuzz

    from leads.customers import customer_name_key
    from leads.models import Customer, Lead, ProtectionWindow
    from leads.selectors.registration import customer_claims

    pairs = list(csv.DictReader(LABELLED.open(encoding="utf-8")))
    partner = Partner.objects.filter(country="ZZ").first()
    now = timezone.now()
    held = dict(  # protected by an earlier run on this data (--checks-only on a copy of a template)
        Registration.objects.filter(lead__title__startswith="Bench labelled ").values_list(
            "lead__customer__normalized_name", "pk"
        )
    )
    if not held:
        names = sorted({p["protected"] for p in pairs})
        customers = Customer.objects.bulk_create(Customer(name=n, normalized_name=customer_name_key(n)) for n in names)
        leads = Lead.objects.bulk_create(
            Lead(
                customer=c, partner=partner, title=f"Bench labelled {c.name}", source="registration", stage="registered"
            )
            for c in customers
        )
        regs = Registration.objects.bulk_create(
            Registration(lead=lead, partner=partner, status="approved", protected_from=now,
                         protected_until=now + timedelta(days=90), decision_rule="bench")
            for lead in leads
        )  # fmt: skip
        ProtectionWindow.objects.bulk_create(
            [
                ProtectionWindow(registration=r, partner=partner, key_kind="name", key=c.normalized_name, starts_at=now,
                                 ends_at=now + timedelta(days=90))
                for r, c in zip(regs, customers)
            ],
            ignore_conflicts=True,
        )  # fmt: skip
        held = {c.normalized_name: r.pk for r, c in zip(regs, customers)}
    accepted = found = 0
    timings = []
    for pair in pairs:
        key, variant = customer_name_key(pair["protected"]), customer_name_key(pair["variant"])
        if fuzz.token_set_ratio(key, variant) < settings.PRM_SOFT_MATCH_THRESHOLD:
            continue
        accepted += 1
        started = time.perf_counter()
        claims = customer_claims(name=pair["variant"])
        timings.append((time.perf_counter() - started) * 1000)
        found += held[key] in {m.registration_id for m in claims.hard + claims.soft}
    timings.sort()
    print(
        f"labelled near-duplicates: {len(pairs)} pairs; the scorer (token-set ratio ≥ {settings.PRM_SOFT_MATCH_THRESHOLD}) "
        f"accepts {accepted} ({100 * accepted / len(pairs):.1f} %); the check finds {found} of them "
        f"({100 * found / max(accepted, 1):.1f} %, target ≥ 99 %); name check p50 {timings[len(timings) // 2]:.2f} ms, "
        f"p99 {timings[min(len(timings) - 1, int(len(timings) * 0.99))]:.2f} ms (target < 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=2_000_000)
    parser.add_argument("--protections", type=int, default=200_000)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--partners", type=int, default=300)
    parser.add_argument("--batch", type=int, default=20_000, help="deals in the timed partner import (0: none)")
    parser.add_argument("--reset", action="store_true", help="truncate the leads tables first (scratch DB only)")
    parser.add_argument("--import-only", action="store_true", help="only the partner import, on the data there")
    parser.add_argument(
        "--checks-only",
        action="store_true",
        help="only the labelled recall and --deals registrations, on the data there",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the import's registration checks")
    parser.add_argument(
        "--senders", type=int, default=4, help="partners whose CRMs send the import's deals (5,000 a request)"
    )
    parser.add_argument(
        "--vocabulary", type=int, help="distinct words of the generated names (default: vocabulary_size)"
    )
    parser.add_argument("--chunk", type=int, help="deals a chunk of the check decides together (CHECK_CHUNK)")
    parser.add_argument("--lanes", type=int, help="chunks of the check in flight at once (CHECK_LANES; 1: none)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL scratch database.")
    call_command("migrate", verbosity=0)
    words = vocabulary(args.vocabulary or vocabulary_size(args.protections))
    print(f"names: 3 words of a vocabulary of {len(words):,}")
    if args.lanes:
        registration_service.CHECK_LANES = args.lanes
    if args.chunk:
        registration_service.CHECK_CHUNK = args.chunk
    if args.import_only:
        partner_import(
            deals=args.batch, words=words, protections=args.protections, senders=args.senders, profile=args.profile
        )
        return
    if args.checks_only:
        labelled_recall()
        register(deals=args.deals, words=words, protections=args.protections)
        return
    if args.reset:
        with connection.cursor() as cur:
            cur.execute(
                "TRUNCATE leads_protectionwindow, leads_registrationdecision, leads_registration, leads_activity,"
                " leads_cosell, leads_offer, leads_routingdecision, leads_lead_competencies, leads_lead,"
                " leads_customer CASCADE"
            )
        Partner.objects.filter(country="ZZ").delete()
    generate(leads=args.leads, protections=args.protections, partners=args.partners, words=words)
    labelled_recall()
    if args.deals:
        register(deals=args.deals, words=words, protections=args.protections)
    if args.batch:
        partner_import(
            deals=args.batch, words=words, protections=args.protections, senders=args.senders, profile=args.profile
        )


if __name__ == "__main__":
    main()
