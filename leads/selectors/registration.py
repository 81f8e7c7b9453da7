"""Reads for step 3, deals registered: conflicts on a customer, registration lists and the review queue."""

from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from rapidfuzz import fuzz, process

from leads.models import (
    OPEN_STAGES,
    Customer,
    ProtectionWindow,
    Registration,
    RegistrationStatus,
)
from leads.normalize import domain_normalize, name_normalize, name_prefix, tax_id_normalize
from prm.permissions import scope_for

# Soft-match candidates fetched from SQL at most; the prefix index keeps this list short in practice.
SOFT_CANDIDATE_LIMIT = 500


@dataclass(frozen=True)
class CustomerMatch:
    """One protected registration or vendor named account that the new customer collides with."""

    kind: str  # "hard" or "soft"
    key_kind: str  # "tax_id", "domain" or "name"
    key: str
    similarity: float
    partner_id: int | None = None
    registration_id: int | None = None
    customer_id: int | None = None
    reserved: bool = False  # a vendor named account (direct sales)


@dataclass
class CustomerConflicts:
    hard: list[CustomerMatch] = field(default_factory=list)
    soft: list[CustomerMatch] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.hard or self.soft)

    def as_json(self) -> list[dict]:
        return [asdict(m) for m in self.hard + self.soft]


def customer_conflicts(
    *, tax_id: str = "", domain: str = "", name: str = "", exclude_partner=None
) -> CustomerConflicts:
    """Who already holds this customer: active protections of partners and the vendor's named accounts.

    Hard: same tax id or company domain. Soft: normalised names at least PRM_SOFT_MATCH_THRESHOLD similar
    (rapidfuzz token-set ratio), among candidates narrowed in SQL to names starting with the same first word
    (prefix indexes on active name windows and on named accounts). Inputs may be raw; they are normalised
    here. The one implementation behind registration and the availability check.
    """
    tax_id, domain, name = tax_id_normalize(tax_id), domain_normalize(domain), name_normalize(name)
    prefix = name_prefix(name)
    result = CustomerConflicts()
    if not (tax_id or domain or prefix):
        return result
    rows = _conflict_candidates(
        tax_id=tax_id, domain=domain, prefix=prefix, exclude_partner_id=getattr(exclude_partner, "pk", -1)
    )
    names = []
    for src, key_kind, key, partner_id, ref_id in rows:
        reserved = src in ("reserved", "reserved_name")
        match = {
            "key_kind": key_kind,
            "key": key,
            "partner_id": partner_id,
            "registration_id": None if reserved else ref_id,
            "customer_id": ref_id if reserved else None,
            "reserved": reserved,
        }
        if src in ("window", "reserved"):
            result.hard.append(CustomerMatch(kind="hard", similarity=100.0, **match))
        else:
            names.append(match)
    # One holder is reported once: a hard match already covers its name.
    held = {m.registration_id for m in result.hard if m.registration_id} | {
        m.customer_id for m in result.hard if m.customer_id
    }
    names = [m for m in names if (m["registration_id"] or m["customer_id"]) not in held]
    for _key, score, i in process.extract(
        name,
        [m["key"] for m in names],
        scorer=fuzz.token_set_ratio,
        score_cutoff=settings.PRM_SOFT_MATCH_THRESHOLD,
        limit=None,
    ):
        result.soft.append(CustomerMatch(kind="soft", similarity=round(score, 1), **names[i]))
    return result


def _conflict_candidates(*, tax_id: str, domain: str, prefix: str, exclude_partner_id: int) -> list[tuple]:
    """All candidate rows in one round trip (the check runs on every registration; latency matters).

    Rows: (source, key_kind, key, partner_id, registration id or customer id). Each branch is served by an
    index: the partial unique index on active windows, the customer tax id/domain indexes, and the two
    prefix indexes (varchar_pattern_ops) for names.
    """
    windows, customers = ProtectionWindow._meta.db_table, Customer._meta.db_table
    like = f"{prefix}%" if prefix else ""  # an empty key matches nothing (see the `<> ''` guards)
    sql = f"""
        SELECT * FROM (
            SELECT 'window' AS src, key_kind, key, partner_id, registration_id AS ref FROM {windows}
            WHERE active AND partner_id <> %(ex)s
              AND ((key_kind = 'tax_id' AND key = %(tax)s) OR (key_kind = 'domain' AND key = %(dom)s))
              AND (%(tax)s || %(dom)s) <> ''
        ) h
        UNION ALL
        SELECT * FROM (
            SELECT 'reserved', CASE WHEN tax_id = %(tax)s THEN 'tax_id' ELSE 'domain' END, CASE WHEN tax_id = %(tax)s
                   THEN tax_id ELSE domain END, CAST(NULL AS BIGINT), id FROM {customers}
            WHERE reserved_for_direct AND ((%(tax)s <> '' AND tax_id = %(tax)s) OR (%(dom)s <> '' AND domain = %(dom)s))
        ) r
        UNION ALL
        SELECT * FROM (
            SELECT 'name', key_kind, key, partner_id, registration_id FROM {windows}
            WHERE active AND partner_id <> %(ex)s AND key_kind = 'name' AND %(like)s <> '' AND key LIKE %(like)s LIMIT %(limit)s
        ) n
        UNION ALL
        SELECT * FROM (
            SELECT 'reserved_name', 'name', normalized_name, CAST(NULL AS BIGINT), id FROM {customers}
            WHERE reserved_for_direct AND %(like)s <> '' AND normalized_name LIKE %(like)s LIMIT %(limit)s
        ) rn
    """
    params = {
        "tax": tax_id,
        "dom": domain,
        "like": like,
        "ex": exclude_partner_id,
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
    """One page of pending registrations, oldest first, each with `matched` = the registrations it collides with.

    Vendor-only: the matched registrations name the other partner. Four queries whatever the size; a page, because
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
    for r in pending:
        r.matched = [
            {
                **m,
                "registration": others.get(m.get("registration_id")),
                "customer": reserved.get(m.get("customer_id")),
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
