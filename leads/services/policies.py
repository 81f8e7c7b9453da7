"""Program configuration of the lead flow (issue 17, item 7): SLA policies, registration policies and routing
weights, each changed by one function here (the portal's configuration pages and the admin call them), audited
with the old and the new values, and each with an impact preview computed by the rule the lead flow itself runs:
`partner_deadline` for SLA deadlines, `protection_days` / the extension days for registrations, `candidate_score`
for routing weights. Previews are reads over bounded, indexed sets; they never write.
"""

import copy
from collections import defaultdict
from datetime import datetime, time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import (
    OPEN_STAGES,
    Lead,
    Offer,
    OfferStatus,
    Registration,
    RegistrationPolicy,
    RegistrationStatus,
    RoutingDecision,
    RoutingWeights,
)
from leads.services.registration import DEFAULT_EXTENSION_DAYS, DEFAULT_PROTECTION_DAYS, protection_days
from leads.services.routing import candidate_score, compact_rows, partner_deadline, routing_weights_current
from partners.models import Partner, SlaPolicy, Tier
from prm.models import User
from prm.services import audit_record

SLA_FIELDS = (
    "name",
    "accept_within_hours",
    "first_contact_within_hours",
    "deal_update_days",
    "working_hours_start",
    "working_hours_end",
    "penalty_per_breach",
    "penalty_currency",
    "description",
)
REGISTRATION_FIELDS = ("auto_approve", "protection_days", "extension_days")
WEIGHT_FIELDS = ("tier_points", "sla_points", "win_rate_points", "rating_points", "spare_capacity_points")

# Previews look at no more than this many rows (the newest first) and say so when there were more.
PREVIEW_LIMIT = 20_000
# How many of the newest scored routing decisions the weights preview replays.
ROUTING_SAMPLE = 2_000


def _changes(obj, fields, values: dict) -> dict:
    """{field: {"from": old, "to": new}} for the fields whose value differs, as strings (JSON for the audit)."""
    out = {}
    for field in fields:
        if field not in values:
            continue
        old, new = getattr(obj, field), values[field]
        if old != new and str(old) != str(new):  # 4.00 and 4 are the same number of hours
            out[field] = {"from": None if old is None else str(old), "to": None if new is None else str(new)}
    return out


def _apply(obj, fields, values: dict):
    for field in fields:
        if field in values:
            setattr(obj, field, values[field])
    return obj


def _proposed(obj, fields, values: dict):
    """A copy in memory with the proposed values: previews run the rule on it, nothing is saved."""
    return _apply(copy.copy(obj), fields, values)


# --- SLA policies ----------------------------------------------------------------------------------------------


def sla_policy_default() -> SlaPolicy | None:
    """The policy of partners without one of their own (leads.services.routing.partner_sla)."""
    return SlaPolicy.objects.order_by("pk").first()


def _sla_partners(policy: SlaPolicy) -> Q:
    """The partners whose deadlines this policy sets: its own, plus those without a policy if it is the default."""
    governed = Q(sla_policy=policy)
    if policy.pk is None:
        return Q(pk__in=[])
    default = sla_policy_default()
    if default is not None and default.pk == policy.pk:
        governed |= Q(sla_policy__isnull=True)
    return governed


def _as_time(value) -> time | None:
    return time.fromisoformat(value) if isinstance(value, str) else value


def sla_policy_check(*, policy: SlaPolicy) -> None:
    """The policy's rules as field errors (the database constraints say the same, in words nobody reads)."""
    start, end = (_as_time(policy.working_hours_start), _as_time(policy.working_hours_end))
    if start and end and start >= end:
        raise ValidationError({"working_hours_end": _("The working day must end after it starts.")})
    for field in ("accept_within_hours", "first_contact_within_hours"):
        if getattr(policy, field) is not None and Decimal(str(getattr(policy, field))) <= 0:
            raise ValidationError({field: _("Give a number of hours greater than zero.")})


