"""Reads for step 3, deals registered: conflicts on a customer, registration lists and the review queue."""

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rapidfuzz import fuzz, process

from leads.customers import customer_name_key, domain_normalize, name_prefix, tax_id_canonical
from leads.models import (
    OPEN_STAGES,
    Customer,
    Lead,
    LeadSource,
    Offer,
    OfferStatus,
    ProtectionWindow,
    Registration,
    RegistrationStatus,
)
from partners.models import Partner, PartnerStatus
from prm.permissions import scope_for

# Soft-match candidates fetched from SQL at most a name, the likeliest first (_named_probe; the SQLite demo: a
# first-word bucket, _similar_names). At 1,980,000 protected names (bench/registration.py, a 1,000-word vocabulary)
# 500 cut off 1.3 % of the similar names the scorer accepts among all candidates, 5,000 one in 3,097.
SOFT_CANDIDATE_LIMIT = 5000


@dataclass(frozen=True)
class CustomerMatch:
    """One claim on a customer.

    kind "hard"/"soft": a partner's protection window (same tax id or domain / a similar name) or a vendor named
    account; "offer": a vendor lead for the customer offered to a partner or accepted by it, still open; "deal": an
    open deal of the asking partner itself; "territory": a franchise whose exclusive region is the customer's.
    """

    kind: str
    key_kind: str  # "tax_id", "domain", "name" or "region"
    key: str
    similarity: float = 100.0
    partner_id: int | None = None
    registration_id: int | None = None
    customer_id: int | None = None
    reserved: bool = False  # a vendor named account (direct sales)
    lead_id: int | None = None
    registration_status: str = ""  # the matched deal's registration, if any


# A match's fields in their order: as_json's dicts, as dataclasses.asdict makes them (every field a plain value) at
# a tenth of its cost (an import stores the claims of every deal).
_MATCH_FIELDS = tuple(f.name for f in fields(CustomerMatch))


@dataclass
class CustomerClaims:
    """Who claims a customer, from the asking partner's point of view (see customer_claims)."""

    hard: list[CustomerMatch] = field(default_factory=list)  # others' protections of the tax id/domain; named accounts
    soft: list[CustomerMatch] = field(default_factory=list)  # others' protections of a similar name; similar accounts
    offered: list[CustomerMatch] = field(default_factory=list)  # vendor leads offered to / accepted by another partner
    territory: list[CustomerMatch] = field(default_factory=list)  # another franchise's exclusive region
    own: list[CustomerMatch] = field(default_factory=list)  # the asker's own protections and open deals

    def __bool__(self) -> bool:
        """Whether anyone but the asker claims the customer."""
        return bool(self.hard or self.soft or self.offered or self.territory)

    def as_json(self) -> list[dict]:
        """Other parties' claims, as stored on a registration (vendor eyes only: they name partners)."""
        return [
            {name: getattr(m, name) for name in _MATCH_FIELDS}
            for m in self.hard + self.soft + self.offered + self.territory
        ]

    def own_protection(self) -> CustomerMatch | None:
        """The asker's own active protection of the tax id or domain, if it holds one."""
        return next((m for m in self.own if m.kind == "hard" and m.registration_id), None)

    def own_protected_deals(self) -> list[int]:
        """Registration ids of the asker's open deals at this customer whose registration is approved."""
        return [
            m.registration_id
            for m in self.own
            if m.kind == "deal" and m.registration_id and m.registration_status == RegistrationStatus.APPROVED
        ]


@dataclass(frozen=True)
class ClaimQuery:
    """One customer to look up: raw or canonical keys (normalised in customers_claims) and its region."""

    tax_id: str = ""
    domain: str = ""
    name: str = ""
    region_id: int | None = None
    partner_id: int | None = None  # the asker of this query when a batch asks for several partners


