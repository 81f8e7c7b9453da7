"""Reads for step 3, deals registered: conflicts on a customer, registration lists and the review queue."""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
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

# Soft-match candidates fetched from SQL at most (the most similar first on PostgreSQL).
SOFT_CANDIDATE_LIMIT = 500


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
        return [asdict(m) for m in self.hard + self.soft + self.offered + self.territory]

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
    registration (and the background check of CRM-created deals), the availability check, disputes, offer
    acceptance and routing (many leads at once).

    A customer is claimed by
    - an active protection window of a partner on its tax id or domain (hard) or on a similar normalised name
      (soft: rapidfuzz token-set ratio ≥ PRM_SOFT_MATCH_THRESHOLD among the trigram-similar names), and by the
      vendor's named accounts (`reserved`);
    - a vendor lead for a customer with the same tax id, domain or normalised name that is offered to a partner
      (pending offer) or was accepted by / assigned to it and is still open ("offer");
    - the asking `partner`'s own open deals at that customer ("deal", in `own`);
    - an active franchise whose exclusive region is the customer's region ("territory").

    Claims of `partner` itself go to `own`, never to the other lists. Deals in `exclude_lead_ids` (the one being
    decided) are not claims. Fuzzy names only when one customer is asked about.
    """
    asker = getattr(partner, "pk", partner)
    norm = [
        ClaimQuery(
            tax_id=tax_id_canonical(q.tax_id),
            domain=domain_normalize(q.domain),
            name=customer_name_key(q.name),
            region_id=q.region_id,
        )
        for q in queries
    ]
    results = [CustomerClaims() for _q in norm]
    named = [q for q in norm if q.name]
    if len(named) > 1:
        raise ValueError("Names are matched for one customer at a time.")
    name = named[0].name if named else ""
    taxes = sorted({q.tax_id for q in norm if q.tax_id})
    domains = sorted({q.domain for q in norm if q.domain})
    regions = sorted({q.region_id for q in norm if q.region_id})
    prefix = name_prefix(name)
    if not (taxes or domains or prefix or regions):
        return results
    rows = _claim_rows(
        taxes=taxes, domains=domains, name=name, prefix=prefix, regions=regions, exclude_lead_ids=exclude_lead_ids
    )
    by_tax = {q.tax_id: [] for q in norm}
    by_domain = {q.domain: [] for q in norm}
    by_region = {q.region_id: [] for q in norm}
    for q, result in zip(norm, results):
        by_tax[q.tax_id].append(result)
        by_domain[q.domain].append(result)
        by_region[q.region_id].append(result)
    named_result = results[norm.index(named[0])] if named else None
    fuzzy: list[dict] = []
    for src, key_kind, key, partner_id, registration_id, lead_id, customer_id, routed, status in rows:
        reserved = src in ("reserved", "reserved_name")
        own = partner_id is not None and partner_id == asker
        match = {
            "key_kind": key_kind,
            "key": key,
            "partner_id": partner_id,
            "registration_id": registration_id,
            "customer_id": customer_id if reserved else None,
            "reserved": reserved,
            "lead_id": lead_id,
            "registration_status": status or "",
        }
        if src in ("name", "reserved_name"):
            fuzzy.append(match)
            continue
        if src == "territory":
            targets = by_region.get(int(key), [])
        elif key_kind == "tax_id":
            targets = by_tax.get(key, [])
        elif key_kind == "domain":
            targets = by_domain.get(key, [])
        else:  # a vendor lead's customer with the same normalised name
            targets = [named_result] if named_result else []
        for result in targets:
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
    if named_result is not None and fuzzy:
        # One holder is reported once: a hard match already covers its name.
        held = {m.registration_id or m.customer_id for m in named_result.hard + named_result.own if m.kind == "hard"}
        fuzzy = [m for m in fuzzy if (m["registration_id"] or m["customer_id"]) not in held]
        for _key, score, i in process.extract(
            name,
            [m["key"] for m in fuzzy],
            scorer=fuzz.token_set_ratio,
            score_cutoff=settings.PRM_SOFT_MATCH_THRESHOLD,
            limit=None,
        ):
            m = CustomerMatch(kind="soft", similarity=round(score, 1), **fuzzy[i])
            (named_result.own if m.partner_id is not None and m.partner_id == asker else named_result.soft).append(m)
    return results


def _among(param: str, *, negate: bool = False) -> str:
    """`IN` the list passed as the named parameter (an array on PostgreSQL, JSON for SQLite's json_each)."""
    if connection.vendor == "postgresql":
        return f"{'<> ALL' if negate else '= ANY'}(%({param})s)"
    return f"{'NOT IN' if negate else 'IN'} (SELECT value FROM json_each(%({param})s))"


def _list_param(values) -> list | str:
    values = list(values)
    return values if connection.vendor == "postgresql" else json.dumps(values)


def _similar_names(column: str) -> str:
    """The soft-match candidates among `column`: on PostgreSQL the names that contain %(name)s or a near copy of it
    (pg_trgm word similarity, `%%>`, served by the trigram index) and the names equal to a run of its words (%(runs)s,
    the name part of a longer name asked about), the most similar first, at most SOFT_CANDIDATE_LIMIT; elsewhere
    (the SQLite demo) the names with the same first word, %(like)s. Plain trigram similarity (`%%`) is not used: a
    short name shares a few trigrams with very many long ones, which the index can only recheck one by one."""
    if connection.vendor == "postgresql":
        return f"""%(name)s <> '' AND ({column} %%> %(name)s OR {column} = ANY(%(runs)s))
            ORDER BY similarity({column}, %(name)s) DESC LIMIT %(limit)s"""
    return f"%(like)s <> '' AND {column} LIKE %(like)s LIMIT %(limit)s"


def _word_runs(name: str, most: int = 8) -> list[str]:
    """Every run of consecutive words of a name key (its first `most` words)."""
    words = name.split()[:most]
    return [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)]