def sla_policy_save(*, policy: SlaPolicy | None, values: dict, actor: User | None) -> SlaPolicy:
    """Create (policy=None) or change an SLA policy; audited with every changed value (from → to)."""
    with transaction.atomic():
        if policy is None:
            policy, changes = SlaPolicy(), None
        else:  # the values it had when this change was made, whatever another tab saved meanwhile
            policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
            changes = _changes(policy, SLA_FIELDS, values)
        _apply(policy, SLA_FIELDS, values)
        sla_policy_check(policy=policy)
        policy.full_clean()
        policy.save()
        audit_record(
            actor=actor,
            action="sla_policy.created" if changes is None else "sla_policy.changed",
            target=policy,
            data={"values": {f: str(getattr(policy, f)) for f in SLA_FIELDS}} if changes is None
            else {"changes": changes},
        )  # fmt: skip
    return policy


def _overdue(rows, *, start: str, hours: str, sla: SlaPolicy, now: datetime) -> int:
    n = 0
    for row in rows:
        due = partner_deadline(partner=row.partner, start=getattr(row, start), hours=getattr(sla, hours), sla=sla)
        n += due < now
    return n


def sla_policy_impact(*, policy: SlaPolicy, values: dict, now: datetime | None = None) -> dict:
    """What the proposed terms would mean for the work open now, by the deadline rule offers and first contacts
    use (`partner_deadline`): how many pending offers and leads waiting for a first contact would be overdue with
    the policy as it is and as proposed. Both sides are recomputed, so unchanged terms show no difference.

    {"offers": {"open", "now", "proposed"}, "contacts": {...}, "partners": n, "limited": bool}
    """
    now = now or timezone.now()
    proposed = _proposed(policy, SLA_FIELDS, values)
    sla_policy_check(policy=proposed)
    proposed.full_clean(validate_unique=False)
    governed = _sla_partners(policy)
    offers = list(
        Offer.objects.filter(status=OfferStatus.PENDING, partner__in=Partner.objects.filter(governed))
        .select_related("partner__home_region")
        .only("offered_at", "partner__country", "partner__home_region")
        .order_by("-offered_at")[:PREVIEW_LIMIT]
    )
    contacts = list(
        Lead.objects.filter(
            partner__in=Partner.objects.filter(governed),
            stage__in=OPEN_STAGES,
            accepted_at__isnull=False,
            first_contact_due__isnull=False,
            first_contact_at__isnull=True,
        )
        .select_related("partner__home_region")
        .only("accepted_at", "partner__country", "partner__home_region")
        .order_by("-accepted_at")[:PREVIEW_LIMIT]
    )
    return {
        "offers": {
            "open": len(offers),
            "now": _overdue(offers, start="offered_at", hours="accept_within_hours", sla=policy, now=now),
            "proposed": _overdue(offers, start="offered_at", hours="accept_within_hours", sla=proposed, now=now),
        },
        "contacts": {
            "open": len(contacts),
            "now": _overdue(contacts, start="accepted_at", hours="first_contact_within_hours", sla=policy, now=now),
            "proposed": _overdue(
                contacts, start="accepted_at", hours="first_contact_within_hours", sla=proposed, now=now
            ),
        },
        "partners": Partner.objects.filter(governed).count(),
        "limited": len(offers) == PREVIEW_LIMIT or len(contacts) == PREVIEW_LIMIT,
    }


# --- Registration policies -------------------------------------------------------------------------------------


def registration_policies() -> list[RegistrationPolicy]:
    """One policy per program model, the saved row or the unsaved default the registration rule would use."""
    from partners.models import ProgramModel

    saved = {p.program_model: p for p in RegistrationPolicy.objects.all()}
    return [saved.get(m) or RegistrationPolicy(program_model=m) for m in ProgramModel.values]


def registration_policy_for(*, program_model: str) -> RegistrationPolicy:
    from partners.models import ProgramModel

    if program_model not in ProgramModel.values:
        raise ValidationError({"program_model": _("Unknown program model.")})
    return RegistrationPolicy.objects.filter(program_model=program_model).first() or RegistrationPolicy(
        program_model=program_model
    )