def customer_claims(
    *, tax_id: str = "", domain: str = "", name: str = "", region_id=None, partner=None, exclude_lead_ids=()
) -> CustomerClaims:
    """Which claims exist on this customer: customers_claims for one customer (with fuzzy name matching)."""
    return customers_claims(
        queries=[ClaimQuery(tax_id=tax_id, domain=domain, name=name, region_id=region_id)],
        partner=partner,
        exclude_lead_ids=exclude_lead_ids,
    )[0]


def customers_claims(
    *, queries: list[ClaimQuery], partner=None, exclude_lead_ids: Iterable[int] = ()
) -> list[CustomerClaims]:
    """The one rule of who owns a customer, for each query, in one round trip. Every path asks it: portal and API
    registration (and the set-based check of CRM-created deals, many customers at once), the availability check,
    disputes, offer acceptance and routing (many leads at once).

    A customer is claimed by
    - an active protection window of a partner on its tax id or domain (hard) or on a similar normalised name
      (soft: rapidfuzz token-set ratio ≥ PRM_SOFT_MATCH_THRESHOLD among the names sharing blocking keys), and by
      the vendor's named accounts (`reserved`);
    - a vendor lead for a customer with the same tax id, domain or normalised name that is offered to a partner
      (pending offer) or was accepted by / assigned to it and is still open ("offer");
    - the asking partner's own open deals at that customer ("deal", in `own`);
    - an active franchise whose exclusive region is the customer's region ("territory").

    The asker is the query's `partner_id`, else `partner`. Claims of the asker itself go to `own`, never to the
    other lists. Deals in `exclude_lead_ids` (the ones being decided) are not claims. Names are matched for each
    query that has one (on PostgreSQL in the same statement, one blocking-key index probe per distinct name).
    """
    default_asker = getattr(partner, "pk", partner)
    norm = [
        ClaimQuery(
            tax_id=tax_id_canonical(q.tax_id),
            domain=domain_normalize(q.domain),
            name=customer_name_key(q.name),
            region_id=q.region_id,
            partner_id=q.partner_id if q.partner_id is not None else default_asker,
        )
        for q in queries
    ]
    results = [CustomerClaims() for _q in norm]
    names = sorted({q.name for q in norm if q.name and name_prefix(q.name)})
    taxes = sorted({q.tax_id for q in norm if q.tax_id})
    domains = sorted({q.domain for q in norm if q.domain})
    regions = sorted({q.region_id for q in norm if q.region_id})
    if not (taxes or domains or names or regions):
        return results
    rows = _claim_rows(taxes=taxes, domains=domains, names=names, regions=regions, exclude_lead_ids=exclude_lead_ids)
    by_tax: dict = {}
    by_domain: dict = {}
    by_region: dict = {}
    by_name: dict = {}
    for q, result in zip(norm, results):
        by_tax.setdefault(q.tax_id, []).append((q, result))
        by_domain.setdefault(q.domain, []).append((q, result))
        by_region.setdefault(q.region_id, []).append((q, result))
        by_name.setdefault(q.name, []).append((q, result))
    fuzzy: dict[str, list[tuple]] = {}
    for row in rows:
        src, key_kind, key, partner_id, _registration_id, _lead_id, _customer_id, routed, _status, asked = row
        if src in ("name", "reserved_name"):  # most rows: made a match only when the scorer keeps them
            fuzzy.setdefault(asked, []).append(row)
            continue
        match = _match_fields(row)
        if src == "territory":
            targets = by_region.get(int(key), [])
        elif key_kind == "tax_id":
            targets = by_tax.get(key, [])
        elif key_kind == "domain":
            targets = by_domain.get(key, [])
        else:  # a vendor lead's customer with the same normalised name
            targets = by_name.get(key, []) if key else []
        for q, result in targets:
            own = partner_id is not None and partner_id == q.partner_id
            if src == "territory":
                if not own:
                    result.territory.append(CustomerMatch(kind="territory", **match))
            elif src == "lead":
                if own:
                    result.own.append(CustomerMatch(kind="deal", **match))
                elif routed:
                    result.offered.append(CustomerMatch(kind="offer", **match))
                # Another partner's own registered deal claims the customer through its protection windows.
            elif own:
                result.own.append(CustomerMatch(kind="hard", **match))
            else:
                result.hard.append(CustomerMatch(kind="hard", **match))
    for name, candidates in fuzzy.items():
        for q, result in by_name.get(name, []):
            _soft_matches(name=name, candidates=candidates, result=result, asker=q.partner_id)
    return results


