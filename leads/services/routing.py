"""Routing vendor leads to partners: eligibility, a data-configured score with smooth weighted round-robin,
offers with business-hour deadlines, accept/decline/expiry with automatic re-routing, and the manual queue.

Lock order everywhere: offer row → lead row → partner rows (by id). Accept and expiry both lock the offer and
re-check its status, so a lead never gets two owners.
"""

import csv
import functools
import io
import logging
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

from kpi.models import KpiSnapshot
from leads.models import (
    OPEN_STAGES,
    Customer,
    Lead,
    LeadKind,
    LeadSource,
    Offer,
    OfferStatus,
    RoutingDecision,
    RoutingWeights,
    Stage,
)
from partners.models import Partner, PartnerStatus, PartnerType, ProgramModel, SlaPolicy
from prm.business_hours import business_deadline
from prm.models import NotificationKind, Role, User
from prm.selectors import channel_managers
from prm.services import audit_record, connection_supports_skip_locked, notify
from prm.webhooks import webhook_emit

logger = logging.getLogger(__name__)

# Which program models may take which kind of lead (on-site service is decided by partner type instead).
KIND_PROGRAM_MODELS = {
    LeadKind.IMPLEMENTATION: (ProgramModel.FULL_CYCLE, ProgramModel.FRANCHISE),
    LeadKind.LICENSE: (ProgramModel.DISTRIBUTOR, ProgramModel.RESELLER),
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
    """Per partner: pending offers plus accepted routed leads still open (what lead_capacity limits)."""
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


def eligible_partners(*, lead: Lead, competency_ids: list[int] | None = None) -> QuerySet[Partner]:
    """One query: partners that may receive `lead`, annotated with everything the score needs.

    `competency_ids` overrides the lead's needed competencies (for a lead not saved yet).
    """
    qs = Partner.objects.filter(status=PartnerStatus.ACTIVE)
    qs = qs.filter(regions=lead.region_id) if lead.region_id else qs.none()
    if lead.kind == LeadKind.ONSITE_SERVICE:
        qs = qs.filter(partner_type=PartnerType.OPERATIONAL)
    else:
        qs = qs.filter(program_model__in=KIND_PROGRAM_MODELS[lead.kind])
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
    refused = Offer.objects.filter(
        lead_id=lead.pk, partner=OuterRef("pk"), status__in=(OfferStatus.DECLINED, OfferStatus.EXPIRED)
    )
    latest_kpi = KpiSnapshot.objects.filter(partner=OuterRef("pk")).order_by("-date")
    return (
        qs.exclude(Exists(refused))
        .annotate(
            load=open_routed_load(),
            allocation_weight=Coalesce(F("tier__allocation_weight"), Value(1)),
            win_rate=Subquery(latest_kpi.values("win_rate_pct")[:1]),
            rating=Subquery(latest_kpi.values("customer_rating")[:1]),
        )
        .filter(load__lt=F("lead_capacity"))
        .order_by("pk")
    )


def routing_weights_current() -> RoutingWeights:
    return RoutingWeights.objects.filter(key="default").first() or RoutingWeights()


def _share(value, scale: Decimal, offset: Decimal = _ZERO) -> Decimal:
    """A KPI mapped to 0..1; missing data is neutral."""
    if value is None:
        return NEUTRAL
    return min(_ONE, max(_ZERO, (Decimal(value) - offset) / scale))


# The score's factors in the order the "Why this partner?" table shows them. Stored candidates are jsonb on
# PostgreSQL, which does not keep the keys' order, so the page must not rely on the dict's order.
SCORE_FACTORS = ("tier", "sla", "win_rate", "rating", "spare_capacity")


def candidate_score(
    *, allocation_weight: int, sla_score, win_rate, rating, load: int, capacity: int, weights: RoutingWeights
) -> dict:
    """Readable score: every factor with its raw value, its 0..1 share and the points it earns."""
    spare = _ONE - Decimal(load) / Decimal(capacity) if capacity else _ZERO
    factors = (
        ("tier", allocation_weight, Decimal(allocation_weight), weights.tier_points),
        ("sla", sla_score, _share(sla_score, _HUNDRED), weights.sla_points),
        ("win_rate", win_rate, _share(win_rate, _HUNDRED), weights.win_rate_points),
        ("rating", rating, _share(rating, _FOUR, _ONE), weights.rating_points),
        ("spare_capacity", f"{load}/{capacity}", max(_ZERO, spare), weights.spare_capacity_points),
    )
    out = {}
    total = _ZERO
    for name, raw, share, points in factors:
        earned = share * points
        total += earned
        out[name] = {
            "value": None if raw is None else str(raw),
            "share": float(round(share, 3)),
            "points": float(round(earned, 2)),
        }
    return {"factors": out, "weight": max(1, int(total.to_integral_value()))}


def swrr_pick(candidates: list[tuple[int, int, int]]) -> tuple[int, dict[int, int]]:
    """Smooth weighted round-robin (nginx): (id, weight, credit) → winner id and every candidate's new credit.

    Each candidate's credit grows by its weight; the highest credit wins (ties: lowest id) and gives back the
    total. Over time each candidate wins in proportion to its weight, interleaved rather than in bursts.
    """
    if not candidates:
        raise ValueError("no candidates")
    total = sum(weight for _, weight, _ in candidates)
    credits = {pk: credit + weight for pk, weight, credit in candidates}
    winner = min(credits, key=lambda pk: (-credits[pk], pk))
    credits[winner] -= total
    return winner, credits


# --- offers ----------------------------------------------------------------------------------------------------


def _sla_for(partner: Partner) -> SlaPolicy:
    if partner.sla_policy_id:
        return partner.sla_policy
    return SlaPolicy.objects.order_by("pk").first() or DEFAULT_SLA


def partner_deadline(*, partner: Partner, start: datetime, hours: Decimal, sla: SlaPolicy | None = None) -> datetime:
    """`hours` business hours after `start` in the partner's home time zone, calendar and working hours."""
    sla = sla or _sla_for(partner)
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


def _sellers(partner_id: int) -> QuerySet[User]:
    return User.objects.filter(partner_id=partner_id, role__in=(Role.PARTNER_ADMIN, Role.PARTNER_SALES), is_active=True)


def _to_queue(*, lead: Lead, rule: str, reason: str, candidates: list | None = None) -> RoutingDecision:
    decision = RoutingDecision.objects.create(
        lead=lead, chosen=None, candidates=candidates or [], rule=rule, reason=reason
    )
    lead.stage = Stage.QUEUE
    lead.save(update_fields=["stage", "updated_at"])
    audit_record(actor=None, action="lead.queued", target=lead, reason=reason, data={"rule": rule})
    notify(
        users=channel_managers(),
        kind=NotificationKind.REVIEW_QUEUE,
        title=_("Lead needs manual routing: %(title)s") % {"title": lead.title},
        body=reason,
        url=reverse("leads:routing_lead", args=[lead.pk]),
    )
    return decision


def lead_route(*, lead: Lead, actor: User | None = None, retry: bool = False) -> RoutingDecision:
    """Offer the lead to the best eligible partner, or put it in the channel-manager queue.

    `retry` (a channel manager sending a queued lead round again) starts the failure count afresh.

    The candidates' rows are locked in id order (no deadlocks between routers) and their round-robin credits
    read under the lock, so concurrent routers share one consistent rotation.
    """
    with transaction.atomic():
        # One round trip: the locked lead and whether it already has an open offer.
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .annotate(has_pending=Exists(Offer.objects.filter(lead=OuterRef("pk"), status=OfferStatus.PENDING)))
            .get(pk=lead.pk)
        )
        if lead.stage not in (Stage.NEW, Stage.OFFERED, Stage.QUEUE) or lead.partner_id:
            raise ValidationError(_("This lead already has a partner."))
        if lead.has_pending:
            raise ValidationError(_("This lead already has an open offer."))
        if retry:
            lead.route_failures = 0
            lead.save(update_fields=["route_failures", "updated_at"])
        if lead.route_failures >= max_failures():
            return _to_queue(
                lead=lead,
                rule="max_failures",
                reason=_("Declined or expired %(n)s times.") % {"n": lead.route_failures},
            )
        weights = routing_weights_current()
        rows = _candidates_locked(lead=lead)
        if not rows:
            return _to_queue(lead=lead, rule="no_eligible_partner", reason=_("No eligible partner."))

        scored = []
        for row in rows:
            score = candidate_score(
                allocation_weight=row.allocation_weight, sla_score=row.sla_score, win_rate=row.win_rate,
                rating=row.rating, load=row.load, capacity=row.capacity, weights=weights,
            )  # fmt: skip
            scored.append((row, score))
        winner_id, credits = swrr_pick([(row.pk, s["weight"], row.credit) for row, s in scored])
        candidates = [
            {
                "partner_id": row.pk,
                "name": row.name,
                "weight": s["weight"],
                "factors": s["factors"],
                "credit_before": row.credit,
                "credit_after": credits[row.pk],
                "chosen": row.pk == winner_id,
            }
            for row, s in scored
        ]
        _credits_save(credits)
        decision = RoutingDecision.objects.create(
            lead=lead, chosen_id=winner_id, candidates=candidates, rule="score_swrr", actor=actor
        )
        _offer_create(lead=lead, winner=next(row for row in rows if row.pk == winner_id), decision=decision)
        return decision