def registration_policy_save(*, program_model: str, values: dict, actor: User | None) -> RegistrationPolicy:
    """Set a program model's registration terms (the row is created on first change); audited from → to."""
    registration_policy_for(program_model=program_model)  # a known program model
    with transaction.atomic():
        # The row with the rule's defaults first (two first saves at once: one insert, the other reads it), then
        # the lock: the second save sees the first one's values and audits from them.
        RegistrationPolicy.objects.get_or_create(program_model=program_model)
        policy = RegistrationPolicy.objects.select_for_update().get(program_model=program_model)
        changes = _changes(policy, REGISTRATION_FIELDS, values)
        _apply(policy, REGISTRATION_FIELDS, values)
        policy.full_clean()
        policy.save()
        audit_record(actor=actor, action="registration_policy.changed", target=policy, data={"changes": changes})
    return policy


def registration_policy_impact(*, program_model: str, values: dict) -> dict:
    """What the proposed terms change, by the registration rule's own functions: the protection length a new
    approval would get (`protection_days`: the tier's days, else the policy's) and the days an extension adds.
    Existing protections keep their end; the figures say how many active ones an extension would now end
    differently, and how many partners' next approvals would last longer or shorter.
    """
    policy = registration_policy_for(program_model=program_model)
    proposed = _proposed(policy, REGISTRATION_FIELDS, values)
    proposed.full_clean(validate_unique=False)
    partners = Partner.objects.filter(program_model=program_model)
    active = Registration.objects.filter(status=RegistrationStatus.APPROVED, partner__in=partners)
    ext_now = policy.extension_days or DEFAULT_EXTENSION_DAYS
    ext_new = proposed.extension_days or DEFAULT_EXTENSION_DAYS
    extendable = active.filter(extended=False).count()
    # protection_days per tier is the same for every partner of the tier: one row per tier, not per partner.
    by_tier = dict(partners.order_by().values("tier_id").annotate(n=Count("id")).values_list("tier_id", "n"))
    tiers = {t.pk: t for t in Tier.objects.filter(pk__in=[t for t in by_tier if t])}
    longer = shorter = 0
    days_now = days_new = None
    for tier_id, n in by_tier.items():
        sample = Partner(tier_id=tier_id, program_model=program_model)
        if tier_id:
            sample.tier = tiers[tier_id]
        before = protection_days(partner=sample, policy=policy)
        after = protection_days(partner=sample, policy=proposed)
        if tier_id is None:
            days_now, days_new = before, after
        longer += n if after > before else 0
        shorter += n if after < before else 0
    return {
        "active": active.count(),
        "extendable": extendable,
        "extension_changes": extendable if ext_new != ext_now else 0,
        "extension_now": ext_now,
        "extension_new": ext_new,
        "partners": sum(by_tier.values()),
        "longer": longer,
        "shorter": shorter,
        "days_now": days_now if days_now is not None else policy.protection_days or DEFAULT_PROTECTION_DAYS,
        "days_new": days_new if days_new is not None else proposed.protection_days or DEFAULT_PROTECTION_DAYS,
        "pending_review": Registration.objects.filter(
            status=RegistrationStatus.PENDING_REVIEW, partner__in=partners
        ).count(),
        "auto_approve_changes": proposed.auto_approve != policy.auto_approve,
    }


# --- Routing weights -------------------------------------------------------------------------------------------


def routing_weights_update(*, values: dict, actor: User | None) -> RoutingWeights:
    """Change the routing weights (one row); the routing pool reloads them (RoutingPoolVersion trigger)."""
    with transaction.atomic():
        weights = RoutingWeights.objects.select_for_update().filter(key="default").first() or RoutingWeights()
        changes = _changes(weights, WEIGHT_FIELDS, values)
        _apply(weights, WEIGHT_FIELDS, values)
        weights.full_clean()
        weights.save()
        audit_record(actor=actor, action="routing.weights_changed", target=weights, data={"changes": changes})
    return weights