def _match_fields(row: tuple) -> dict:
    """A CustomerMatch's fields from a row of _claim_rows."""
    src, key_kind, key, partner_id, registration_id, lead_id, customer_id, _routed, status, _asked = row
    reserved = src in ("reserved", "reserved_name")
    return {
        "key_kind": key_kind,
        "key": key,
        "partner_id": partner_id,
        "registration_id": registration_id,
        "customer_id": customer_id if reserved else None,
        "reserved": reserved,
        "lead_id": lead_id,
        "registration_status": status or "",
    }


def _soft_matches(*, name: str, candidates: list[tuple], result: CustomerClaims, asker) -> None:
    """The similar names among the candidates (rows of _claim_rows) become soft claims (or own ones). One holder is
    reported once: a hard match already covers its name."""
    held = {m.registration_id or m.customer_id for m in result.hard + result.own if m.kind == "hard"}
    # A name row's holder: its registration (a window) or its customer (a named account, `reserved_name`).
    candidates = [row for row in candidates if (row[4] or (row[6] if row[0] == "reserved_name" else None)) not in held]
    # Equally similar names in one order whichever statement found them (a chunk's or one deal's: their plans
    # return rows in different orders): the stored matches of a deal do not depend on the door.
    candidates.sort(key=lambda row: (row[4] or 0, row[6] or 0, row[2]))
    for _key, score, i in process.extract(
        name,
        [row[2] for row in candidates],
        scorer=fuzz.token_set_ratio,
        score_cutoff=settings.PRM_SOFT_MATCH_THRESHOLD,
        limit=None,
    ):
        m = CustomerMatch(kind="soft", similarity=round(score, 1), **_match_fields(candidates[i]))
        (result.own if m.partner_id is not None and m.partner_id == asker else result.soft).append(m)


def _among(param: str, *, negate: bool = False) -> str:
    """`IN` the list passed as the named parameter (an array on PostgreSQL, JSON for SQLite's json_each)."""
    if connection.vendor == "postgresql":
        return f"{'<> ALL' if negate else '= ANY'}(%({param})s)"
    return f"{'NOT IN' if negate else 'IN'} (SELECT value FROM json_each(%({param})s))"


def _list_param(values) -> list | str:
    values = list(values)
    return values if connection.vendor == "postgresql" else json.dumps(values)


def _similar_names(column: str) -> str:
    """The soft-match candidates among `column` for the asked name on the SQLite demo: the names with the same first
    word, %(like)s, at most SOFT_CANDIDATE_LIMIT. (PostgreSQL: _named_probe.)"""
    return f"%(like)s <> '' AND {column} LIKE %(like)s LIMIT %(limit)s"


