"""Step 2 of the flow, answered: a partner accepts or declines an offer, offers expire (and the lead is re-routed),
the vendor withdraws an offer or assigns a lead by hand.

Lock order everywhere: offer row -> lead rows -> partner rows (see leads.services.routing).
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import (
    Lead,
    LeadSource,
    Offer,
    OfferStatus,
    RoutingDecision,
    Stage,
)
from leads.selectors.registration import customer_claims
from leads.services.routing import (
    lead_partners_lock,
    lead_route,
    partner_deadline,
    partner_sellers,
    partner_sla,
    partners_lock,
)
from partners.models import Partner, PartnerStatus
from prm.models import NotificationKind, User, WebhookEvent
from prm.selectors import channel_managers
from prm.services import audit_record, connection_supports_skip_locked, notify
from prm.texts import N_, compose, dumps
from prm.webhooks import webhook_emit

logger = logging.getLogger(__name__)


def _lock_offer(offer: Offer) -> Offer:
    return Offer.objects.select_for_update().select_related("lead").get(pk=offer.pk)


# What the partner is told when its acceptance goes to a channel manager. Never which partner holds the customer.
MSG_HELD_FOR_REVIEW = N_(
    "Another partner already protects this customer; a channel manager will decide who takes this lead."
)


def offer_accept(*, offer: Offer, user: User) -> Lead:
    """The partner takes the lead: it becomes a registered deal owned by `user` with a first-contact deadline.

    When meanwhile another partner protects the customer (the one claims rule), the lead is not accepted: the
    offer is closed and the lead waits in the channel managers' queue (stage QUEUE), who decide who takes it.
    """
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
        if _protected_by_another(offer=offer):
            return _hold_for_review(offer=offer, user=user, now=now)
        offer.status = OfferStatus.ACCEPTED
        offer.responded_at, offer.responded_by = now, user
        offer.save(update_fields=["status", "responded_at", "responded_by", "updated_at"])
        lead = Lead.objects.select_for_update().get(pk=offer.lead_id)
        partner = Partner.objects.select_related("sla_policy", "home_region").get(pk=offer.partner_id)
        lead.partner, lead.owner, lead.stage, lead.accepted_at = partner, user, Stage.REGISTERED, now
        lead.first_contact_due = partner_deadline(
            partner=partner, start=now, hours=partner_sla(partner).first_contact_within_hours
        )
        lead.full_clean(exclude=["customer", "competencies"])
        lead.save()
        audit_record(actor=user, action="offer.accepted", target=lead, partner=partner, data={"offer": offer.pk})
        webhook_emit(
            event="lead.accepted",
            partner=partner,
            payload={"lead": lead.pk, "offer": offer.pk, "first_contact_due": lead.first_contact_due},
        )
        if lead.source == LeadSource.DISPATCH:
            from leads.delivery.dispatch import work_order_accepted

            work_order_accepted(lead=lead, partner=partner)
        return lead


def _protected_by_another(*, offer: Offer) -> bool:
    if offer.lead.source == LeadSource.DISPATCH:  # a subcontracted work order: the customer stays with its partner
        return False
    customer = offer.lead.customer
    claims = customer_claims(
        tax_id=customer.tax_id, domain=customer.domain, partner=offer.partner_id, exclude_lead_ids=[offer.lead_id]
    )
    return any(not m.reserved for m in claims.hard)


def _hold_for_review(*, offer: Offer, user: User, now) -> Lead:
    """Close the offer and put the lead in the channel managers' queue (offer row locked by the caller)."""
    reason = compose(MSG_HELD_FOR_REVIEW)  # stored as a code: each reader sees it in their language
    lead = Lead.objects.select_for_update().get(pk=offer.lead_id)
    partners_lock(ids=[offer.partner_id])  # closing the offer changes its partner's open_load
    offer.status, offer.responded_at, offer.responded_by = OfferStatus.WITHDRAWN, now, user
    offer.reason = dumps(reason)
    offer.save(update_fields=["status", "responded_at", "responded_by", "reason", "updated_at"])
    lead.stage = Stage.QUEUE
    lead.save(update_fields=["stage", "updated_at"])
    RoutingDecision.objects.create(lead=lead, chosen=None, rule="protected_customer", reason=dumps(reason))
    audit_record(
        actor=user, action="offer.held_for_review", target=lead, partner=Partner(pk=offer.partner_id),
        reason=reason, data={"offer": offer.pk},
    )  # fmt: skip
    notify(
        users=channel_managers(),
        kind=NotificationKind.REVIEW_QUEUE,
        title=compose(N_("Lead needs manual routing: %(title)s"), title=lead.title),
        body=reason,
        url=reverse("leads:routing_lead", args=[lead.pk]),
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


def _close_and_reroute(*, offer: Offer, status: str, user: User | None, reason: str | dict) -> RoutingDecision:
    # Closing the offer changes its partner's open_load (a trigger), and re-routing locks the candidates: lock
    # the lead, then all those partners together in id order, as every router does, so none wait on each other.
    Lead.objects.select_for_update().filter(pk=offer.lead_id).values_list("pk").get()
    lead_partners_lock(lead=offer.lead, also=offer.partner_id)
    offer.status, offer.responded_at, offer.responded_by = status, timezone.now(), user
    offer.reason = dumps(reason)  # a partner's own words as typed, the system's as a code (prm.texts)
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
        users=partner_sellers([offer.partner_id]),
        kind=NotificationKind.OFFER_EXPIRED,
        title=compose(N_("Offer expired: %(title)s"), title=offer.lead.title),
        body=compose(N_("The acceptance deadline passed; the lead went to another partner.")),
        url=reverse("leads:offer_list"),
    )
    webhook_emit(
        event=WebhookEvent.OFFER_EXPIRED,
        partner=offer.partner_id,
        payload={"offer": offer.pk, "lead": offer.lead_id, "deadline": offer.deadline.isoformat()},
    )
    return _close_and_reroute(
        offer=offer, status=OfferStatus.EXPIRED, user=None, reason=compose(N_("Deadline passed."))
    )


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
        webhook_emit(
            event=WebhookEvent.OFFER_WITHDRAWN, partner=offer.partner_id, payload={"offer": offer.pk, "lead": lead.pk}
        )
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
        partners_lock(ids=[partner.pk, pending.partner_id if pending else None])  # both open_loads change: id order
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
            partner=partner, start=now, hours=partner_sla(partner).first_contact_within_hours
        )
        lead.save()
        audit_record(actor=actor, action="lead.assigned", target=lead, partner=partner, reason=reason)
        notify(
            users=partner_sellers([partner.pk]),
            kind=NotificationKind.LEAD_OFFERED,
            title=compose(N_("Lead assigned to your company: %(title)s"), title=lead.title),
            body=reason,
            url=reverse("leads:deal_detail", args=[lead.pk]),
        )
        return lead
