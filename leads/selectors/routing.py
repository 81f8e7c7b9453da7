"""Reads for step 2, routing: the channel-manager queue, routing decisions and why this partner."""

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _l

from leads.models import Lead, OfferStatus, RoutingDecision, RoutingWeights, Stage
from leads.services.routing import SCORE_FACTORS, candidate_score, compact_rows, stride_pick
from partners.models import Partner
from prm.permissions import is_vendor
from prm.queues import queue_ageing


def routing_queue(*, viewer) -> QuerySet[Lead]:
    """Leads waiting for a channel manager: failed too often, or nobody eligible."""
    if not is_vendor(viewer):
        return Lead.objects.none()
    return Lead.objects.filter(stage=Stage.QUEUE).select_related("customer", "region").order_by("created_at", "pk")


def decision_list(*, viewer, filters: dict | None = None) -> QuerySet[RoutingDecision]:
    """Recent routing decisions without their (large) candidate lists."""
    if not is_vendor(viewer):
        return RoutingDecision.objects.none()
    filters = filters or {}
    qs = RoutingDecision.objects.select_related("lead", "chosen", "actor").defer("candidates")
    if rule := filters.get("rule"):
        qs = qs.filter(rule=rule)
    if region := filters.get("region"):
        qs = qs.filter(lead__region=region)
    if q := filters.get("q"):
        qs = qs.filter(Q(lead__title__icontains=q) | Q(chosen__name__icontains=q))
    return qs.order_by("-decided_at", "-pk")


def lead_routing_history(*, viewer, lead_id: int) -> dict:
    """One lead with every routing decision (and its candidates) and every offer; vendor staff only."""
    if not is_vendor(viewer):
        raise Lead.DoesNotExist
    lead = Lead.objects.select_related("customer", "region", "partner", "owner").get(pk=lead_id)
    decisions = list(lead.routing_decisions.select_related("chosen", "actor").order_by("-decided_at", "-pk"))
    for d in decisions:
        d.ranked = sorted(
            decision_candidates(decision=d), key=lambda c: (not c.get("chosen"), -c.get("weight", 0), c["partner_id"])
        )
        d.more = decision_more_candidates(decision=d)
        d.lane = d.candidates.get("lane") if isinstance(d.candidates, dict) else None  # routing._lane_classes
        d.stride = isinstance(d.candidates, dict) and d.candidates.get("v", 2) >= 3
        for c in d.ranked:
            c["factor_cells"] = [c.get("factors", {}).get(name, {}) for name in SCORE_FACTORS]
    offers = lead.offers.select_related("partner", "responded_by").order_by("-offered_at", "-pk")
    return {
        "lead": lead,
        "decisions": decisions,
        "offers": offers,
        "pending": next((o for o in offers if o.status == OfferStatus.PENDING), None),
    }


def decision_candidates(*, decision: RoutingDecision) -> list[dict]:
    """The shortlisted candidates of a decision as {partner_id, name, weight, factors, credit_before, credit_after,
    chosen} (the credits are the stride turns; `decision_more_candidates` says how many more were eligible).

    Reads every shape: the compact dict the router writes (v3: stride turns of the shortlist; v2: smooth weighted
    round-robin credits of every candidate) and the list of dicts of earlier decisions.
    """
    stored = decision.candidates
    if not isinstance(stored, dict):
        return list(stored or [])
    tier, sla, win, rating, spare = stored["points"]
    weights = RoutingWeights(
        tier_points=tier, sla_points=sla, win_rate_points=win, rating_points=rating, spare_capacity_points=spare
    )
    rows = compact_rows(stored)
    names = dict(Partner.objects.filter(pk__in=[r[0] for r in rows]).values_list("pk", "name"))
    out = []
    for pk, alloc, sla_score, win_rate, rating_value, load, capacity, credit in rows:
        score = candidate_score(
            allocation_weight=alloc, sla_score=sla_score, win_rate=win_rate, rating=rating_value, load=load,
            capacity=capacity, weights=weights,
        )  # fmt: skip
        out.append(
            {"partner_id": pk, "name": names.get(pk, f"#{pk}"), "weight": score["weight"], "factors": score["factors"],
             "credit_before": credit, "credit_after": credit + score["weight"], "chosen": pk == decision.chosen_id}
        )  # fmt: skip
    if stored.get("v", 2) >= 3:  # stride: only the winner's turn moved (stride_pick, replayed)
        turns = {c["partner_id"]: c["credit_before"] for c in out}
        stride_pick([(c["partner_id"], c["weight"]) for c in out], turns)
        for c in out:
            c["credit_after"] = turns[c["partner_id"]]
        return out
    total = sum(c["weight"] for c in out)
    for c in out:
        if c["chosen"]:
            c["credit_after"] -= total
    return out


def decision_more_candidates(*, decision: RoutingDecision) -> int:
    """How many eligible candidates a decision did not shortlist (their turns were later)."""
    stored = decision.candidates
    return stored.get("more", 0) if isinstance(stored, dict) else 0


def routing_funnel(*, since) -> list[dict]:
    """Vendor leads offered since a moment and how far they got: offered → accepted → first contact → won.
    One aggregate over the leads first offered in the window."""
    row = Lead.objects.filter(offered_at__gte=since).aggregate(
        offered=Count("id"),
        accepted=Count("id", filter=Q(accepted_at__isnull=False)),
        contacted=Count("id", filter=Q(accepted_at__isnull=False, first_contact_at__isnull=False)),
        won=Count("id", filter=Q(accepted_at__isnull=False, stage=Stage.WON)),
    )
    labels = {
        "offered": _l("Offered"),
        "accepted": _l("Accepted"),
        "contacted": _l("First contact"),
        "won": _l("Won"),
    }
    top = row["offered"] or 0
    return [
        {"key": k, "label": labels[k], "count": row[k] or 0, "pct": round(100 * (row[k] or 0) / top) if top else 0}
        for k in labels
    ]


def lead_work_queues() -> list[dict]:
    """The channel managers' lead queues with their ageing, network-wide; each names the list it links to."""
    from leads.models import Dispute, DisputeStatus, Offer, Registration, RegistrationStatus

    return [
        {
            "key": "registrations",
            "label": _l("Registrations to review"),
            "url": "leads:registration_review",
            **queue_ageing(Registration.objects.filter(status=RegistrationStatus.PENDING_REVIEW), "created_at"),
        },
        {
            "key": "routing",
            "label": _l("Leads in the routing queue"),
            "url": "leads:routing_queue",
            **queue_ageing(Lead.objects.filter(stage=Stage.QUEUE), "updated_at"),
        },
        {
            "key": "offers",
            "label": _l("Offers waiting for partners"),
            "url": "leads:routing_queue",
            **queue_ageing(Offer.objects.filter(status=OfferStatus.PENDING), "offered_at"),
        },
        {
            "key": "disputes",
            "label": _l("Open disputes"),
            "url": "leads:dispute_list",
            **queue_ageing(Dispute.objects.filter(status=DisputeStatus.OPEN), "created_at"),
        },
    ]