def _named_probe(*, table: str, column: str, where: str, columns: str, ordered: bool) -> str:
    """The soft-match candidates on PostgreSQL among `column` of `table`'s rows `where` for the asked name `q.name`
    (`columns` of them, and `column` as `key`): the names that have a word similar to each asked word (all but one
    when three or more are asked), a word one or two deleted letters away from it (a word sharing a blocking key
    with it, leads migrations 0028 and 0037: `q.m<i>`, the protected words similar to the asked name's i-th word),
    and the names equal to a run of its words (`q.runs`, the name part of a longer name asked about); those runs
    first, then the names containing every asked word, then the closest in length (then by name: the same names
    kept whichever statement asks, a chunk's or one deal's), at most SOFT_CANDIDATE_LIMIT. Only when `ordered`:
    otherwise in no order and at most one more than the limit, and a name that gets more than the limit is asked
    again, ordered (_claim_rows). Ordering every name's candidates (~65 at 1,980,000 protections, against a limit
    of 5,000) was a fifth of a chunk's statement.

    The rows come from the index of the names' words and pairs of words (leads migrations 0039 and 0041, `q.pairs`,
    _pair_groups: every name the condition accepts has one of the pairs asked) and the runs' index; the condition
    and order (per word count, _blocks_match_by_count) are applied to those rows, behind a fence (OFFSET 0) so that
    the planner cannot probe with the condition. A probe reads a few posting lists and hands the scorer
    (_soft_matches) a handful of names, where a trigram probe read and rechecked thousands."""
    return f"""(SELECT {columns}, {column} AS key, string_to_array({column}, ' ') AS words
             FROM {table}
             WHERE {where}
               AND (leads_name_word_pairs({column}) OPERATOR(pg_catalog.&&) q.pairs OR {column} = ANY(q.runs))
             OFFSET 0) c
             WHERE ({_blocks_match_by_count("words")} OR key = ANY(q.runs)) AND {_one_word_cutoff("words")}
             {_PROBE_ORDER if ordered else ""} LIMIT %(limit)s + {0 if ordered else 1}"""


_PROBE_ORDER = "ORDER BY key = ANY(q.runs) DESC, words @> q.name_words DESC, abs(length(key) - length(q.name)), key"
NAMED = ("name", "reserved_name")  # _claim_rows' sources of similar names


MOST_WORDS = 6  # words of an asked name that count (leads_name_blocks_group)


def _one_word_cutoff(words: str) -> str:
    """For an asked name of one word, the candidates `words` (its `key`) the scorer can accept: those containing the
    word (a token-set ratio of 100), or whose distinct words joined are about its length (sharing no word, the ratio
    is that of the two strings, at most 100 × (1 − |difference of lengths| / sum of lengths), compared with the cutoff
    `%(cutoff)s` in integers). A common word's similar words are in thousands of names, most of them longer; sorted
    and sent to the scorer, they made a one-word check of 'romashka' take 50–120 ms at 1,980,000 protections. The
    distinct words are joined only for a longer name that may repeat one (a repeat among its first three words, or
    more than three). Names of more words
    keep every candidate: a shared word there can make up most of both names."""
    near = "100 * abs({a} - {c}) <= (100 - %(cutoff)s) * ({a} + {c})"
    asked, full = "length(q.name_words[1])", "length(key)"
    distinct = f"length(array_to_string(ARRAY(SELECT DISTINCT w FROM unnest({words}) w WHERE w <> ''), ' '))"
    repeats = f"coalesce({words}[1] = {words}[2] OR {words}[1] = {words}[3] OR {words}[2] = {words}[3], false)"
    return (
        f"(CASE WHEN q.n <> 1 OR {words} @> q.name_words OR {near.format(a=asked, c=full)} THEN true "
        f"WHEN {full} < {asked} OR (cardinality({words}) <= 3 AND NOT {repeats}) THEN false "
        f"ELSE {near.format(a=asked, c=distinct)} END)"
    )


def _pair_groups() -> str:
    """The asked name's entries of the pairs index (leads migration 0039), `pairs`: for one word, the hashes of the
    words similar to it; for more, the hashed pairs of a word similar to its first word and one similar to its
    second, or one similar to its third and one similar to its first or second (or the hash of a word similar to
    both). Every name _named_probe's condition accepts has one of them."""
    return "leads_name_pairs_asked(n, m1, m2, m3) AS pairs"