# --- the router's hot path: one hand-written statement --------------------------------------------------------
#
# `eligible_partners` above is the readable ORM statement of the rules (the views and tests use it). Routing a lead
# runs the same rules as one raw statement built once per process: composing and compiling the ORM query cost more
# than running it, and the raw statement also returns what the offer needs (SLA policy, home time zone and holiday
# calendar), so the winner is not fetched again. tests/leads/test_routing_fast_path.py keeps the two in agreement.


@dataclass(slots=True)
class Candidate:
    pk: int
    name: str
    credit: int
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


def _decimal(value, places: int) -> Decimal | None:
    """Raw cursors give floats on SQLite; the ORM would give Decimals quantized to the field (same str() in JSON)."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def _time(value) -> time | None:
    return time.fromisoformat(value) if isinstance(value, str) else value


def _in(values) -> str:
    """An SQL list of code-defined choice values (never user input), inlined so the statement stays constant."""
    assert all(str(v).isidentifier() for v in values), values
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


@functools.cache
def _candidates_sql(*, kind: str, lock: bool) -> str:
    t = {m.__name__: m._meta.db_table for m in (Partner, Offer, Lead, KpiSnapshot, SlaPolicy)}
    t["regions"] = Partner.regions.through._meta.db_table
    t["partner_comps"] = Partner.competencies.through._meta.db_table
    t["lead_comps"] = Lead.competencies.through._meta.db_table
    t["Tier"] = Partner._meta.get_field("tier").related_model._meta.db_table
    t["Region"] = Partner._meta.get_field("home_region").related_model._meta.db_table
    # Pending offers plus accepted routed leads still open, as open_routed_load(); each count reads a small index.
    load = (
        f"((SELECT COUNT(*) FROM {t['Offer']} o WHERE o.partner_id = p.id AND o.status IN {_in([OfferStatus.PENDING])})"
        f" + (SELECT COUNT(*) FROM {t['Lead']} l WHERE l.partner_id = p.id AND l.offered_at IS NOT NULL"
        f" AND l.stage IN {_in(OPEN_STAGES)}))"
    )
    kpi = f"(SELECT k.{{col}} FROM {t['KpiSnapshot']} k WHERE k.partner_id = p.id ORDER BY k.date DESC LIMIT 1)"
    refused = _in([OfferStatus.DECLINED, OfferStatus.EXPIRED])
    if kind == LeadKind.ONSITE_SERVICE:
        fits = f"p.partner_type IN {_in([PartnerType.OPERATIONAL])}"
    else:
        fits = f"p.program_model IN {_in(KIND_PROGRAM_MODELS[kind])}"
    return f"""
        SELECT p.id, p.name, p.routing_credit, COALESCE(t.allocation_weight, 1), p.sla_score,
               {kpi.format(col="win_rate_pct")}, {kpi.format(col="customer_rating")}, {load}, p.lead_capacity,
               p.country, r.timezone, r.country, r.subdivision,
               s.accept_within_hours, s.working_hours_start, s.working_hours_end
        FROM {t["Partner"]} p
        JOIN {t["regions"]} pr ON pr.partner_id = p.id AND pr.region_id = %(region)s
        LEFT JOIN {t["Tier"]} t ON t.id = p.tier_id
        LEFT JOIN {t["Region"]} r ON r.id = p.home_region_id
        LEFT JOIN {t["SlaPolicy"]} s ON s.id = COALESCE(p.sla_policy_id, (SELECT MIN(id) FROM {t["SlaPolicy"]}))
        WHERE p.status IN {_in([PartnerStatus.ACTIVE])} AND {fits}
          AND NOT EXISTS (
              SELECT 1 FROM {t["lead_comps"]} lc WHERE lc.lead_id = %(lead)s AND NOT EXISTS (
                  SELECT 1 FROM {t["partner_comps"]} pc WHERE pc.partner_id = p.id AND pc.competency_id = lc.competency_id))
          -- NOT IN over an uncorrelated subquery: evaluated once (a hashed subplan) from the lead's few offers.
          AND p.id NOT IN (SELECT o.partner_id FROM {t["Offer"]} o WHERE o.lead_id = %(lead)s AND o.status IN {refused})
          AND {load} < p.lead_capacity
        ORDER BY p.id
        {"FOR UPDATE OF p" if lock else ""}
    """


def _candidates_locked(*, lead: Lead) -> list[Candidate]:
    """Eligible partners of `lead` with their score inputs and offer settings, locked in id order."""
    if not lead.region_id:
        return []
    sql = _candidates_sql(kind=lead.kind, lock=connection.features.has_select_for_update_of)
    params = {"region": lead.region_id, "lead": lead.pk}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Candidate(
            pk, name, credit, alloc, _decimal(sla, 2), _decimal(win, 2), _decimal(rating, 2), load, capacity,
            country, tz, region_country, subdivision, _decimal(hours, 2), _time(start), _time(end),
        )  # fmt: skip
        for (pk, name, credit, alloc, sla, win, rating, load, capacity, country, tz, region_country, subdivision,
             hours, start, end) in rows
    ]  # fmt: skip


def _credits_save(credits: dict[int, int]) -> None:
    """Write every candidate's new credit in one statement (rows are already locked by the caller)."""
    if connection.vendor == "postgresql":
        # unnest() of two arrays: one short statement whatever the number of candidates.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Partner._meta.db_table} AS p SET routing_credit = v.credit "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, credit) WHERE p.id = v.id",
                [list(credits), list(credits.values())],
            )
    else:
        Partner.objects.bulk_update(
            [Partner(pk=pk, routing_credit=credit) for pk, credit in credits.items()], ["routing_credit"]
        )


