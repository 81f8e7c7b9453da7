"""Routing vendor leads to partners: eligibility, a data-configured score with smooth weighted round-robin,
offers with business-hour deadlines, accept/decline/expiry with automatic re-routing, and the manual queue.

Lock order everywhere: offer row → lead rows → partner rows (by id, all in one statement). Accept and expiry both
lock the offer and re-check its status, so a lead never gets two owners. Partner.open_load is kept by database
triggers (leads migration 0013), so a write that changes several partners' load locks those partners first.
"""

import bisect
import contextlib
import functools
import heapq
import json
import logging
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import (
    OPEN_STAGES,
    Customer,
    Lead,
    LeadKind,
    LeadSource,
    Offer,
    OfferStatus,
    RoutingCredit,
    RoutingDecision,
    RoutingPoolVersion,
    RoutingSlot,
    RoutingWeights,
    Stage,
)
from leads.selectors.registration import ClaimQuery, CustomerClaims, customers_claims
from partners.models import Partner, PartnerStatus, PartnerType, ProgramModel, SlaPolicy
from prm.bulk import gc_paused, objects_insert, write, writes_held
from prm.business_hours import business_deadline
from prm.models import NotificationKind, Role, User
from prm.selectors import channel_managers
from prm.services import Recipient, audit_record_many, connection_supports_skip_locked, notify_many, recipients
from prm.texts import N_, compose, compose_plural, dumps
from prm.webhooks import webhook_emit_many, webhook_subscriptions_any_sql

logger = logging.getLogger(__name__)

# Which partners may take which kind of lead: the partner field that decides, and the values it may have. The one
# statement of the rule: eligible_partners filters by it, the in-memory routing pool tests it.
KIND_FITS = {
    LeadKind.IMPLEMENTATION: ("program_model", (ProgramModel.FULL_CYCLE, ProgramModel.FRANCHISE)),
    LeadKind.LICENSE: ("program_model", (ProgramModel.DISTRIBUTOR, ProgramModel.RESELLER)),
    LeadKind.ONSITE_SERVICE: ("partner_type", (PartnerType.OPERATIONAL,)),
}
NEUTRAL = Decimal("0.5")
_ZERO, _ONE, _FOUR, _HUNDRED = Decimal(0), Decimal(1), Decimal(4), Decimal(100)  # built once: scored ~100x a decision
DEFAULT_SLA = SlaPolicy(
    name="built-in", accept_within_hours=Decimal("4"), first_contact_within_hours=Decimal("8"),
    working_hours_start=time(9), working_hours_end=time(18),
)  # fmt: skip


def max_failures() -> int:
    return int(getattr(settings, "PRM_ROUTING_MAX_FAILURES", 3))


# --- eligibility and score -------------------------------------------------------------------------------------