def _blocks_match_by_count(words: str) -> str:
    """The condition of _named_probe on the rows a probe found (not an index condition): `words` (a name's words,
    computed once a row) have a word similar to each word of the asked name, or to all words but one when it has
    three or more, on its similar words `q.m<i>`, for its own count of words `q.n`: for n ≥ 3 words, every word but
    the k-th (k = n … 3), or words 3 … n and one of words 1 and 2 (`q.m12`, both words' similar words). The same
    names as the blocking keys of the names themselves (leads migration 0035): a name shares a key with an asked
    word exactly when one of its words does."""
    overlap = f"{words} OPERATOR(pg_catalog.&&) q.m{{i}}"
    cases = [f"WHEN 1 THEN {overlap.format(i=1)}", f"WHEN 2 THEN {overlap.format(i=1)} AND {overlap.format(i=2)}"]
    for n in range(3, MOST_WORDS + 1):
        arms = [" AND ".join(overlap.format(i=i) for i in range(1, n + 1) if i != out) for out in range(n, 2, -1)]
        arms.append(
            " AND ".join([*(overlap.format(i=i) for i in range(3, n + 1)), f"{words} OPERATOR(pg_catalog.&&) q.m12"])
        )
        cases.append(f"WHEN {n} THEN " + " OR ".join(f"({arm})" for arm in arms))
    return f"(CASE q.n {' '.join(cases)} END)"


def _asked_words(names: list[str]) -> dict:
    """The statement's parameters for the asked names' words: each name's first MOST_WORDS distinct words (as
    leads_name_blocks_group takes them: `n` of them, the i-th as an index `w<i>` into `words`), and the distinct
    (word, deep) of the chunk, deep when the name has at most two words (two-letter deletions asked, as there)."""
    distinct: dict[tuple[str, bool], int] = {}
    params: dict[str, list] = {"n": [], **{f"w{i}": [] for i in range(1, MOST_WORDS + 1)}}
    for name in names:
        words: list[str] = []
        for w in name.split(" "):
            if w and w not in words:
                words.append(w)
                if len(words) == MOST_WORDS:
                    break
        deep = len(words) <= 2
        params["n"].append(len(words))
        for i in range(1, MOST_WORDS + 1):
            params[f"w{i}"].append(
                distinct.setdefault((words[i - 1], deep), len(distinct) + 1) if i <= len(words) else None
            )
    params["words"] = [w for w, _deep in distinct]
    params["deep"] = [deep for _w, deep in distinct]
    return params


def _asked_params(names: list[str]) -> dict:
    """The similar-name probes' parameters for the asked names: their names, runs of words (_word_runs) and words
    (_asked_words). The protected words that share a blocking key with each asked word (`leads_nameword`, leads
    migration 0037) are looked up once a distinct word of the chunk (names share words), for both probes."""
    return {"names": names, "runs": [chr(31).join(_word_runs(name)) for name in names], **_asked_words(names)}


def _word_runs(name: str, most: int = 8) -> list[str]:
    """Every run of consecutive words of a name key (its first `most` words)."""
    words = name.split()[:most]
    return [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)]