def _offer_create(*, lead: Lead, winner: Candidate, decision: RoutingDecision) -> Offer:
    """The winner's offer; its SLA and calendar came with the candidate row (no further reads)."""
    now = timezone.now()
    hours = DEFAULT_SLA.accept_within_hours if winner.accept_within_hours is None else winner.accept_within_hours
    tz = winner.tz or settings.TIME_ZONE
    offer = Offer(
        lead=lead,
        partner_id=winner.pk,
        decision=decision,
        offered_at=now,
        deadline=business_deadline(
            start=now,
            hours=hours,
            tz=tz,
            country=winner.region_country or winner.country,
            subdivision=winner.subdivision or "",
            work_start=winner.work_start or DEFAULT_SLA.working_hours_start,
            work_end=winner.work_end or DEFAULT_SLA.working_hours_end,
        ),
    )
    offer.save()
    lead.stage = Stage.OFFERED
    lead.offered_at = now
    lead.save(update_fields=["stage", "offered_at", "updated_at"])
    audit_record(
        actor=decision.actor, action="lead.offered", target=lead, partner=Partner(pk=winner.pk),
        data={"offer": offer.pk, "deadline": offer.deadline.isoformat(), "decision": decision.pk},
    )  # fmt: skip
    notify(
        users=_sellers(winner.pk),
        kind=NotificationKind.LEAD_OFFERED,
        title=_("New lead offered: %(title)s") % {"title": lead.title},
        body=_("Accept or decline before %(deadline)s.")
        % {"deadline": timezone.localtime(offer.deadline, timezone=ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")},
        url=reverse("leads:offer_list"),
    )
    webhook_emit(
        event="lead.offered",
        partner=winner.pk,
        payload={"lead": lead.pk, "offer": offer.pk, "title": lead.title, "deadline": offer.deadline},
    )
    return offer


def _lock_offer(offer: Offer) -> Offer:
    return Offer.objects.select_for_update().select_related("lead").get(pk=offer.pk)


def offer_accept(*, offer: Offer, user: User) -> Lead:
    """The partner takes the lead: it becomes a registered deal owned by `user` with a first-contact deadline."""
    with transaction.atomic():
        offer = _lock_offer(offer)
        if user.partner_id != offer.partner_id:
            raise ValidationError(_("This offer is not for your company."))
        now = timezone.now()
        if offer.status != OfferStatus.PENDING:
            raise ValidationError(
                _("This offer is no longer open (%(status)s).") % {"status": offer.get_status_display()}
            )
        if now >= offer.deadline:
            raise ValidationError(_("The acceptance deadline has passed."))
        offer.status = OfferStatus.ACCEPTED
        offer.responded_at, offer.responded_by = now, user
        offer.save(update_fields=["status", "responded_at", "responded_by", "updated_at"])
        lead = Lead.objects.select_for_update().get(pk=offer.lead_id)
        partner = Partner.objects.select_related("sla_policy", "home_region").get(pk=offer.partner_id)
        lead.partner, lead.owner, lead.stage, lead.accepted_at = partner, user, Stage.REGISTERED, now
        lead.first_contact_due = partner_deadline(
            partner=partner, start=now, hours=_sla_for(partner).first_contact_within_hours
        )
        lead.full_clean(exclude=["customer", "competencies"])
        lead.save()
        audit_record(actor=user, action="offer.accepted", target=lead, partner=partner, data={"offer": offer.pk})
        webhook_emit(
            event="lead.accepted",
            partner=partner,
            payload={"lead": lead.pk, "offer": offer.pk, "first_contact_due": lead.first_contact_due},
        )
        return lead


def offer_decline(*, offer: Offer, user: User, reason: str) -> RoutingDecision:
    """The partner passes; the lead goes straight to the next eligible partner."""
    if not reason.strip():
        raise ValidationError({"reason": _("Please say why you decline.")})
    with transaction.atomic():
        offer = _lock_offer(offer)
        if user.partner_id != offer.partner_id:
            raise ValidationError(_("This offer is not for your company."))
        if offer.status != OfferStatus.PENDING:
            raise ValidationError(
                _("This offer is no longer open (%(status)s).") % {"status": offer.get_status_display()}
            )
        return _close_and_reroute(offer=offer, status=OfferStatus.DECLINED, user=user, reason=reason.strip())


def _close_and_reroute(*, offer: Offer, status: str, user: User | None, reason: str) -> RoutingDecision:
    offer.status, offer.responded_at, offer.responded_by, offer.reason = status, timezone.now(), user, reason
    offer.save(update_fields=["status", "responded_at", "responded_by", "reason", "updated_at"])
    Lead.objects.filter(pk=offer.lead_id).update(route_failures=F("route_failures") + 1)
    audit_record(
        actor=user, action=f"offer.{status}", target=offer.lead, partner=Partner(pk=offer.partner_id),
        reason=reason, data={"offer": offer.pk},
    )  # fmt: skip
    return lead_route(lead=offer.lead)


def offer_expire(*, offer: Offer, now: datetime | None = None) -> RoutingDecision | None:
    """Expire one offer whose deadline passed and re-route its lead; a no-op if it was answered meanwhile."""
    now = now or timezone.now()
    with transaction.atomic():
        offer = _lock_offer(offer)
        if offer.status != OfferStatus.PENDING or offer.deadline > now:
            return None
        return _expire_locked(offer)


def _expire_locked(offer: Offer) -> RoutingDecision:
    notify(
        users=_sellers(offer.partner_id),
        kind=NotificationKind.OFFER_EXPIRED,
        title=_("Offer expired: %(title)s") % {"title": offer.lead.title},
        body=_("The acceptance deadline passed; the lead went to another partner."),
        url=reverse("leads:offer_list"),
    )
    return _close_and_reroute(offer=offer, status=OfferStatus.EXPIRED, user=None, reason=_("Deadline passed."))


def offers_expire(*, now: datetime | None = None, batch: int = 100) -> int:
    """Expire all due offers. Workers claim rows with SKIP LOCKED, so several can run at once; idempotent."""
    now = now or timezone.now()
    done, failed = 0, []
    while True:
        with transaction.atomic():
            qs = (
                Offer.objects.filter(status=OfferStatus.PENDING, deadline__lte=now)
                .exclude(pk__in=failed)
                .select_related("lead")
            )
            if connection_supports_skip_locked():
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            claimed = list(qs.order_by("deadline", "pk")[:batch])
            for offer in claimed:
                try:
                    with transaction.atomic():
                        _expire_locked(offer)
                        done += 1
                except Exception:  # one broken lead must not block the others
                    failed.append(offer.pk)
                    logger.exception("could not expire offer %s", offer.pk)
        if len(claimed) < batch:
            return done


def offer_withdraw(*, offer: Offer, actor: User, reason: str) -> Lead:
    """A channel manager takes an open offer back; the lead waits in the queue."""
    if not reason.strip():
        raise ValidationError({"reason": _("A reason is required.")})
    with transaction.atomic():
        offer = _lock_offer(offer)
        if offer.status != OfferStatus.PENDING:
            raise ValidationError(_("This offer is no longer open."))
        offer.status, offer.responded_at, offer.responded_by, offer.reason = (
            OfferStatus.WITHDRAWN, timezone.now(), actor, reason,
        )  # fmt: skip
        offer.save(update_fields=["status", "responded_at", "responded_by", "reason", "updated_at"])
        lead = Lead.objects.select_for_update().get(pk=offer.lead_id)
        lead.stage = Stage.QUEUE
        lead.save(update_fields=["stage", "updated_at"])
        audit_record(actor=actor, action="offer.withdrawn", target=lead, reason=reason, data={"offer": offer.pk})
        return lead


def lead_assign_manual(*, lead: Lead, partner: Partner, actor: User, reason: str) -> Lead:
    """A channel manager hands the lead to a partner directly (recorded as a manual routing decision)."""
    if not reason.strip():
        raise ValidationError({"reason": _("A reason is required.")})
    if partner.status != PartnerStatus.ACTIVE:
        raise ValidationError({"partner": _("Only active partners can receive leads.")})
    with transaction.atomic():
        pending = Offer.objects.select_for_update().filter(lead_id=lead.pk, status=OfferStatus.PENDING).first()
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if lead.partner_id or lead.stage not in (Stage.NEW, Stage.OFFERED, Stage.QUEUE):
            raise ValidationError(_("This lead already has a partner."))
        now = timezone.now()
        if pending:
            pending.status, pending.responded_at, pending.responded_by, pending.reason = (
                OfferStatus.WITHDRAWN, now, actor, reason,
            )  # fmt: skip
            pending.save(update_fields=["status", "responded_at", "responded_by", "reason", "updated_at"])
        partner = Partner.objects.select_related("sla_policy", "home_region").get(pk=partner.pk)
        RoutingDecision.objects.create(
            lead=lead, chosen=partner, rule="manual", manual=True, actor=actor, reason=reason
        )
        lead.partner, lead.stage, lead.accepted_at = partner, Stage.REGISTERED, now
        lead.offered_at = lead.offered_at or now
        lead.first_contact_due = partner_deadline(
            partner=partner, start=now, hours=_sla_for(partner).first_contact_within_hours
        )
        lead.save()
        audit_record(actor=actor, action="lead.assigned", target=lead, partner=partner, reason=reason)
        notify(
            users=_sellers(partner.pk),
            kind=NotificationKind.LEAD_OFFERED,
            title=_("Lead assigned to your company: %(title)s") % {"title": lead.title},
            body=reason,
            url=reverse("leads:deal_detail", args=[lead.pk]),
        )
        return lead


# --- intake ----------------------------------------------------------------------------------------------------


def lead_create(
    *,
    title: str,
    customer_name: str,
    kind: str,
    region,
    competencies=(),
    customer_tax_id: str = "",
    customer_domain: str = "",
    value: Decimal = Decimal(0),
    currency: str = "RUB",
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    products: str = "",
    notes: str = "",
    source: str = LeadSource.VENDOR,
    source_system: str = "",
    external_id: str = "",
    actor: User | None = None,
    route: bool = True,
) -> Lead:
    """Create a vendor lead (web form, CSV import, API) and, by default, route it at once."""
    with transaction.atomic():
        customer = None
        if customer_tax_id:
            customer = Customer.objects.filter(tax_id=customer_tax_id).order_by("pk").first()
        if customer is None:
            customer = Customer(
                name=customer_name, normalized_name=" ".join(customer_name.lower().split()), tax_id=customer_tax_id,
                domain=customer_domain.lower(), region=region,
            )  # fmt: skip
            customer.full_clean()
            customer.save()
        lead = Lead(
            customer=customer, title=title, kind=kind, source=source, stage=Stage.NEW, region=region, value=value,
            currency=currency, contact_name=contact_name, contact_email=contact_email, contact_phone=contact_phone,
            products=products, notes=notes, source_system=source_system, external_id=external_id,
        )  # fmt: skip
        lead.full_clean()
        lead.save()
        lead.competencies.set(competencies)
        audit_record(actor=actor, action="lead.created", target=lead, data={"source": source})
        if route:
            lead_route(lead=lead, actor=actor)
            lead.refresh_from_db()
        return lead


@dataclass
class ImportResult:
    created: list[Lead] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


CSV_COLUMNS = ["title", "customer", "tax_id", "domain", "kind", "region", "competencies", "value", "currency",
               "contact_name", "contact_email", "contact_phone", "products", "external_id"]  # fmt: skip


def leads_import_csv(*, data: bytes | str, actor: User | None) -> ImportResult:
    """Import leads from CSV: each good row is created and routed; each bad row is reported with its line."""
    from leads.routing_forms import LeadRowForm

    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    result = ImportResult()
    reader = csv.DictReader(io.StringIO(text))
    missing = {"title", "customer", "kind", "region"} - set(reader.fieldnames or [])
    if missing:
        result.errors.append((1, _("Missing columns: %(cols)s") % {"cols": ", ".join(sorted(missing))}))
        return result
    for row in reader:
        line = reader.line_num
        if None in row:
            result.errors.append((line, _("More values than columns.")))
            continue
        form = LeadRowForm(data={k: (v or "").strip() for k, v in row.items() if k})
        if not form.is_valid():
            result.errors.append((line, _row_errors(form)))
            continue
        d = form.cleaned_data
        try:
            lead = lead_create(
                title=d["title"], customer_name=d["customer"], customer_tax_id=d["tax_id"], customer_domain=d["domain"],
                kind=d["kind"], region=d["region"], competencies=d["competencies"], value=d["value"] or Decimal(0),
                currency=d["currency"] or "RUB", contact_name=d["contact_name"], contact_email=d["contact_email"],
                contact_phone=d["contact_phone"], products=d["products"], source=LeadSource.IMPORT,
                source_system="csv" if d["external_id"] else "", external_id=d["external_id"], actor=actor,
            )  # fmt: skip
        except ValidationError as exc:
            result.errors.append((line, "; ".join(exc.messages)))
            continue
        result.created.append(lead)
    return result


def _row_errors(form) -> str:
    return "; ".join(
        f"{name}: {' '.join(str(m) for m in messages)}" if name != "__all__" else " ".join(str(m) for m in messages)
        for name, messages in form.errors.items()
    )