def open_routed_load() -> Coalesce:
    """Per partner: pending offers plus accepted routed leads still open (what lead_capacity limits).

    The definition of Partner.open_load, which database triggers keep equal to it (leads migration 0013); the
    router reads the column, tests/leads/test_routing_load.py compares the two.
    """
    pending = (
        Offer.objects.filter(partner=OuterRef("pk"), status=OfferStatus.PENDING)
        .order_by()
        .values("partner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    open_routed = (
        Lead.objects.filter(partner=OuterRef("pk"), stage__in=OPEN_STAGES, offered_at__isnull=False)
        .order_by()
        .values("partner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(pending, output_field=IntegerField()), Value(0)) + Coalesce(
        Subquery(open_routed, output_field=IntegerField()), Value(0)
    )


# The PostgreSQL triggers that keep Partner.open_load (leads migrations 0013 and 0028), by table.
OPEN_LOAD_TRIGGERS = (
    ("leads_offer", "partner_open_load_offer"),
    ("leads_offer", "partner_open_load_offer_insert"),
    ("leads_lead", "partner_open_load_lead"),
)


def partners_open_load_recount() -> int:
    """Set every partner's open_load from a full recount (after a bulk load; also a repair tool)."""
    return Partner.objects.update(open_load=open_routed_load())


@contextlib.contextmanager
def open_load_counting_paused():
    """For bulk loaders on several connections (the demo seed): the open_load triggers are off while loading and
    every counter is recounted once after. Row triggers in parallel loads would lock partner rows in no particular
    order (deadlocks) and cost one partner update per loaded row."""
    postgres = connection.vendor == "postgresql"
    if postgres:
        with connection.cursor() as cursor:
            for table, name in OPEN_LOAD_TRIGGERS:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
    try:
        yield
    finally:
        if postgres:
            with connection.cursor() as cursor:
                for table, name in OPEN_LOAD_TRIGGERS:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
            partners_open_load_recount()


# The offers by which a partner refused a lead: it is not offered that lead again (eligible_partners, and the
# router's own reads of the leads' inputs, _lead_inputs_sql and _leads_sql).
REFUSED = (OfferStatus.DECLINED, OfferStatus.EXPIRED)


def eligible_partners(*, lead: Lead, competency_ids: list[int] | None = None) -> QuerySet[Partner]:
    """One query: partners that may receive `lead`, annotated with everything the score needs.

    `competency_ids` overrides the lead's needed competencies (for a lead not saved yet).
    """
    qs = Partner.objects.filter(status=PartnerStatus.ACTIVE)
    qs = qs.filter(regions=lead.region_id) if lead.region_id else qs.none()
    field, allowed = KIND_FITS[lead.kind]
    qs = qs.filter(**{f"{field}__in": allowed})
    held = Partner.competencies.through.objects.filter(partner_id=OuterRef(OuterRef("pk"))).values("competency_id")
    if competency_ids is None:  # having ALL needed competencies = none of them missing
        needed = Lead.competencies.through.objects.filter(lead_id=lead.pk)
        qs = qs.exclude(Exists(needed.exclude(competency_id__in=held)))
    else:
        for competency_id in sorted(set(competency_ids)):
            qs = qs.filter(
                Exists(
                    Partner.competencies.through.objects.filter(partner_id=OuterRef("pk"), competency_id=competency_id)
                )
            )
    refused = Offer.objects.filter(lead_id=lead.pk, partner=OuterRef("pk"), status__in=REFUSED)
    return (
        qs.exclude(Exists(refused))
        .annotate(
            load=F("open_load"),
            allocation_weight=Coalesce(F("tier__allocation_weight"), Value(1)),
            win_rate=F("kpi_win_rate"),
            rating=F("kpi_rating"),
            credit=Coalesce(F("routing_credit__credit"), Value(0)),
        )
        .filter(open_load__lt=F("lead_capacity"))
        .order_by("pk")
    )


def routing_weights_current() -> RoutingWeights:
    return RoutingWeights.objects.filter(key="default").first() or RoutingWeights()


def _points(weights: RoutingWeights) -> tuple[int, int, int, int, int]:
    return (
        weights.tier_points, weights.sla_points, weights.win_rate_points, weights.rating_points,
        weights.spare_capacity_points,
    )  # fmt: skip


def _share(value, scale: Decimal, offset: Decimal = _ZERO) -> Decimal:
    """A KPI mapped to 0..1; missing data is neutral."""
    if value is None:
        return NEUTRAL
    return min(_ONE, max(_ZERO, (Decimal(value) - offset) / scale))


# The score's factors in the order the "Why this partner?" table shows them. Stored candidates are jsonb on
# PostgreSQL, which does not keep the keys' order, so the page must not rely on the dict's order.
SCORE_FACTORS = ("tier", "sla", "win_rate", "rating", "spare_capacity")


def _factor(raw, share: Decimal, points: int) -> tuple[dict, Decimal]:
    earned = share * points
    return {
        "value": None if raw is None else str(raw),
        "share": float(round(share, 3)),
        "points": float(round(earned, 2)),
    }, earned


# Scores are recomputed ~100x a decision from a few distinct inputs: both parts are cached by value (exact, since
# they are pure functions of their arguments; the string form of a Decimal is part of the key as it is shown).
@functools.lru_cache(maxsize=65536)
def _fixed_factors(allocation_weight: int, sla: str | None, win: str | None, rating: str | None, points: tuple):
    total = _ZERO
    out = {}
    for name, raw, share, pts in (
        ("tier", allocation_weight, Decimal(allocation_weight), points[0]),
        ("sla", sla, _share(sla, _HUNDRED), points[1]),
        ("win_rate", win, _share(win, _HUNDRED), points[2]),
        ("rating", rating, _share(rating, _FOUR, _ONE), points[3]),
    ):
        out[name], earned = _factor(raw, share, pts)
        total += earned
    return out, total


@functools.lru_cache(maxsize=65536)
def _spare_factor(load: int, capacity: int, points: int):
    spare = _ONE - Decimal(load) / Decimal(capacity) if capacity else _ZERO
    return _factor(f"{load}/{capacity}", max(_ZERO, spare), points)


def _str(value) -> str | None:
    return None if value is None else str(value)


def _weight(total: Decimal) -> int:
    return max(1, int(total.to_integral_value()))


def candidate_score(
    *, allocation_weight: int, sla_score, win_rate, rating, load: int, capacity: int, weights: RoutingWeights
) -> dict:
    """Readable score: every factor with its raw value, its 0..1 share and the points it earns.

    tier earns `tier_points` per unit of allocation weight; sla, win rate and rating their points times a 0..1
    share (missing: neutral 0.5); spare capacity its points times the free part of `lead_capacity`.
    """
    points = _points(weights)
    fixed, subtotal = _fixed_factors(allocation_weight, _str(sla_score), _str(win_rate), _str(rating), points)
    spare, earned = _spare_factor(load, capacity, points[4])
    total = subtotal + earned
    return {"factors": {**fixed, "spare_capacity": spare}, "weight": _weight(total)}


# The rotation: stride scheduling. Each partner has a turn (RoutingCredit.credit, 0 without a row); among the
# candidates the earliest turn wins (ties: lowest id) and its turn moves back by TURN_SCALE / its weight, so over
# many decisions each partner wins in proportion to its weight, interleaved. Only the winner's turn changes, so a
# decision reads, locks and writes a bounded shortlist of the earliest turns (SHORTLIST), not every candidate.
TURN_SCALE = 1_000_000
SHORTLIST = 16
ROUNDS = 6  # skip-locked rounds, each asking twice as far, before a router waits for the rows another holds
# Batches routing at once share a region's partners out by class (id mod LANES) instead of reaching past each
# other's locked rows: see _lane_classes.
LANES = 12  # divisible by 2, 3, 4 and 6: that many batches side by side get equal shares
LANE_EPOCH = 60  # seconds: the classes move round the batches this often, so none stays with one router
LANE_MIN = 2 * SHORTLIST  # smaller lists keep one rotation of all their partners
_LANE_LOCK = 0x524F_5554  # "ROUT": first key of the advisory locks that hold a lane


def _stride(weight: int) -> int:
    return TURN_SCALE // max(1, weight)


def stride_pick(candidates, turns: dict[int, int]) -> int:
    """Stride scheduling over (id, weight) pairs: returns the winner, moving its turn in `turns` (missing: 0).

    A winner far ahead of the rest (it was full, or not eligible for a while) is first brought up to the
    runner-up's turn less the longest stride among the candidates, so it wins a few times in a row at most, not
    until it has made up all the time it was away.
    """
    order = sorted(candidates, key=lambda c: (turns.get(c[0], 0), c[0]))
    if not order:
        raise ValueError("no candidates")
    winner, weight = order[0]
    turn = turns.get(winner, 0)
    if len(order) > 1:
        turn = max(turn, turns.get(order[1][0], 0) - max(_stride(w) for _pk, w in order))
    turns[winner] = turn + _stride(weight)
    return winner


# --- the stored explanation ------------------------------------------------------------------------------------
#
# A decision stores the score inputs of its shortlist, not the computed factors: one short text row per shortlisted
# candidate, "partner_id allocation_weight sla win_rate rating load capacity turn_before" ("-" for a missing KPI),
# rows joined by ";", and how many more candidates were eligible ("more"; their turns were all later). Version 3
# is the stride rotation; version 2 (every candidate, smooth weighted round-robin credits) is still read.
# leads.selectors.routing.decision_candidates recomputes the factors, points and weights with candidate_score
# from these inputs and the weights in force, which are stored with the decision.

COMPACT_COLUMNS = "partner_id allocation_weight sla win_rate rating load capacity credit"


def _compact(*, points: tuple, rows: list[str], more: int, lane: list[int] | None = None) -> dict:
    """`lane`: the classes of partners (id mod LANES) the decision was made among, beside other routers."""
    out = {"v": 3, "points": list(points), "columns": COMPACT_COLUMNS, "rows": ";".join(rows), "more": more}
    if lane is not None:
        out["lane"] = lane
    return out


def compact_rows(stored: dict) -> list[tuple]:
    """The candidates of a compact decision as (partner_id, allocation_weight, sla, win_rate, rating, load,
    capacity, credit_before) with Decimals or None for the KPIs."""
    out = []
    for row in filter(None, stored["rows"].split(";")):
        pk, alloc, sla, win, rating, load, capacity, credit = row.split(" ")
        kpis = (None if v == "-" else Decimal(v) for v in (sla, win, rating))
        out.append((int(pk), int(alloc), *kpis, int(load), int(capacity), int(credit)))
    return out


def _row_prefix(c: "Candidate") -> str:
    sla, win, rating = ("-" if v is None else v for v in (c.sla_score, c.win_rate, c.rating))
    return f"{c.pk} {c.allocation_weight} {sla} {win} {rating}"


# --- the router: set-based reads, bulk writes ------------------------------------------------------------------
#
# `eligible_partners` above is the readable ORM statement of the rules (the views and tests use it). The router runs
# the same rules as two hand-written statements for any number of leads, built once per process: which partners
# fit each lead (region, kind, competencies, no refusal), then the union of those partners locked in id order with
# their score inputs and what the offer needs (SLA policy, home time zone and calendar). The score, the rotation
# and the capacity that fills up as leads are offered are then played through in memory, lead after lead, exactly
# as routing them one by one would. tests/leads/test_routing_fast_path.py keeps the statements and the ORM in
# agreement; tests/leads/test_routing_batch.py checks a batch against one-by-one routing.


@dataclass(slots=True)
class Candidate:
    pk: int
    allocation_weight: int
    sla_score: Decimal | None
    win_rate: Decimal | None
    rating: Decimal | None
    load: int
    capacity: int
    country: str  # the partner's, used when it has no home region
    tz: str | None
    region_country: str | None
    subdivision: str | None
    accept_within_hours: Decimal | None  # None: no SLA policy exists at all → DEFAULT_SLA
    work_start: time | None
    work_end: time | None
    credit: int = 0


def _decimal(value, places: int) -> Decimal | None:
    """Raw cursors give floats on SQLite; the ORM would give Decimals quantized to the field (same str() in JSON)."""
    if value is None or isinstance(value, Decimal):  # PostgreSQL already gives the column's scale
        return value
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def _time(value) -> time | None:
    return time.fromisoformat(value) if isinstance(value, str) else value


def _in(values) -> str:
    """An SQL list of code-defined choice values (never user input), inlined so the statement stays constant."""
    assert all(str(v).isidentifier() for v in values), values
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _tables() -> dict[str, str]:
    t = {m.__name__: m._meta.db_table for m in (Partner, Offer, Lead, SlaPolicy, RoutingCredit)}
    t["regions"] = Partner.regions.through._meta.db_table
    t["partner_comps"] = Partner.competencies.through._meta.db_table
    t["lead_comps"] = Lead.competencies.through._meta.db_table
    t["Tier"] = Partner._meta.get_field("tier").related_model._meta.db_table
    t["Region"] = Partner._meta.get_field("home_region").related_model._meta.db_table
    return t


# --- the routing pool: who fits which leads, kept in memory -------------------------------------------------
#
# Which active partners serve a region, which kinds of lead their program model or type allows, and which
# competencies they hold change rarely; load, credits and KPIs change with every decision and are read from the
# database under the lock. Each process keeps the former as a RoutingPool and reloads it only when the pool's
# version number (database triggers, leads migration 0014) differs from the one it was built at.


@dataclass(frozen=True, slots=True)
class RoutingPool:
    version: int | None
    weights: RoutingWeights
    members: dict[tuple[int, str], tuple[list[int], list[int]]]  # (region, kind) → partner ids, their competency bits
    bits: dict[int, int]  # competency id → its bit
    sizes: dict[int, int]  # region id → its active partners (how many of a region's rows a list may expect)
    # (region, kind, competency mask) → the fitting ids and their set, built once per pool: a large region's
    # list is thousands of ids, so a decision must not rebuild it
    fitting: dict = field(default_factory=dict)
    fitting_sets: dict = field(default_factory=dict)  # id of such a list → (the list, its set)

    def fits(self, *, region_id: int | None, kind: str, needs, refused=()) -> list[int]:
        """Ids of the partners that may take a lead of `kind` in the region needing `needs` (capacity aside).
        The list is shared: callers must not change it."""
        mask = 0
        for competency_id in needs:
            if competency_id not in self.bits:  # nobody in the pool holds it
                return []
            mask |= self.bits[competency_id]
        key = (region_id, kind, mask)
        if key not in self.fitting:
            ids, helds = self.members.get((region_id, kind), ((), ()))
            if not mask:
                fit, fit_set = ids, frozenset(ids)
            else:  # the partners holding each needed competency, intersected (each set built once per pool)
                holding = []
                for bit in (1 << i for i in range(mask.bit_length()) if mask >> i & 1):
                    if ("bit", region_id, kind, bit) not in self.fitting:
                        self.fitting["bit", region_id, kind, bit] = frozenset(
                            [pk for pk, held in zip(ids, helds) if held & bit]
                        )
                    holding.append(self.fitting["bit", region_id, kind, bit])
                fit_set = holding[0].intersection(*holding[1:])
                fit = sorted(fit_set)
            self.fitting[key] = (fit, fit_set)
            self.fitting_sets[id(fit)] = self.fitting[key]
        fit, fit_set = self.fitting[key]
        if refused and not fit_set.isdisjoint(refused):
            return [pk for pk in fit if pk not in refused]
        return fit

    def as_set(self, ids: list[int]) -> frozenset[int]:
        """The set of a list `fits` returned: kept with the list when it is the pool's own."""
        fit, fit_set = self.fitting_sets.get(id(ids), (None, None))
        return fit_set if fit is ids else frozenset(ids)


_pool: RoutingPool | None = None


def routing_pool(*, version: int | None) -> RoutingPool:
    """The pool at `version`: this process's copy, or a fresh one (three queries) when the version moved on.

    With no version row (a test database just flushed) nothing is kept."""
    global _pool
    if _pool is not None and version is not None and _pool.version == version:
        return _pool
    active = Partner.objects.filter(status=PartnerStatus.ACTIVE)
    kinds = {  # partner id → the kinds of lead it may take (KIND_FITS)
        row["pk"]: [kind for kind, (field, allowed) in KIND_FITS.items() if row[field] in allowed]
        for row in active.values("pk", "program_model", "partner_type")
    }
    bits: dict[int, int] = {}
    held: dict[int, int] = {}
    for pk, competency_id in Partner.competencies.through.objects.filter(partner__in=active).values_list(
        "partner_id", "competency_id"
    ):
        bit = bits.setdefault(competency_id, 1 << len(bits))
        held[pk] = held.get(pk, 0) | bit
    members: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
    sizes: dict[int, int] = {}
    for pk, region_id in (
        Partner.regions.through.objects.filter(partner__in=active)
        .order_by("partner_id")
        .values_list("partner_id", "region_id")
    ):
        sizes[region_id] = sizes.get(region_id, 0) + 1
        for kind in kinds.get(pk, ()):
            ids, helds = members.setdefault((region_id, kind), ([], []))
            ids.append(pk)
            helds.append(held.get(pk, 0))
    pool = RoutingPool(version=version, weights=routing_weights_current(), members=members, bits=bits, sizes=sizes)
    if version is not None:
        _pool = pool
    return pool


@functools.cache
def _lead_inputs_sql(*, postgres: bool) -> str:
    """The pool's version, whether any webhook subscription is active, each lead's needed competencies and the
    partners that refused it, in one round trip."""
    t = _tables()
    leads = _among("leads", postgres=postgres)
    refused = _in(REFUSED)
    return f"""
        SELECT 0, number, NULL FROM {RoutingPoolVersion._meta.db_table}
        UNION ALL SELECT 3, ({webhook_subscriptions_any_sql()}), CAST(NULL AS BIGINT)
        UNION ALL SELECT 1, lc.lead_id, lc.competency_id FROM {t["lead_comps"]} lc WHERE lc.lead_id {leads}
        UNION ALL SELECT 2, o.lead_id, o.partner_id FROM {t["Offer"]} o WHERE o.lead_id {leads} AND o.status IN {refused}
    """


_INPUTS = ("routing_needs", "routing_refused", "routing_pool_version", "routing_webhooks")  # see _leads_sql


def _inputs_taken(leads: list[Lead]) -> dict | None:
    """The routing inputs _leads_locked read with the leads (None if some lead came without them), taken off the
    objects, so that none outlives the routing of the transaction that read it."""
    taken = [tuple(lead.__dict__.pop(name, None) for name in _INPUTS) for lead in leads]
    if not leads or any(needs is None for needs, *_rest in taken):
        return None
    return {
        "needs": {lead.pk: needs for lead, (needs, *_rest) in zip(leads, taken)},
        "refused": {lead.pk: set(refused) for lead, (_n, refused, *_rest) in zip(leads, taken)},
        "version": taken[0][2],
        "webhooks": bool(taken[0][3]),
    }


def _eligible(*, leads: list[Lead], read: dict | None = None) -> tuple[RoutingPool, dict[int, list[int]], bool]:
    """The pool, lead id → ids of the partners that fit it (capacity aside), ascending, and whether any webhook
    subscription is active (read in the same round trip, for the offers' webhooks). `read`: the leads' inputs as
    _inputs_taken gives them (None: read here)."""
    if read is not None:
        return _fitting(leads=leads, **read)
    needs: dict[int, list[int]] = {}
    refused: dict[int, set[int]] = {}
    version, webhooks = None, True
    with connection.cursor() as cursor:
        cursor.execute(
            _lead_inputs_sql(postgres=connection.vendor == "postgresql"),
            {"leads": _ids_param(lead.pk for lead in leads)},
        )
        for part, a, b in cursor.fetchall():
            if part == 0:
                version = a
            elif part == 3:
                webhooks = bool(a)
            elif part == 1:
                needs.setdefault(a, []).append(b)
            else:
                refused.setdefault(a, set()).add(b)
    return _fitting(leads=leads, needs=needs, refused=refused, version=version, webhooks=webhooks)


def _fitting(
    *, leads: list[Lead], needs: dict, refused: dict, version: int | None, webhooks: bool
) -> tuple[RoutingPool, dict[int, list[int]], bool]:
    """_eligible from the leads' inputs: needed competencies and refusals by lead id, the pool's version."""
    pool = routing_pool(version=version)
    out, same = {}, {}
    for lead in leads:
        need, refusal = needs.get(lead.pk, ()), refused.get(lead.pk, ())
        key = (lead.region_id, lead.kind, frozenset(need), frozenset(refusal))
        if key not in same:  # leads with the same inputs share one list (the router works per list)
            same[key] = pool.fits(region_id=lead.region_id, kind=lead.kind, needs=need, refused=refusal)
        if ids := same[key]:
            out[lead.pk] = ids
    return pool, out, webhooks


@functools.cache
def _partners_sql(*, postgres: bool, lock: str) -> str:
    """Partners by id with room left, locked in id order, with their score inputs and offer settings."""
    t = _tables()
    ids = _among("ids", postgres=postgres)
    return f"""
        SELECT p.id, COALESCE(t.allocation_weight, 1), p.sla_score, p.kpi_win_rate, p.kpi_rating,
               p.open_load, p.lead_capacity, p.country, r.timezone, r.country, r.subdivision,
               s.accept_within_hours, s.working_hours_start, s.working_hours_end
        FROM {t["Partner"]} p
        LEFT JOIN {t["Tier"]} t ON t.id = p.tier_id
        LEFT JOIN {t["Region"]} r ON r.id = p.home_region_id
        LEFT JOIN {t["SlaPolicy"]} s ON s.id = COALESCE(p.sla_policy_id, (SELECT MIN(id) FROM {t["SlaPolicy"]}))
        WHERE p.id {ids} AND p.open_load < p.lead_capacity AND p.status IN {_in([PartnerStatus.ACTIVE])}
        ORDER BY p.id
        {lock}
    """


def _among(param: str, *, postgres: bool) -> str:
    """`IN` the list of ids passed as the named parameter (see _ids_param)."""
    return f"= ANY(%({param})s::bigint[])" if postgres else f"IN (SELECT value FROM json_each(%({param})s))"


def _ids_param(ids) -> str:
    """Ids as one parameter: an array literal on PostgreSQL (cast to bigint[] in the statement: the server parses
    '{1,2,3}' far faster than psycopg2's ARRAY[1,2,3]), JSON for SQLite's json_each."""
    ids = list(ids)
    return "{" + ",".join(map(str, ids)) + "}" if connection.vendor == "postgresql" else json.dumps(ids)


def _partners_locked(ids, *, skip: bool = False) -> dict[int, Candidate]:
    """The partners among `ids` with room left, locked in id order (no deadlocks between routers); with `skip`,
    rows another transaction holds are left out instead of waited for."""
    if not ids:
        return {}
    lock = "FOR NO KEY UPDATE OF p" if connection.features.has_select_for_update_of else ""
    if lock and skip:
        lock += " SKIP LOCKED"
    sql = _partners_sql(postgres=connection.vendor == "postgresql", lock=lock)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": _ids_param(sorted(ids))})
        rows = cursor.fetchall()
        if connection.vendor == "postgresql":  # the driver already gives Decimals and times
            out = {row[0]: Candidate(*row) for row in rows}
        else:
            out = {
                pk: Candidate(
                    pk, alloc, _decimal(sla, 2), _decimal(win, 2), _decimal(rating, 2), load, capacity, country, tz,
                    region_country, subdivision, _decimal(hours, 2), _time(start), _time(end),
                )  # fmt: skip
                for (pk, alloc, sla, win, rating, load, capacity, country, tz, region_country, subdivision, hours,
                     start, end) in rows
            }  # fmt: skip
        # Credits in a statement of their own, after the lock: its snapshot sees what a router we waited for
        # committed (a join in the locking statement would give the credit from before the wait).
        if out:
            cursor.execute(
                f"SELECT partner_id, credit FROM {RoutingCredit._meta.db_table} "
                f"WHERE partner_id {_among('ids', postgres=connection.vendor == 'postgresql')}",
                {"ids": _ids_param(out)},
            )
            for pk, credit in cursor.fetchall():
                out[pk].credit = credit
    return out


def partners_lock(*, ids) -> None:
    """Lock partner rows in id order before a write whose triggers touch several partners' open_load."""
    ids = sorted({pk for pk in ids if pk})
    if ids and connection.features.has_select_for_update:
        list(Partner.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))


def lead_partners_lock(*, lead: Lead, also: int | None = None) -> None:
    """Lock a lead's candidates (and partner `also`) in id order, before re-routing it.

    All its candidates, not only the shortlist re-routing will read: the shortlist is chosen by turns that other
    routers may move meanwhile, and a partner locked later out of id order could deadlock with them. Re-routing
    (a decline or an expiry) is rare next to routing, which locks only the shortlist."""
    partners_lock(ids=[also, *_eligible(leads=[lead])[1].get(lead.pk, [])])


def _candidates_locked(*, lead: Lead) -> list[Candidate]:
    """Eligible partners of one lead with their score inputs and offer settings, locked in id order."""
    return list(_partners_locked(_eligible(leads=[lead])[1].get(lead.pk, [])).values())


def _credits_save(credits: dict[int, int]) -> None:
    """Write the candidates' new credits in one statement (their partner rows are already locked by the caller)."""
    if not credits:
        return
    if connection.vendor == "postgresql":  # one short statement whatever the number of candidates (held: _route)
        write(
            f"INSERT INTO {RoutingCredit._meta.db_table} (partner_id, credit) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[]) "
            "ON CONFLICT (partner_id) DO UPDATE SET credit = EXCLUDED.credit",
            [_ids_param(credits), _ids_param(credits.values())],
        )
    else:
        RoutingCredit.objects.bulk_create(
            [RoutingCredit(partner_id=pk, credit=credit) for pk, credit in credits.items()],
            update_conflicts=True, unique_fields=["partner"], update_fields=["credit"],
        )  # fmt: skip


def _routable(lead: Lead) -> str:
    """Why `lead` cannot be routed now ("" if it can)."""
    if lead.stage not in (Stage.NEW, Stage.OFFERED, Stage.QUEUE) or lead.partner_id:
        return _("This lead already has a partner.")
    if lead.has_pending:
        return _("This lead already has an open offer.")
    return ""


@functools.cache
def _leads_sql(*, postgres: bool, lock: str) -> str:
    """Leads by id with whether each has an open offer and their customer's tax id and domain (what the claims
    rule asks by), in id order (locked when `lock` says so).

    On PostgreSQL a statement of its own locks them first, in the same round trip, and the read after it has a
    snapshot of its own: it sees what a transaction it waited for committed, and so do the routing inputs it
    reads with the leads (_lead_inputs_sql's, as columns: see _eligible), which took a round trip of their own."""
    t = _tables()
    ids = _among("ids", postgres=postgres)
    inputs = ""
    if postgres:
        refused = _in(REFUSED)
        inputs = f""",
            ARRAY(SELECT lc.competency_id FROM {t["lead_comps"]} lc WHERE lc.lead_id = l.id) AS routing_needs,
            ARRAY(SELECT o.partner_id FROM {t["Offer"]} o WHERE o.lead_id = l.id AND o.status IN {refused})
                AS routing_refused,
            (SELECT number FROM {RoutingPoolVersion._meta.db_table}) AS routing_pool_version,
            ({webhook_subscriptions_any_sql()}) AS routing_webhooks"""
    read = f"""
        SELECT l.*, EXISTS (
            SELECT 1 FROM {t["Offer"]} o WHERE o.lead_id = l.id AND o.status IN {_in([OfferStatus.PENDING])}
        ) AS has_pending, c.tax_id AS customer_keys_tax_id, c.domain AS customer_keys_domain{inputs}
        FROM {t["Lead"]} l LEFT JOIN {Customer._meta.db_table} c ON c.id = l.customer_id
        WHERE l.id {ids} ORDER BY l.id"""
    if postgres and lock:
        return f"SELECT 1 FROM {t['Lead']} WHERE id {ids} ORDER BY id {lock}; {read}"
    return f"{read} {lock}"


def _leads_locked(ids) -> dict[int, Lead]:
    """The leads locked in id order, each knowing whether it has an open offer and its customer's keys, and on
    PostgreSQL its routing inputs (one round trip, no ORM query building: this is on the path of every single
    decision)."""
    if connection.vendor == "postgresql":
        lock = "FOR UPDATE"
    else:
        lock = "FOR UPDATE OF l" if connection.features.has_select_for_update_of else ""
    sql = _leads_sql(postgres=connection.vendor == "postgresql", lock=lock)
    return {lead.pk: lead for lead in Lead.objects.raw(sql, {"ids": _ids_param(ids)})}


def lead_route(*, lead: Lead, actor: User | None = None, retry: bool = False) -> RoutingDecision:
    """Offer the lead to the best eligible partner, or put it in the channel-manager queue.

    `retry` (a channel manager sending a queued lead round again) starts the failure count afresh.

    The candidates' rows are locked in id order (no deadlocks between routers) and their round-robin credits
    read under the lock, so concurrent routers share one consistent rotation.
    """
    with transaction.atomic():
        lead = _leads_locked([lead.pk])[lead.pk]
        if problem := _routable(lead):
            raise ValidationError(problem)
        if retry and lead.route_failures:  # at 0 already the write would change nothing (_route sets updated_at)
            lead.route_failures = 0
            lead.save(update_fields=["route_failures", "updated_at"])
        return _route(leads=[lead], actor=actor)[0]


def leads_route_batch(
    *, leads, actor: User | None = None, inserted: bool = False, save_leads: bool = True
) -> list[RoutingDecision]:
    """Route many leads in one transaction, in the given order, with the decisions lead_route would make one by
    one. Leads that cannot be routed any more (a partner or an open offer meanwhile) are skipped.

    `inserted`: the leads were inserted by the caller's open transaction (a CSV import's chunk), so no one else can
    see them, offer them or lock them: they are routed as given, without reading and locking them again.
    `save_leads=False` (with `inserted`): the leads are not in the table yet (their ids reserved, their competencies
    written); routing sets their stage and times on the objects only and the caller inserts them afterwards, in
    the same transaction, so each lead is written once, in its routed state."""
    if not (inserted or save_leads):
        raise ValueError("save_leads=False is for leads the caller inserts (inserted=True)")
    if inserted:
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("leads_route_batch(inserted=True) must run in the transaction that inserted the leads")
        for lead in leads:
            lead.has_pending = False
        with gc_paused(), transaction.atomic():
            return _route(leads=[lead for lead in leads if not _routable(lead)], actor=actor, save_leads=save_leads)
    order = list(dict.fromkeys(lead.pk for lead in leads))
    with gc_paused(), transaction.atomic():  # a batch's decisions, offers and rows are thousands of objects
        locked = _leads_locked(order)
        return _route(leads=[locked[pk] for pk in order if pk in locked and not _routable(locked[pk])], actor=actor)


def leads_route_new(*, batch: int = 500) -> int:
    """Route leads left in stage NEW (an import or a reclaim whose routing failed), oldest first, in batches.

    Idempotent and safe with several workers: each batch claims its leads with SKIP LOCKED.
    """
    done = 0
    while True:
        with transaction.atomic():
            qs = Lead.objects.filter(stage=Stage.NEW, partner__isnull=True).order_by("pk")
            if connection_supports_skip_locked():
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            claimed = list(qs[:batch])
            done += len(leads_route_batch(leads=claimed))
        if len(claimed) < batch:
            return done


class RoutingRule:
    """Rules stored on routing decisions."""

    SCORE = "score_swrr"
    PROTECTED_CUSTOMER = "protected_customer"  # only the partner that protects the customer
    EXCLUSIVE_TERRITORY = "exclusive_territory"  # only the franchise whose exclusive region it is
    NO_ELIGIBLE = "no_eligible_partner"
    MAX_FAILURES = "max_failures"


def _leads_claims(leads: list[Lead]) -> dict[int, CustomerClaims]:
    """Who claims each lead's customer (the one claims rule, asked for the whole batch in two queries)."""
    leads = [lead for lead in leads if lead.source != LeadSource.DISPATCH]  # work orders claim nothing
    if not leads:
        return {}
    keys = {  # read with the leads by _leads_locked, else here
        lead.customer_id: (lead.customer_keys_tax_id, lead.customer_keys_domain)
        for lead in leads
        if hasattr(lead, "customer_keys_tax_id")
    }
    if missing := {lead.customer_id for lead in leads} - keys.keys():
        keys.update(
            (pk, (tax_id, domain))
            for pk, tax_id, domain in Customer.objects.filter(pk__in=missing).values_list("pk", "tax_id", "domain")
        )
    queries = [
        ClaimQuery(tax_id=keys[lead.customer_id][0], domain=keys[lead.customer_id][1], region_id=lead.region_id)
        for lead in leads
    ]
    claims = customers_claims(queries=queries, exclude_lead_ids=[lead.pk for lead in leads])
    return {lead.pk: c for lead, c in zip(leads, claims)}


def _claimed_candidates(candidates: set[int], claims: CustomerClaims | None) -> tuple[set[int], str]:
    """The candidates the claims on the customer leave, and the rule that narrowed them (RoutingRule.SCORE if
    none did): a protected customer's lead goes only to its protector; a lead in a franchise's exclusive region
    only to that franchise while it is eligible (has room and fits the lead), else to everyone eligible."""
    if claims is None:
        return candidates, RoutingRule.SCORE
    protectors = {m.partner_id for m in claims.hard if not m.reserved}
    if protectors:
        return candidates & protectors, RoutingRule.PROTECTED_CUSTOMER
    exclusive = candidates & {m.partner_id for m in claims.territory}
    if exclusive:
        return exclusive, RoutingRule.EXCLUSIVE_TERRITORY
    return candidates, RoutingRule.SCORE


@functools.cache
def _walk_sql(*, postgres: bool, lane: bool = False) -> str:
    """One page of a region's partners with room, earliest turn first, after a given (turn, id): on PostgreSQL
    from the partial index on RoutingSlot (rows read = the page, whatever the region's size; with `lane`, only
    the partners of the lane's classes: twice the page's rows read with two lanes); on SQLite (no triggers keep
    the slots, no lanes) the same order by a join."""
    t = _tables()
    if postgres:
        return f"""
            SELECT credit, partner_id FROM {RoutingSlot._meta.db_table}
            WHERE region_id = %(region)s AND room AND (credit, partner_id) > (%(turn)s, %(pk)s)
              {f"AND partner_id %% {LANES} = ANY(%(classes)s)" if lane else ""}
            ORDER BY credit, partner_id LIMIT %(n)s
        """
    return f"""
        SELECT COALESCE(c.credit, 0) AS turn, p.id FROM {t["regions"]} pr
        JOIN {t["Partner"]} p ON p.id = pr.partner_id LEFT JOIN {t["RoutingCredit"]} c ON c.partner_id = p.id
        WHERE pr.region_id = %(region)s AND p.status IN {_in([PartnerStatus.ACTIVE])} AND p.open_load < p.lead_capacity
          AND (COALESCE(c.credit, 0) > %(turn)s OR (COALESCE(c.credit, 0) = %(turn)s AND p.id > %(pk)s))
        ORDER BY turn, p.id LIMIT %(n)s
    """


_BEFORE_ALL = (-(2**63), 0)  # a (turn, id) before every partner's


class _RegionTurns:
    """A region's partners with room in turn order (as read, without a lock), read in pages as far as needed;
    only those of the lane's `classes` when the batch routes in a lane (_lane_classes)."""

    __slots__ = ("region_id", "classes", "rows", "done")

    def __init__(self, region_id: int, classes: list[int] | None = None):
        self.region_id, self.classes, self.rows, self.done = region_id, classes, [], False  # rows: (turn, id)

    def read(self, n: int) -> None:
        turn, pk = self.rows[-1] if self.rows else _BEFORE_ALL
        with connection.cursor() as cursor:
            cursor.execute(
                _walk_sql(postgres=connection.vendor == "postgresql", lane=self.classes is not None),
                {"region": self.region_id, "turn": turn, "pk": pk, "n": n, "classes": self.classes},
            )
            page = cursor.fetchall()
        self.rows.extend(page)
        self.done = len(page) < n


class _Shortlists:
    """One list of eligible partners (leads with the same region, kind, competencies and refusals share it): its
    members with room in turn order, read from its region's pages as far as its decisions need (kind,
    competencies and refusals are tested in memory against the list), and how many of them were asked to lock.

    Everything with room up to `edge` (the last one asked for) was asked for, so the earliest turns among the
    locked ones are the list's earliest turns as long as they end before `edge` (see `exact`).

    In a lane (_lane_classes) the region's pages hold only the lane's classes of partners; `wider` then reads all
    of them, for a list whose members of the lane have no room left (see `widen`)."""

    __slots__ = ("ids", "region", "wider", "density", "order", "scanned", "asked")

    def __init__(self, ids: frozenset[int], region: _RegionTurns, region_size: int, wider: _RegionTurns | None):
        self.ids, self.region, self.wider = ids, region, wider
        self.density = max(len(ids) / max(region_size, 1), 0.001)  # share of the region's rows that fit the list
        self.order: list[tuple[int, int]] = []  # (turn, id) of members with room, as read
        self.scanned = 0  # rows of the region looked at
        self.asked = 0  # members asked to lock: order[:asked]

    def widen(self) -> bool:
        """Read the list from all classes of partners from now on (False: it already does)."""
        if self.wider is None:
            return False
        self.region, self.wider, self.order, self.scanned, self.asked = self.wider, None, [], 0, 0
        return True

    def earliest(self, n: int) -> list[tuple[int, int]]:
        """The list's first `n` members with room (fewer when the region has no more)."""
        rows = self.region.rows
        while len(self.order) < n:
            if self.scanned == len(rows):
                if self.region.done:
                    break
                self.region.read(min(5000, max(64, int((n - len(self.order)) / self.density * 2) + 16)))
            self.order.extend(row for row in rows[self.scanned :] if row[1] in self.ids)
            self.scanned = len(rows)
        return self.order[:n]

    def ask(self, n: int) -> list[int]:
        """Ids of the members up to the `n`th not asked for yet; `n` becomes the asked count."""
        new = [pk for _turn, pk in self.earliest(n)[self.asked :]]
        self.asked = max(self.asked, min(n, len(self.order)))
        return new

    @property
    def complete(self) -> bool:
        return self.region.done and self.scanned == len(self.region.rows) and self.asked == len(self.order)

    def exact(self, ranked: list[tuple[int, int]]) -> bool:
        """Whether the first SHORTLIST of `ranked` (its locked members' current turns) are the list's earliest."""
        if self.complete:
            return True
        return len(ranked) >= SHORTLIST and self.asked > 0 and ranked[SHORTLIST - 1] <= self.order[self.asked - 1]


def _lists(
    *, leads: list[Lead], eligible: dict[int, list[int]], pool: RoutingPool | None, classes: list[int] | None = None
) -> dict[int, _Shortlists]:
    """Per list of eligible ids (by identity, as _eligible shares them): its _Shortlists, one region reader each
    (reading only the lane's `classes` of partners, if given, for lists of at least LANE_MIN partners)."""
    regions: dict[tuple, _RegionTurns] = {}
    out = {}
    for lead in leads:
        ids = eligible.get(lead.pk)
        if ids and id(ids) not in out:
            whole = regions.setdefault((lead.region_id, "all"), _RegionTurns(lead.region_id))
            if classes is not None and len(ids) >= LANE_MIN:
                lane = regions.setdefault((lead.region_id, "lane"), _RegionTurns(lead.region_id, classes))
                region, wider = lane, whole
            else:
                region, wider = whole, None
            size = pool.sizes.get(lead.region_id, len(ids))
            out[id(ids)] = _Shortlists(pool.as_set(ids), region, size, wider)
    return out


def _lane_take() -> int | None:
    """Take the first free lane from a random one on, for this transaction (an advisory lock), or None when every
    lane is held. OFFSET 0 keeps the lock test out of the subquery, where the planner would run it on every lane,
    taking them all."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT lane FROM (
                    SELECT (%s + i) %% {LANES} AS lane FROM generate_series(0, {LANES - 1}) i ORDER BY i OFFSET 0
                ) o WHERE pg_try_advisory_xact_lock({_LANE_LOCK}, lane) LIMIT 1""",
            [random.randrange(LANES)],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _lane_classes(*, lane: int | None = None) -> list[int] | None:
    """The classes of partners (id mod LANES) this transaction's batch routes among, or None for all of them.

    A batch holds a lane (`lane`, taken by _lane_take when the batch started; None: take one now) while it routes.
    Alone it decides among all the partners, as always. When other batches hold lanes too, the batches deal the
    classes out among themselves (by their lanes' order, the deal moving on every LANE_EPOCH seconds) and each
    decides among its own classes' partners only: two routers in one region then each read, lock and rank half its
    partners instead of reaching past the earliest turns the other holds (locked rows are never wrong, only slow:
    see _shortlists_locked). The partners claiming a lead's customer are locked whatever their class. While the
    deal holds, each class keeps its own rotation; a batch alone again decides among all turns, so a class that fell
    behind is served first.

    The lanes held are listed after the batch has read its leads' eligible partners and claims, well after it took
    its own: two batches that start together (two routers woken by one import) both see each other. Listed at
    once, the first of them saw itself alone and reached into the other's classes for the whole batch. They are
    read from the lock table (`pg_locks`: an advisory lock on two keys has them as classid and objid), not probed
    by taking each free lane and giving it back: two batches probing at once each saw the other's probe as a lane
    held, and dealt the classes among three."""
    if lane is None and (lane := _lane_take()) is None:  # every lane held: a batch past LANES decides among all
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT ARRAY(SELECT DISTINCT objid::int FROM pg_locks
                    WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND classid = {_LANE_LOCK}
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND objid::int <> %(lane)s AND objid::int < {LANES})""",
            {"lane": lane},
        )
        others = cursor.fetchone()[0]
    return lane_deal(mine=lane, others=others, epoch=int(timezone.now().timestamp() // LANE_EPOCH))


def lane_deal(*, mine: int, others: list[int], epoch: int) -> list[int] | None:
    """The classes of partners the batch holding lane `mine` decides among while `others` are held too (None:
    all). Every batch that sees the same lanes held gets its own share and the shares cover every class."""
    if not others:
        return None
    lanes = sorted([mine, *others])
    rank = lanes.index(mine)
    return [c for c in range(LANES) if (c + epoch) % len(lanes) == rank]


def _with_room(ids) -> set[int]:
    """Which of the partners `ids` have room left (read without a lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _partners_sql(postgres=connection.vendor == "postgresql", lock=""), {"ids": _ids_param(sorted(ids))}
        )
        return {row[0] for row in cursor.fetchall()}


_SKIP_SAVEPOINT = "routing_skip_locked"  # given back or released before _shortlists_locked returns


def _shortlists_locked(
    *, leads: list[Lead], eligible: dict[int, list[int]], claims: dict, lists: dict[int, _Shortlists]
) -> dict[int, "Candidate"]:
    """Lock the partners a batch of decisions starts with and return them.

    For each list: its SHORTLIST earliest turns plus one per lead of the batch in that list (each of its
    decisions moves one of its turns back), read from the region's index, and the partners claiming its leads'
    customers. Asked for at once with those: twice the list's expected share of the other decisions in its region
    (a winner of another list there is one of its members about as often as the region's partners fit it), so that
    a decision seldom finds its list's locked turns no longer reach past the unlocked ones (other lists' winners
    moved some back); one that does locks the next ones during the batch (_route, `extend`). Routers lock with
    SKIP LOCKED, so two routers in one region do not queue behind each other: the second takes the next earliest
    turns while the first holds the earliest (those are being served by the first). A list left with fewer locked
    than its first ask (all three terms above: topping up only its own leads' turns left it short again as soon as
    other lists' winners moved its members back, one extension a list during the batch) asks for its next earliest
    turns, twice as many each time, at most ROUNDS times (the other router holds the first turns of every list it
    serves); if a list of fewer than SHORTLIST
    candidates is not all locked, a longer one has less than a quarter of a shortlist locked, or a partner
    claiming a lead's customer is held elsewhere, the skip-locked rows are given back (the savepoint is rolled
    back) and the partners are locked waiting, in id order, as one router alone would.
    Without concurrent routers nothing is skipped and the locked rows are exactly the first round's."""
    needed: dict[int, int] = {}
    in_region: dict[int, int] = {}
    wanted: set[int] = set()
    for lead in leads:
        if ids := eligible.get(lead.pk):
            needed[id(ids)] = needed.get(id(ids), SHORTLIST) + 1
            in_region[lead.region_id] = in_region.get(lead.region_id, 0) + 1
            if c := claims.get(lead.pk):
                wanted.update(lists[id(ids)].ids.intersection(m.partner_id for m in (*c.hard, *c.territory)))
    first = set(wanted)
    target: dict[int, int] = {}
    for key, n in needed.items():
        s = lists[key]
        target[key] = n + math.ceil(2 * s.density * (in_region[s.region.region_id] - (n - SHORTLIST)))
        first.update(s.ask(target[key]))
    if not connection_supports_skip_locked():
        return _partners_locked(first)
    asked = {key: s.asked for key, s in lists.items()}
    write(f"SAVEPOINT {_SKIP_SAVEPOINT}")  # held: sent with the statement below (_route holds writes)
    partners = _partners_locked(first, skip=True)
    for rnd in range(2, ROUNDS + 2):
        short = [
            key for key, n in target.items()
            if sum(pk in partners for _t, pk in lists[key].order[: lists[key].asked]) < min(n, len(lists[key].order))
            and not lists[key].complete
        ]  # fmt: skip
        if not short or rnd > ROUNDS or not wanted <= partners.keys():
            break
        more = {pk for key in short for pk in lists[key].ask(lists[key].asked + (needed[key] << (rnd - 2)))}
        partners.update(_partners_locked(more, skip=True))

    if missing := wanted - partners.keys():  # claimants not locked: held elsewhere, or without room (not wanted)
        wanted -= missing - _with_room(missing)

    # Enough to decide on: every claimant with room; all of a list of fewer than SHORTLIST candidates (a small pool keeps its
    # exact rotation); a quarter of a shortlist of a longer one (the earliest unheld turns; the held ones are being
    # served by the router holding them).
    def enough(s: _Shortlists) -> bool:
        locked = sum(pk in partners for _t, pk in s.order[: s.asked])
        if s.complete and len(s.order) < SHORTLIST:
            return locked == len(s.order)
        return locked >= min(SHORTLIST // 4, len(s.order))

    held = wanted - partners.keys()
    short = [key for key in needed if not enough(lists[key])]
    if not held and not short:
        write(f"RELEASE SAVEPOINT {_SKIP_SAVEPOINT}")
        return partners
    with connection.cursor() as cursor:  # gives back the rows locked above
        cursor.execute(f"ROLLBACK TO SAVEPOINT {_SKIP_SAVEPOINT}")
    logger.info(
        "routing: %s partner rows skip-locked were not enough (%s claimants held elsewhere, %s lists short); "
        "waiting for the rows in id order", len(partners), len(held), len(short),
    )  # fmt: skip
    for key, s in lists.items():
        s.asked = asked[key]
    return _partners_locked(first)


def _route(*, leads: list[Lead], actor: User | None, save_leads: bool = True) -> list[RoutingDecision]:
    """Decide for locked, routable leads in order; then write everything in a few bulk statements (the leads' new
    stage only on the objects with `save_leads=False`: see leads_route_batch).

    Writes whose results are not read are held (prm.bulk.writes_held) and go in the round trip of the next
    statement: the skip-locked savepoint with the partners' lock; its release and the credits with the read of the
    decisions' and offers' ids and of the sellers to notify (_ids_take); the decisions, offers, leads' stage, audit
    and notification rows together at the end. A single decision sends 7 statements (it sent 15, one round trip
    each)."""
    if not leads:
        return []
    with writes_held():
        return _route_held(leads=leads, actor=actor, save_leads=save_leads)


def _route_held(*, leads: list[Lead], actor: User | None, save_leads: bool) -> list[RoutingDecision]:
    now = timezone.now()
    limit = max_failures()
    fresh = [lead for lead in leads if lead.route_failures < limit]
    # A batch (not a single decision, which locks ~17 rows) routes in a lane: taken now, dealt in _lane_classes.
    taken = _lane_take() if len(fresh) > 1 and connection_supports_skip_locked() else None
    read = _inputs_taken(leads)
    pool, eligible, webhooks = _eligible(leads=fresh, read=read) if fresh else (None, {}, None)
    claims = _leads_claims(fresh)
    classes = _lane_classes(lane=taken) if taken is not None and eligible else None
    lists = _lists(leads=fresh, eligible=eligible, pool=pool, classes=classes)
    partners: dict[int, Candidate] = {}
    turns, loads, fixed, prefix, weight, row = {}, {}, {}, {}, {}, {}
    filled: set[int] = set()  # locked partners the batch has filled up
    decisions, offered, queued = [], [], []
    points = _points(pool.weights) if pool else ()
    # Per list of eligible ids: its locked members with room, and their (turn, id) in turn order.
    groups: dict[int, tuple[set[int], list[tuple[int, int]]]] = {}

    def scored(pk: int) -> None:
        """The partner's candidate row and weight at its current load, made when it is first shortlisted (most
        locked partners never are) and again after it wins (only a winner's load changes during a batch).
        candidate_score's fixed part and the row's first columns are taken once per partner."""
        c, load = partners[pk], loads[pk]
        if pk not in fixed:
            fixed[pk] = _fixed_factors(
                c.allocation_weight, _str(c.sla_score), _str(c.win_rate), _str(c.rating), points
            )[1]
            prefix[pk] = _row_prefix(c)
        weight[pk] = _weight(fixed[pk] + _spare_factor(load, c.capacity, points[4])[1])
        row[pk] = f"{prefix[pk]} {load} {c.capacity}"

    def add(locked: dict[int, Candidate]) -> None:
        """Partners just locked: their turns and loads as of the lock, their place in the groups they fit."""
        new = {pk: c for pk, c in locked.items() if pk not in partners}
        for pk, c in new.items():
            partners[pk], turns[pk], loads[pk] = c, c.credit, c.load
        for key, (mine, ranked) in groups.items():
            for pk in lists[key].ids.intersection(new):
                mine.add(pk)
                bisect.insort(ranked, (turns[pk], pk))

    def extend(key: int) -> None:
        """Lock the list's next earliest turns until its locked ones again hold its earliest (or it has no more);
        skip-locked, as rows locked now are out of id order."""
        s, (_mine, ranked) = lists[key], groups[key]
        step = 2 * SHORTLIST
        while not s.exact(ranked):
            add(_partners_locked(set(s.ask(s.asked + step)) - partners.keys(), skip=connection_supports_skip_locked()))
            step *= 2

    add(_shortlists_locked(leads=fresh, eligible=eligible, claims=claims, lists=lists))
    for lead in leads:
        if lead.route_failures >= limit:
            reason = dumps(
                compose_plural(
                    N_("Declined or expired %(n)s time."), N_("Declined or expired %(n)s times."), lead.route_failures
                )
            )
            decisions.append(RoutingDecision(lead=lead, candidates=[], rule=RoutingRule.MAX_FAILURES, reason=reason))
            queued.append((lead, decisions[-1]))
            continue
        ids = eligible.get(lead.pk, ())
        if (key := id(ids)) not in groups and ids:
            fit = lists[key].ids  # a frozenset: `dict.keys() & fit` would iterate over all of it, however large
            if len(partners) <= len(fit):
                mine = {pk for pk in partners if pk in fit and pk not in filled}
            else:
                mine = {pk for pk in fit if pk in partners and pk not in filled}
            groups[key] = (mine, sorted(zip(map(turns.__getitem__, mine), mine)))
        mine, ranked = groups.get(key, (set(), []))
        candidates, rule = _claimed_candidates(mine, claims.get(lead.pk))
        more, lane = len(candidates), None
        if candidates is mine:  # not narrowed by claims: the group's locked candidates, earliest turn first
            if ids:
                extend(key)
                if not ranked and lists[key].widen():  # no room left in the lane's classes: all of them
                    extend(key)
            shortlist = [pk for _turn, pk in ranked[:SHORTLIST]]
            more = len(ids)  # every partner that fits the lead, capacity aside (the rest were not read)
            lane = lists[key].region.classes if ids else None
        else:
            shortlist = heapq.nsmallest(SHORTLIST, partners.keys() & candidates, key=lambda pk: (turns[pk], pk))
        if not shortlist:
            if rule == RoutingRule.PROTECTED_CUSTOMER:
                reason = compose(N_("The customer is protected by a partner that cannot take this lead now."))
            else:
                rule, reason = RoutingRule.NO_ELIGIBLE, compose(N_("No eligible partner."))
            decisions.append(RoutingDecision(lead=lead, candidates=[], rule=rule, reason=dumps(reason)))
            queued.append((lead, decisions[-1]))
            continue
        for pk in shortlist:
            if pk not in weight:
                scored(pk)
        rows = [f"{row[pk]} {turns[pk]}" for pk in shortlist]  # turns before this decision
        before = {pk: turns[pk] for pk in shortlist}
        winner = stride_pick([(pk, weight[pk]) for pk in shortlist], turns)
        loads[winner] += 1  # the offer below counts against its capacity for the next lead
        scored(winner)
        full = loads[winner] >= partners[winner].capacity
        if full:
            filled.add(winner)
        for mine, ranked in groups.values():  # the winner's place in every group it is in
            if winner in mine:
                del ranked[bisect.bisect_left(ranked, (before[winner], winner))]
                if full:
                    mine.discard(winner)
                else:
                    bisect.insort(ranked, (turns[winner], winner))
        decisions.append(
            RoutingDecision(lead=lead, chosen_id=winner, rule=rule, actor=actor,
                            candidates=_compact(points=points, rows=rows,
                                               more=more - len(shortlist), lane=lane))
        )  # fmt: skip
        offered.append((lead, decisions[-1], partners[winner]))
    _credits_save({pk: turn for pk, turn in turns.items() if turn != partners[pk].credit})
    decision_ids, offer_ids, sellers = _ids_take(
        decisions=len(decisions), offers=len(offered), sellers_of=sorted({w.pk for _l, _d, w in offered})
    )
    for decision, pk in zip(decisions, decision_ids):
        decision.pk = pk
    objects_insert(decisions)
    _offers_create(
        offered=offered, actor=actor, now=now, save_leads=save_leads, webhooks=webhooks, ids=offer_ids, sellers=sellers
    )
    _queue(queued=queued, now=now, save_leads=save_leads)
    return decisions


def _ids_take(
    *, decisions: int, offers: int, sellers_of: list[int]
) -> tuple[list[int], list[int], list[Recipient] | None]:
    """PostgreSQL: ids for the decisions and offers about to be written, so that their inserts return nothing and
    are held (_route), and the sellers to tell of the offers (partner_sellers of `sellers_of`: _sellers_sql), in one
    round trip. Taken after the last partner lock, so decisions' ids keep following the order in
    which routers made them. Elsewhere none (the inserts give the ids; _offers_create reads the sellers)."""
    if connection.vendor != "postgresql" or not decisions:
        return [], [], None
    with connection.cursor() as cursor:
        cursor.execute(_ids_sql(), {"offers": offers, "decisions": decisions, "partners": _ids_param(sellers_of)})
        rows = cursor.fetchall()
    sellers = rows[0][2] or []
    if isinstance(sellers, str):
        sellers = json.loads(sellers)
    return (
        [d for d, _o, _s in rows],
        [o for _d, o, _s in rows[:offers]],
        [Recipient(pk, partner, email, events, active) for pk, partner, email, events, active in sellers],
    )


@functools.cache
def _ids_sql() -> str:
    """The statement of _ids_take: the sellers, as JSON, on its first row only."""

    def serial(model) -> str:
        return f"nextval(pg_get_serial_sequence('{model._meta.db_table}', '{model._meta.pk.column}'))"

    sellers = _sellers_sql().replace("%s", "%(partners)s")
    return f"""
        SELECT {serial(RoutingDecision)}, CASE WHEN i <= %(offers)s THEN {serial(Offer)} END,
            CASE WHEN i = 1 THEN (
                SELECT json_agg(
                    json_build_array(s.id, s.partner_id, s.email, s.email_events, s.is_active) ORDER BY s.id
                ) FROM ({sellers}) s
            ) END
        FROM generate_series(1, %(decisions)s) i
    """


def _leads_update(*, ids: list[int], stage: str, now: datetime, offered_at: datetime | None = None) -> None:
    fields = {"stage": str(stage), "updated_at": now}
    if offered_at is not None:
        fields["offered_at"] = offered_at
    if not ids:
        return
    if connection.vendor == "postgresql":  # a plain statement, held by _route (the ORM's update runs at once)
        columns = ", ".join(f"{Lead._meta.get_field(f).column} = %s" for f in fields)
        write(
            f"UPDATE {Lead._meta.db_table} SET {columns} WHERE id = ANY(%s::bigint[])",
            [*fields.values(), _ids_param(ids)],
        )
    else:
        Lead.objects.filter(pk__in=ids).update(**fields)


def _queue(*, queued: list[tuple[Lead, RoutingDecision]], now: datetime, save_leads: bool = True) -> None:
    """Leads nobody can take wait for a channel manager."""
    if not queued:
        return
    if save_leads:
        _leads_update(ids=[lead.pk for lead, _d in queued], stage=Stage.QUEUE, now=now)
    for lead, _d in queued:
        lead.stage, lead.updated_at = Stage.QUEUE, now
    audit_record_many(
        actor=None, action="lead.queued",
        items=[(lead, None, d.reason, {"rule": d.rule}) for lead, d in queued],
    )  # fmt: skip
    managers = [u for u in channel_managers() if u is not None]
    notify_many(
        kind=NotificationKind.REVIEW_QUEUE,
        messages=[
            (user, compose(N_("Lead needs manual routing: %(title)s"), title=lead.title), d.reason,
             reverse("leads:routing_lead", args=[lead.pk]))
            for lead, d in queued
            for user in managers
        ],
        summary=lambda n: (
            compose_plural(N_("%(n)s lead needs manual routing"), N_("%(n)s leads need manual routing"), n),
            "", reverse("leads:routing_queue"),
        ),
    )  # fmt: skip


def _offers_create(
    *,
    offered: list[tuple[Lead, RoutingDecision, Candidate]],
    actor: User | None,
    now: datetime,
    save_leads: bool = True,
    webhooks: bool | None = None,
    ids: list[int] | None = None,
    sellers: list[Recipient] | None = None,
) -> None:
    """The winners' offers; SLA and calendar came with the candidate rows (no further reads); `webhooks`: whether
    any webhook subscription is active, as read with the leads' inputs (None: asked when emitting); `ids`: the
    offers' ids, taken beforehand (none: the insert gives them); `sellers`: the winners' sellers, read with the ids
    (None: read here)."""
    if not offered:
        return
    offers, tzs = [], []
    deadline = functools.cache(business_deadline)  # a batch shares `now`: one computation per calendar
    for lead, decision, winner in offered:
        hours = DEFAULT_SLA.accept_within_hours if winner.accept_within_hours is None else winner.accept_within_hours
        tz = winner.tz or settings.TIME_ZONE
        tzs.append(tz)
        offers.append(
            Offer(
                lead_id=lead.pk, partner_id=winner.pk, decision_id=decision.pk, offered_at=now,
                deadline=deadline(
                    start=now, hours=hours, tz=tz, country=winner.region_country or winner.country,
                    subdivision=winner.subdivision or "", work_start=winner.work_start or DEFAULT_SLA.working_hours_start,
                    work_end=winner.work_end or DEFAULT_SLA.working_hours_end,
                ),
            )
        )  # fmt: skip
    if ids:
        for offer, pk in zip(offers, ids, strict=True):
            offer.pk = pk
    objects_insert(offers)  # one statement: its trigger adds the offers to their partners' open_load
    if save_leads:
        _leads_update(ids=[lead.pk for lead, _d, _w in offered], stage=Stage.OFFERED, offered_at=now, now=now)
    for lead, _d, _w in offered:
        lead.stage, lead.offered_at, lead.updated_at = Stage.OFFERED, now, now
    audit_record_many(
        actor=actor, action="lead.offered",
        items=[
            (lead, o.partner_id, "", {"offer": o.pk, "deadline": o.deadline.isoformat(), "decision": d.pk})
            for (lead, d, _w), o in zip(offered, offers)
        ],
    )  # fmt: skip
    by_partner: dict[int, list[Recipient]] = {}
    for user in recipients(partner_sellers([o.partner_id for o in offers])) if sellers is None else sellers:
        by_partner.setdefault(user.partner_id, []).append(user)
    url = reverse("leads:offer_list")
    messages, bodies = [], {}  # a batch's offers share a few deadlines: each body composed once
    for (lead, _d, _w), o, tz in zip(offered, offers, tzs):
        if users := by_partner.get(o.partner_id):
            if (o.deadline, tz) not in bodies:
                bodies[o.deadline, tz] = compose(
                    N_("Accept or decline before %(deadline)s (%(tz)s)."),
                    deadline=timezone.localtime(o.deadline, timezone=ZoneInfo(tz)).replace(tzinfo=None), tz=tz,
                )  # fmt: skip
            title = compose(N_("New lead offered: %(title)s"), title=lead.title)
            messages.extend((user, title, bodies[o.deadline, tz], url) for user in users)
    notify_many(
        kind=NotificationKind.LEAD_OFFERED,
        messages=messages,
        summary=lambda n: (
            compose_plural(N_("%(n)s new lead offered"), N_("%(n)s new leads offered"), n),
            compose(N_("Accept or decline each of them before its deadline: see the deadlines on the offers page.")),
            url,
        ),
    )  # fmt: skip
    webhook_emit_many(
        event="lead.offered",
        items=[
            (o.partner_id, {"lead": lead.pk, "offer": o.pk, "title": lead.title, "deadline": o.deadline})
            for (lead, _d, _w), o in zip(offered, offers)
        ],
        any_active=webhooks,
    )


# --- offers ----------------------------------------------------------------------------------------------------


def partner_sla(partner: Partner) -> SlaPolicy:
    if partner.sla_policy_id:
        return partner.sla_policy
    return SlaPolicy.objects.order_by("pk").first() or DEFAULT_SLA


def partner_deadline(*, partner: Partner, start: datetime, hours: Decimal, sla: SlaPolicy | None = None) -> datetime:
    """`hours` business hours after `start` in the partner's home time zone, calendar and working hours."""
    sla = sla or partner_sla(partner)
    region = partner.home_region
    return business_deadline(
        start=start,
        hours=hours,
        tz=region.timezone if region else settings.TIME_ZONE,
        country=region.country if region else partner.country,
        subdivision=region.subdivision if region else "",
        work_start=sla.working_hours_start,
        work_end=sla.working_hours_end,
    )


# Who is told of a partner's offers: partner_sellers states it, _sellers_sql reads it for the router.
SELLER_ROLES = (Role.PARTNER_ADMIN, Role.PARTNER_SALES)


def partner_sellers(partner_ids) -> QuerySet[User]:
    return User.objects.filter(partner_id__in=list(partner_ids), role__in=SELLER_ROLES, is_active=True).order_by(
        "pk"
    )  # not the model's name order: sorting a batch's sellers by name cost more than reading them


@functools.cache
def _sellers_sql() -> str:
    """partner_sellers as a plain statement (read with the router's ids: _ids_take); building and compiling the
    ORM query and a User per row cost more than the read itself on the path of every single decision."""
    return (
        f"SELECT id, partner_id, email, email_events, is_active FROM {User._meta.db_table} "
        f"WHERE partner_id = ANY(%s::bigint[]) AND role IN {_in(SELLER_ROLES)} AND is_active ORDER BY id"
    )
