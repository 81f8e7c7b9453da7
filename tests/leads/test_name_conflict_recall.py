"""Soft name conflicts do not miss as the network grows: a labelled set of near-duplicate company names (ru/en,
legal forms, transliterations, typos, an extra word; tests/leads/data/near_duplicate_names.csv) is checked
against protections hidden among thousands of names that share their first words. The retrieval (blocking keys,
leads migration 0028) must hand the scorer every protected name it would accept."""

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rapidfuzz import fuzz

from leads.customers import customer_name_key
from leads.models import Customer, Lead, ProtectionWindow, Registration
from leads.selectors.registration import SOFT_CANDIDATE_LIMIT, customer_claims
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db

PAIRS = list(csv.DictReader((Path(__file__).parent / "data" / "near_duplicate_names.csv").open(encoding="utf-8")))
FILLERS = ["trading", "service", "group", "holding", "invest", "logistic", "project", "market", "systems", "digital"]


def protect(names: list[str]) -> dict[str, int]:
    """Approved registrations with a name window on each name key; {key: registration id}."""
    partner = PartnerFactory()
    now = timezone.now()
    customers = Customer.objects.bulk_create(Customer(name=n, normalized_name=customer_name_key(n)) for n in names)
    leads = Lead.objects.bulk_create(
        Lead(customer=c, partner=partner, title=c.name, source="registration", stage="registered") for c in customers
    )
    regs = Registration.objects.bulk_create(
        Registration(lead=lead, partner=partner, status="approved", protected_from=now,
                     protected_until=now + timedelta(days=90))
        for lead in leads
    )  # fmt: skip
    ProtectionWindow.objects.bulk_create(
        ProtectionWindow(registration=r, partner=partner, key_kind="name", key=c.normalized_name, starts_at=now,
                         ends_at=now + timedelta(days=90))
        for r, c in zip(regs, customers)
    )  # fmt: skip
    return {c.normalized_name: r.pk for r, c in zip(regs, customers)}


def test_every_similar_protected_name_is_found_among_thousands_sharing_its_first_word(postgres_only):
    protected = sorted({p["protected"] for p in PAIRS})
    keys = {customer_name_key(n) for n in protected}
    # Twenty names share each first word, and for four words more than the old first-word bucket held (500, in no
    # particular order).
    firsts = sorted({k.split()[0] for k in keys})
    fillers = [f"{w} {FILLERS[i % 10]} {i}" for n, w in enumerate(firsts) for i in range(520 if n < 4 else 20)]
    held = protect(protected + [f for f in fillers if customer_name_key(f) not in keys])
    with connection.cursor() as cursor:  # as autovacuum does: without statistics a probe may scan every name
        cursor.execute("ANALYZE leads_protectionwindow")
    threshold = settings.PRM_SOFT_MATCH_THRESHOLD
    accepted = found = 0
    missed = []
    for pair in PAIRS:
        key, variant = customer_name_key(pair["protected"]), customer_name_key(pair["variant"])
        if fuzz.token_set_ratio(key, variant) < threshold:
            continue  # the scorer's verdict, not the retrieval's (scorer recall is printed by bench/registration.py)
        accepted += 1
        claims = customer_claims(name=pair["variant"])
        if held[key] in {m.registration_id for m in claims.hard + claims.soft}:
            found += 1
        else:
            missed.append((key, variant))
    assert accepted >= 0.8 * len(PAIRS)  # the labelled set exercises the scorer, most pairs reach the retrieval
    assert found >= 0.99 * accepted, (found, accepted, missed)