def _claim_rows(
    *, taxes: list[str], domains: list[str], name: str, prefix: str, regions: list[int], exclude_lead_ids
) -> list[tuple]:
    """Every candidate claim in one round trip (registration latency matters; routing asks for 500 leads at once).

    Rows: (source, key_kind, key, partner_id, registration_id, lead_id, customer_id, routed, registration status).
    Each branch is served by an index: the partial unique index on active windows, the customer tax id, domain and
    name indexes (then leads by customer, offers by lead), and for similar names the two trigram indexes (leads
    migration 0021; elsewhere the two prefix indexes, varchar_pattern_ops).
    """
    similar = _similar_names
    t = {
        "windows": ProtectionWindow._meta.db_table,
        "customers": Customer._meta.db_table,
        "leads": Lead._meta.db_table,
        "offers": Offer._meta.db_table,
        "registrations": Registration._meta.db_table,
        "partners": Partner._meta.db_table,
    }
    tax, dom, reg, ex = _among("tax"), _among("dom"), _among("regions"), _among("ex", negate=True)
    like = f"{prefix}%" if prefix else ""  # an empty key matches nothing (see the `<> ''` guards)
    stages = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    routed = ", ".join(f"'{s}'" for s in ("vendor", "import", "api"))
    nul, nulstr = "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR(20))"
    sql = f"""
        SELECT * FROM (
            SELECT 'window' AS src, key_kind, key, partner_id, registration_id, {nul} AS lead_id, {nul} AS cust,
                   0 AS routed, {nulstr} AS status
            FROM {t["windows"]}
            WHERE active AND ((key_kind = 'tax_id' AND key {tax}) OR (key_kind = 'domain' AND key {dom}))
        ) h
        UNION ALL
        SELECT * FROM (
            SELECT 'reserved', CASE WHEN tax_id {tax} THEN 'tax_id' ELSE 'domain' END,
                   CASE WHEN tax_id {tax} THEN tax_id ELSE domain END, {nul}, {nul}, {nul}, id, 0, {nulstr}
            FROM {t["customers"]}
            WHERE reserved_for_direct AND (tax_id {tax} OR domain {dom})
        ) r
        UNION ALL
        SELECT * FROM (
            SELECT 'lead',
                   CASE WHEN c.tax_id {tax} THEN 'tax_id' WHEN c.domain {dom} THEN 'domain' ELSE 'name' END,
                   CASE WHEN c.tax_id {tax} THEN c.tax_id WHEN c.domain {dom} THEN c.domain ELSE c.normalized_name END,
                   COALESCE(l.partner_id, o.partner_id), rg.id, l.id, c.id,
                   CASE WHEN o.id IS NOT NULL OR l.source IN ({routed}) THEN 1 ELSE 0 END, rg.status
            FROM {t["customers"]} c
            JOIN {t["leads"]} l ON l.customer_id = c.id
            LEFT JOIN {t["offers"]} o ON o.lead_id = l.id AND o.status = '{OfferStatus.PENDING.value}'
            LEFT JOIN {t["registrations"]} rg ON rg.lead_id = l.id
            WHERE (c.tax_id {tax} OR c.domain {dom} OR (%(name)s <> '' AND c.normalized_name = %(name)s))
              AND (o.id IS NOT NULL OR (l.partner_id IS NOT NULL AND l.stage IN ({stages})))
              AND l.id {ex} AND l.source <> '{LeadSource.DISPATCH.value}'
        ) d
        UNION ALL
        SELECT * FROM (
            SELECT 'territory', 'region', CAST(exclusive_region_id AS VARCHAR(20)), id, {nul}, {nul}, {nul}, 0,
                   {nulstr}
            FROM {t["partners"]}
            WHERE status = '{PartnerStatus.ACTIVE.value}' AND exclusive_region_id {reg}
        ) x
        UNION ALL
        SELECT * FROM (
            SELECT 'name', key_kind, key, partner_id, registration_id, {nul}, {nul}, 0, {nulstr}
            FROM {t["windows"]}
            WHERE active AND key_kind = 'name' AND {similar("key")}
        ) n
        UNION ALL
        SELECT * FROM (
            SELECT 'reserved_name', 'name', normalized_name, {nul}, {nul}, {nul}, id, 0, {nulstr}
            FROM {t["customers"]}
            WHERE reserved_for_direct AND {similar("normalized_name")}
        ) rn
    """
    params = {
        "tax": _list_param(taxes),
        "dom": _list_param(domains),
        "regions": _list_param(regions),
        "ex": _list_param(int(pk) for pk in exclude_lead_ids),
        "name": name,
        "like": like,
        "runs": _word_runs(name),
        "limit": SOFT_CANDIDATE_LIMIT,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


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