def _claim_rows(
    *, taxes: list[str], domains: list[str], names: list[str], regions: list[int], exclude_lead_ids
) -> list[tuple]:
    """Every candidate claim in one round trip (registration latency matters; routing asks for 500 leads at once,
    the registration check of a bulk upsert for a thousand customers).

    Rows: (source, key_kind, key, partner_id, registration_id, lead_id, customer_id, routed, registration status,
    the asked name a similar-name row answers). Each branch is served by an index: the partial unique index on
    active windows, the customer tax id, domain and name indexes (then leads by customer, offers by lead), and for
    similar names the name-pairs and name-words indexes probed once per asked name (leads migrations 0039 and
    0037; elsewhere the two prefix indexes, varchar_pattern_ops, one query per name).
    """
    t = {
        "windows": ProtectionWindow._meta.db_table,
        "customers": Customer._meta.db_table,
        "leads": Lead._meta.db_table,
        "offers": Offer._meta.db_table,
        "registrations": Registration._meta.db_table,
        "partners": Partner._meta.db_table,
    }
    postgres = connection.vendor == "postgresql"
    tax, dom, reg, ex = _among("tax"), _among("dom"), _among("regions"), _among("ex", negate=True)
    nam = _among("names")
    stages = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    routed = ", ".join(f"'{s}'" for s in ("vendor", "import", "api"))
    nul, nulstr, asked = "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR(20))", "CAST(NULL AS TEXT)"
    sql = f"""
        SELECT * FROM (
            SELECT 'window' AS src, key_kind, key, partner_id, registration_id, {nul} AS lead_id, {nul} AS cust,
                   0 AS routed, {nulstr} AS status, {asked} AS asked
            FROM {t["windows"]}
            WHERE active AND ((key_kind = 'tax_id' AND key {tax}) OR (key_kind = 'domain' AND key {dom}))
        ) h
        UNION ALL
        SELECT * FROM (
            SELECT 'reserved', CASE WHEN tax_id {tax} THEN 'tax_id' ELSE 'domain' END,
                   CASE WHEN tax_id {tax} THEN tax_id ELSE domain END, {nul}, {nul}, {nul}, id, 0, {nulstr}, {asked}
            FROM {t["customers"]}
            WHERE reserved_for_direct AND (tax_id {tax} OR domain {dom})
        ) r
        UNION ALL
        SELECT * FROM (
            SELECT 'lead',
                   CASE WHEN c.tax_id {tax} THEN 'tax_id' WHEN c.domain {dom} THEN 'domain' ELSE 'name' END,
                   CASE WHEN c.tax_id {tax} THEN c.tax_id WHEN c.domain {dom} THEN c.domain ELSE c.normalized_name END,
                   COALESCE(l.partner_id, o.partner_id), rg.id, l.id, c.id,
                   CASE WHEN o.id IS NOT NULL OR l.source IN ({routed}) THEN 1 ELSE 0 END, rg.status, {asked}
            FROM {t["customers"]} c
            JOIN {t["leads"]} l ON l.customer_id = c.id
            LEFT JOIN {t["offers"]} o ON o.lead_id = l.id AND o.status = '{OfferStatus.PENDING.value}'
            LEFT JOIN {t["registrations"]} rg ON rg.lead_id = l.id
            WHERE (c.tax_id {tax} OR c.domain {dom} OR c.normalized_name {nam})
              AND (o.id IS NOT NULL OR (l.partner_id IS NOT NULL AND l.stage IN ({stages})))
              AND l.id {ex} AND l.source <> '{LeadSource.DISPATCH.value}'
        ) d
        UNION ALL
        SELECT * FROM (
            SELECT 'territory', 'region', CAST(exclusive_region_id AS VARCHAR(20)), id, {nul}, {nul}, {nul}, 0,
                   {nulstr}, {asked}
            FROM {t["partners"]}
            WHERE status = '{PartnerStatus.ACTIVE.value}' AND exclusive_region_id {reg}
        ) x
    """
    # On PostgreSQL every asked name in the same statement, one blocking-key index probe each; SQLite has no
    # LATERAL: one small query per asked name.
    asked_from = "asked AS q CROSS JOIN LATERAL" if postgres else "(SELECT %(name)s AS name) AS q, "
    # On PostgreSQL the candidates come from the index of the names' words and pairs of words (_named_probe).

    def fuzzy(*, ordered: bool = False) -> str:
        windows_named = (
            _named_probe(table=t["windows"], column="key", where="active AND key_kind = 'name'",
                         columns="key_kind, partner_id, registration_id", ordered=ordered)
            if postgres
            else f"{t['windows']} WHERE active AND key_kind = 'name' AND {_similar_names('key')}"
        )  # fmt: skip
        reserved_named = (
            _named_probe(table=t["customers"], column="normalized_name", where="reserved_for_direct", columns="id",
                         ordered=ordered)
            if postgres
            else f"{t['customers']} WHERE reserved_for_direct AND {_similar_names('normalized_name')}"
        )  # fmt: skip
        return f"""
        SELECT * FROM (
            SELECT 'name', w.key_kind, w.key, w.partner_id, w.registration_id, {nul}, {nul}, 0, {nulstr}, q.name
            FROM {asked_from} (
                SELECT key_kind, key, partner_id, registration_id FROM {windows_named}
            ) w
        ) n
        UNION ALL
        SELECT * FROM (
            SELECT 'reserved_name', 'name', rn.normalized_name, {nul}, {nul}, {nul}, rn.id, 0, {nulstr}, q.name
            FROM {asked_from} (
                SELECT id, {"key AS " if postgres else ""}normalized_name FROM {reserved_named}
            ) rn
        ) rn
    """

    params = {
        "tax": _list_param(taxes),
        "dom": _list_param(domains),
        "regions": _list_param(regions),
        "names": _list_param(names),
        "ex": _list_param(int(pk) for pk in exclude_lead_ids),
        "limit": SOFT_CANDIDATE_LIMIT,
        "cutoff": settings.PRM_SOFT_MATCH_THRESHOLD,  # _one_word_cutoff
    }
    with connection.cursor() as cursor:
        if postgres:
            params.update(_asked_params(names))
            ids = ", ".join(f"CAST(%(w{i})s AS INT[])" for i in range(1, MOST_WORDS + 1))
            # Materialized: flattened, every use of a word's similar words would look them up again. One row (an
            # array, a word's similar words joined by chr(31)) read by position: joins confuse the planner's estimates.
            asked = f"""WITH alike AS MATERIALIZED (
                SELECT array_agg(array_to_string(ARRAY(
                    SELECT word FROM leads_nameword WHERE leads_name_word_blocks(word, true)
                    OPERATOR(pg_catalog.&&) leads_name_word_blocks(w, deep)), chr(31)) ORDER BY i) AS m
                FROM unnest(CAST(%(words)s AS TEXT[]), CAST(%(deep)s AS BOOLEAN[])) WITH ORDINALITY AS s(w, deep, i)
            ), near AS MATERIALIZED (
                SELECT name, string_to_array(runs, chr(31)) AS runs, n,
                       {", ".join(f"string_to_array((SELECT m FROM alike)[w{i}], chr(31)) AS m{i}" for i in range(1, MOST_WORDS + 1))}
                FROM unnest(CAST(%(names)s AS TEXT[]), CAST(%(runs)s AS TEXT[]), CAST(%(n)s AS INT[]), {ids})
                     AS q(name, runs, n, {", ".join(f"w{i}" for i in range(1, MOST_WORDS + 1))})
            ), asked AS MATERIALIZED (
                SELECT name, runs, n, {", ".join(f"m{i}" for i in range(1, MOST_WORDS + 1))}, {_pair_groups()},
                       string_to_array(name, ' ') AS name_words, m1 || m2 AS m12 FROM near)"""
            # The planner's estimate of a chunk's statement (a thousand probes) passes jit_above_cost, and compiling
            # it took longer than running it (1.8 of 3.1 s at 20,000 protections): planned without JIT, for the rest
            # of the transaction (short statements all; outside a transaction, one of its own). Sent with the
            # statement, in one round trip (every routing decision asks this rule). Likewise without parallel
            # workers: the deals' branch of a chunk got two (0.04 s of work), whose start cost more than they saved
            # on two cores the caller's own process shares.
            local = "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0;"
            with transaction.atomic(savepoint=False):
                cursor.execute(f"{local} {asked} {sql} UNION ALL {fuzzy()}" if names else f"{local} {sql}", params)
                rows = cursor.fetchall()
                counts = Counter((row[0], row[9]) for row in rows if row[0] in NAMED)
                if crowded := sorted({name for (_src, name), n in counts.items() if n > SOFT_CANDIDATE_LIMIT}):
                    cursor.execute(f"{local} {asked} {fuzzy(ordered=True)}", {**params, **_asked_params(crowded)})
                    rows = [row for row in rows if row[0] not in NAMED or row[9] not in crowded] + cursor.fetchall()
                return rows
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        fuzzy_one = fuzzy()
        for name in names:
            cursor.execute(fuzzy_one, {**params, "name": name, "like": f"{name_prefix(name)}%"})
            rows += cursor.fetchall()
        return rows