def test_the_name_probe_by_words_finds_exactly_the_names_that_share_blocking_keys(postgres_only):
    """The probe goes word by word (leads migration 0037: each asked word's similar words from `leads_nameword`; 0039
    and 0041: the protected names' and named accounts' candidates from GIN indexes of their words and pairs of
    words), pinned to the rule it answers (leads migrations 0028, 0035): a protected name or
    named account is a candidate when its blocking keys (`leads_name_blocks`) share a key with each asked word's keys
    (`leads_name_blocks_group`; all words but one from three words on), or it equals a run of the asked words. The
    words of a named account that becomes one later count too. A one-word name keeps only the candidates the scorer's
    cutoff allows (containing the word, or of about its length: _one_word_cutoff)."""
    from leads.selectors.registration import _claim_rows, _word_runs
    from tests.leads.factories import CustomerFactory

    protected = sorted({customer_name_key(p["protected"]) for p in PAIRS})
    variants = sorted({customer_name_key(p["variant"]) for p in PAIRS} - {""})
    typos = [f"{k[:2]}{k[3:]} {FILLERS[i % 10]}" for i, k in enumerate(protected)]  # a letter gone, a word more
    protect(protected + typos[::2] + ["vektorr", "vektorr logistic", "vektorr vektorr"])
    CustomerFactory(name="Severstal Trading Group", normalized_name="severstal trading group", reserved_for_direct=True)
    # Named accounts found as windows are (leads migration 0041: their own pairs index): a word more than a protected
    # name, or a letter gone.
    for i, key in enumerate(protected[::3]):
        name = f"{key} {FILLERS[(i + 3) % 10]}" if i % 2 else f"{key[:1]}{key[2:]}"
        CustomerFactory(name=name, normalized_name=name, reserved_for_direct=True)
    later = CustomerFactory(name="Vektor Logistic", normalized_name="vektor logistic")
    type(later).objects.filter(pk=later.pk).update(reserved_for_direct=True)
    asked = sorted(set(variants + typos[1::2] + ["a", "vektor", "x y z w", "one two three four five six seven"]))
    rows = _claim_rows(taxes=[], domains=[], names=asked, regions=[], exclude_lead_ids=[])
    found = {(row[9], row[2]) for row in rows if row[0] in ("name", "reserved_name")}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, leads_name_blocks(key) FROM leads_protectionwindow WHERE active AND key_kind = 'name' "
            "UNION SELECT normalized_name, leads_name_blocks(normalized_name) FROM leads_customer "
            "WHERE reserved_for_direct"
        )
        names = cursor.fetchall()
        cursor.execute(
            "SELECT name, ARRAY(SELECT array_to_string(leads_name_blocks_group(name, i), ',') "
            "FROM generate_series(1, 6) i WHERE leads_name_blocks_group(name, i) IS NOT NULL) "
            "FROM unnest(CAST(%s AS text[])) name",
            [asked],
        )
        groups = {name: [set(map(int, g.split(","))) for g in gs] for name, gs in cursor.fetchall()}
    expected = set()
    for name, words in groups.items():
        need = len(words) if len(words) <= 2 else len(words) - 1
        runs = set(_word_runs(name))
        for key, keys in names:
            if (key in runs or sum(bool(set(keys) & g) for g in words) >= need) and (
                len(words) != 1 or one_word_may_match(name, key)
            ):
                expected.add((name, key))
    assert max(sum(1 for a, _k in expected if a == n) for n in asked) < SOFT_CANDIDATE_LIMIT
    assert found == expected
    assert ("vektor", "vektor logistic") in found and any(k == "severstal trading group" for _a, k in found)
    # A one-word name's candidates: those containing it, or of about its length (not a longer name of a similar word).
    assert ("vektor", "vektorr") in found and ("vektor", "vektorr logistic") not in found
    assert ("vektor", "vektorr vektorr") in found  # a repeated word counts once


def one_word_may_match(asked: str, key: str) -> bool:
    """What the probe keeps for a one-word asked name (leads.selectors.registration._one_word_cutoff), restated from
    the scorer's definition: the candidate contains the word, or the two strings' lengths allow the cutoff."""
    a, c = set(asked.split()), set(key.split())
    la, lc = len(" ".join(a)), len(" ".join(c))
    return a <= c or 100 * abs(la - lc) <= (100 - settings.PRM_SOFT_MATCH_THRESHOLD) * (la + lc)


def test_a_one_word_name_drops_only_candidates_the_scorer_rejects():
    """The one-word cutoff of the probe never drops a name the scorer accepts (random words, typos, extra words)."""
    import random

    rng = random.Random(3)
    letters = "abcdefghijklmnoprstuvy"
    for _ in range(20000):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 12)))
        other = list(word)
        for _edit in range(rng.randint(0, 2)):
            i = rng.randrange(len(other) + 1)
            other[i:i + rng.randint(0, 1)] = rng.choice(["", rng.choice(letters)])  # fmt: skip
        extra = [
            "".join(rng.choice(letters) for _ in range(rng.randint(1, 8))) for _ in range(rng.choice([0, 0, 1, 2, 3]))
        ]
        key = " ".join(["".join(other) or "x", *extra])
        if fuzz.token_set_ratio(word, key) >= settings.PRM_SOFT_MATCH_THRESHOLD:
            assert one_word_may_match(word, key), (word, key)


def test_a_name_with_more_candidates_than_the_limit_keeps_the_closest(postgres_only, monkeypatch):
    """The probe returns a name's candidates unordered unless they pass SOFT_CANDIDATE_LIMIT; then that name alone is
    asked again, ordered: the runs of its words first, then the names containing all of them. Every door gets the
    same candidates (the stored matches of a deal do not depend on how many names a chunk asked)."""
    from leads.selectors import registration as selector

    protect(["vektor", "vektor logistic group", "vektorr logistik", "vektor logistics", "alfa stroy"])
    monkeypatch.setattr(selector, "SOFT_CANDIDATE_LIMIT", 2)
    rows = selector._claim_rows(
        taxes=[], domains=[], names=["alfa stroi", "vektor logistic"], regions=[], exclude_lead_ids=[]
    )
    found = sorted((row[9], row[2]) for row in rows if row[0] == "name")
    assert found == [
        ("alfa stroi", "alfa stroy"),
        ("vektor logistic", "vektor"),
        ("vektor logistic", "vektor logistic group"),
    ]