def _partner_inputs(stored) -> dict[int, tuple]:
    """Today's score inputs of the candidates of decisions stored without theirs (one query), shaped as
    `compact_rows` gives them: (partner_id, allocation_weight, sla, win_rate, rating, load, capacity)."""
    ids = {c.get("partner_id") for cands in stored if isinstance(cands, list) for c in cands if isinstance(c, dict)}
    if not ids:
        return {}
    rows = (
        Partner.objects.filter(pk__in=ids)
        .annotate(alloc=Coalesce("tier__allocation_weight", 1))
        .values_list("pk", "alloc", "sla_score", "kpi_win_rate", "kpi_rating", "open_load", "lead_capacity")
    )
    return {row[0]: row for row in rows}


def routing_weights_impact(*, values: dict, sample: int = ROUTING_SAMPLE) -> dict:
    """How the proposed weights would share out leads, replaying the newest scored routing decisions.

    Each decision stores its shortlisted candidates' score inputs; `candidate_score` (the router's own rule) turns
    them into weights with the current and with the proposed points. The rotation gives each candidate a share of
    leads proportional to its weight, so a decision's expected lead is split by weight: summed over the sample this
    is each partner's expected leads now and with the proposal, grouped by the partners' tiers. `moved_pct` is the
    part of the sample's leads that would go to a different partner (the sum of the gains); `from_tier` and `to_tier`
    the rows of the tiers that lose and gain the most.
    """
    current = routing_weights_current()
    proposed = _proposed(current, WEIGHT_FIELDS, values)
    proposed.full_clean(validate_unique=False)
    stored = (
        RoutingDecision.objects.filter(manual=False, chosen__isnull=False)
        .order_by("-decided_at", "-pk")
        .values_list("candidates", flat=True)[:sample]
    )
    now_share: dict[int, float] = defaultdict(float)
    new_share: dict[int, float] = defaultdict(float)
    decisions = legacy = 0
    stored = list(stored)
    today = _partner_inputs(stored)
    for candidates in stored:
        if isinstance(candidates, dict) and candidates.get("rows"):
            rows = compact_rows(candidates)
        else:  # a decision from before the compact format keeps no score inputs: its candidates with today's data
            ids = [c.get("partner_id") for c in candidates or () if isinstance(c, dict)]
            rows = [today[pk] for pk in ids if pk in today]
            if not rows:
                continue
            legacy += 1
        for weights, share in ((current, now_share), (proposed, new_share)):
            scored = [
                (
                    row[0],
                    candidate_score(
                        allocation_weight=row[1],
                        sla_score=row[2],
                        win_rate=row[3],
                        rating=row[4],
                        load=row[5],
                        capacity=row[6],
                        weights=weights,
                    )["weight"],
                )  # fmt: skip
                for row in rows
            ]
            total = sum(w for _pk, w in scored)
            for pk, w in scored:
                share[pk] += w / total
        decisions += 1
    tier_of = dict(Partner.objects.filter(pk__in=list(now_share)).values_list("pk", "tier_id"))
    tiers = {t.pk: t for t in Tier.objects.filter(pk__in=set(tier_of.values()) - {None})}
    by_tier: dict[int | None, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for pk in now_share:
        row = by_tier[tier_of.get(pk)]
        row[0] += now_share[pk]
        row[1] += new_share[pk]
    moved = sum(max(0.0, new_share[pk] - now_share[pk]) for pk in now_share)
    rows = []
    for tier_id, (before, after) in by_tier.items():
        tier = tiers.get(tier_id)
        rows.append(
            {
                "tier": tier,
                "rank": tier.rank if tier else -1,
                "now_pct": round(100 * before / decisions, 1) if decisions else 0.0,
                "new_pct": round(100 * after / decisions, 1) if decisions else 0.0,
            }
        )
    rows.sort(key=lambda r: -r["rank"])
    for row in rows:
        row["change_pct"] = round(row["new_pct"] - row["now_pct"], 1)
    losers = [r for r in rows if r["change_pct"] < 0]
    gainers = [r for r in rows if r["change_pct"] > 0]
    return {
        "legacy": legacy,
        "from_tier": min(losers, key=lambda r: r["change_pct"]) if losers else None,
        "to_tier": max(gainers, key=lambda r: r["change_pct"]) if gainers else None,
        "decisions": decisions,
        "moved_pct": round(100 * moved / decisions, 1) if decisions else 0.0,
        "tiers": rows,
        "current": current,
        "proposed": proposed,
    }