def registration_list(*, viewer, filters: dict | None = None) -> QuerySet[Registration]:
    """Registrations the viewer may see (partner staff: their own partner's), newest first."""
    filters = filters or {}
    qs = scope_for(
        Registration.objects.select_related("lead__customer", "partner", "submitted_by", "decided_by"), viewer
    )
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if partner := filters.get("partner"):
        qs = qs.filter(partner_id=partner) if str(partner).isdigit() else qs.none()
    if partner_name := filters.get("partner_name"):
        qs = qs.filter(partner__name__icontains=partner_name)
    if q := filters.get("q"):
        qs = qs.filter(Q(lead__title__icontains=q) | Q(lead__customer__name__icontains=q) | Q(lead__customer__tax_id=q))
    if str(days := filters.get("expiring", "")).isdigit():
        qs = registrations_expiring(qs=qs, days=int(days))
        return qs.order_by("protected_until", "id")
    return qs.order_by("-created_at", "-id")


def registrations_expiring(*, qs: QuerySet[Registration], days: int) -> QuerySet[Registration]:
    """Approved registrations of open deals whose protection ends within `days` (the cockpit's to-do and the
    filtered list it links to)."""
    now = timezone.now()
    return qs.filter(
        status=RegistrationStatus.APPROVED,
        protected_until__gt=now,
        protected_until__lte=now + timedelta(days=days),
        lead__stage__in=OPEN_STAGES,
    )


REVIEW_PAGE_SIZE = 25


def registration_review_queue(*, page=None) -> Page:
    """One page of pending registrations, oldest first, each with `matched` = the claims it collides with
    (registrations, named accounts, vendor leads with another partner, franchises) and `overdue` = its decision
    deadline (review_due, business hours) has passed.

    Vendor-only: the matched claims name the other partner. Six queries whatever the size; a page, because
    each registration renders as a large side-by-side card.
    """
    queue = (
        Registration.objects.filter(status=RegistrationStatus.PENDING_REVIEW)
        .select_related("lead__customer", "partner", "submitted_by")
        .order_by("created_at", "id")
    )
    page = Paginator(queue, REVIEW_PAGE_SIZE).get_page(page)
    pending = page.object_list = list(page.object_list)
    ids = {m.get("registration_id") for r in pending for m in r.matches if m.get("registration_id")}
    customer_ids = {m.get("customer_id") for r in pending for m in r.matches if m.get("customer_id")}
    others = Registration.objects.select_related("lead__customer", "partner").in_bulk(ids)
    reserved = Customer.objects.in_bulk(customer_ids)
    lead_ids = {m.get("lead_id") for r in pending for m in r.matches if m.get("kind") == "offer"}
    partner_ids = {m.get("partner_id") for r in pending for m in r.matches if m.get("kind") in ("offer", "territory")}
    leads = Lead.objects.in_bulk(lead_ids)
    partners = Partner.objects.in_bulk(partner_ids)
    now = timezone.now()
    for r in pending:
        r.overdue = r.review_due is not None and r.review_due <= now
        r.matched = [
            {
                **m,
                "registration": others.get(m.get("registration_id")),
                "customer": reserved.get(m.get("customer_id")),
                "lead": leads.get(m.get("lead_id")),
                "partner": partners.get(m.get("partner_id")),
            }
            for m in r.matches
        ]
    return page


def registration_matches(*, registration: Registration) -> list[dict]:
    """The registration's matches with the matched registrations loaded (vendor pages only: names partners)."""
    ids = {m.get("registration_id") for m in registration.matches if m.get("registration_id")}
    others = Registration.objects.select_related("lead__customer", "partner").in_bulk(ids)
    reserved = Customer.objects.in_bulk({m.get("customer_id") for m in registration.matches if m.get("customer_id")})
    return [
        {**m, "registration": others.get(m.get("registration_id")), "customer": reserved.get(m.get("customer_id"))}
        for m in registration.matches
    ]
