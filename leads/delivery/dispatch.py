"""On-site dispatch: a ticket that needs a visit goes to an operational partner in the customer's region when the
responsible partner has no field presence there.

No second router: the work order is a lead of kind on-site service (source `dispatch`) created by the intake rule and
routed by `lead_route` to operational partners serving the region, with the business-hour acceptance deadline of
offers and re-routing when an offer expires or is declined (leads.services.offers). Work orders neither claim the
customer nor are held back by claims on it. The ticket, its SLA clocks and the liability stay with the responsible
partner, who sees the work order's clocks; the subcontractor sees only the work order (a deal in its pipeline).
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from leads.models import Lead, LeadKind, LeadSource, Offer, OfferStatus, Stage
from leads.services.intake import lead_create
from leads.services.routing import partner_sellers, partners_lock
from prm.models import NotificationKind, WebhookEvent
from prm.permissions import is_partner_user, is_vendor
from prm.selectors import partner_admins
from prm.services import audit_record, notify
from prm.texts import N_, compose, dumps, render
from prm.webhooks import webhook_emit

from .models import OPEN_TICKET_STATUSES, Dispatch, Ticket, TicketKind, TicketStatus


def partner_has_field_presence(*, partner, region_id) -> bool:
    """The partner serves the region itself (the region is among its regions)."""
    return region_id is not None and partner.regions.filter(pk=region_id).exists()


def ticket_dispatch(*, ticket: Ticket, actor) -> Dispatch:
    """Offer the on-site work of `ticket` to an operational partner in the customer's region: once while the ticket
    is open, and again after it was reopened (resolving or cancelling ends a dispatch: `work_order_withdraw`).
    The constraint `dispatch_one_live_per_ticket` keeps one live dispatch per ticket whatever the door."""
    if not (is_vendor(actor) or (is_partner_user(actor) and actor.partner_id == ticket.partner_id)):
        raise ValidationError(_("Only the responsible partner or the vendor can dispatch this ticket."))
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(no_key=True, of=("self",))
            .select_related("customer__region", "partner")
            .get(pk=ticket.pk)
        )
        if ticket.kind != TicketKind.ONSITE:
            raise ValidationError({"kind": _("Only on-site work orders are dispatched.")})
        if ticket.status not in OPEN_TICKET_STATUSES:
            raise ValidationError({"status": _("Only open tickets are dispatched.")})
        if Dispatch.objects.filter(ticket=ticket, ended_at__isnull=True).exists():
            raise ValidationError(_("This ticket has already been dispatched."))
        customer = ticket.customer
        if customer.region_id is None:
            raise ValidationError(_("The customer has no region: a field partner cannot be chosen."))
        if partner_has_field_presence(partner=ticket.partner, region_id=customer.region_id):
            raise ValidationError(
                _("%(partner)s serves %(region)s itself: send your own engineer.")
                % {"partner": ticket.partner.name, "region": customer.region}
            )
        lead = lead_create(
            title=_("On-site visit: %(title)s") % {"title": ticket.title},
            customer_name=customer.name,
            customer=customer,
            kind=LeadKind.ONSITE_SERVICE,
            region=customer.region,
            contact_name=ticket.contact_name,
            notes=ticket.description,
            source=LeadSource.DISPATCH,
            actor=actor if getattr(actor, "pk", None) else None,
        )
        dispatch = Dispatch.objects.create(
            ticket=ticket, work_order=lead, partner_id=ticket.partner_id, created_by=actor
        )
        audit_record(
            actor=actor, action="ticket.dispatched", target=ticket, partner=ticket.partner, data={"work_order": lead.pk}
        )
    return dispatch


def work_order_accepted(*, lead, partner) -> None:
    """A field partner took the work order (leads.services.offers.offer_accept): the responsible partner is told who
    and by when the visit is due."""
    dispatch = Dispatch.objects.select_related("ticket").filter(work_order=lead).first()
    if dispatch is None:
        return
    ticket = dispatch.ticket
    notify(
        users=[*partner_admins(partner=dispatch.partner_id), dispatch.created_by, ticket.opened_by],
        kind=NotificationKind.SERVICE_SLA,
        title=compose(N_("Visit accepted: ticket #%(id)s %(title)s"), id=ticket.pk, title=ticket.title),
        body=compose(
            N_("%(partner)s will make the visit; first contact is due by %(due)s."),
            partner=partner.name,
            due=lead.first_contact_due,
        ),
        url=reverse("delivery:ticket_detail", args=[ticket.pk]),
    )


# The ticket moves that end the need for a visit (leads.delivery.services.ticket_transition calls the rule below).
WORK_ORDER_ENDING_STATUSES = (TicketStatus.CANCELLED, TicketStatus.RESOLVED)


def work_order_withdraw(*, ticket: Ticket, status: str, actor) -> Lead | None:
    """The ticket behind a work order was cancelled or resolved: a visit nobody has accepted yet is no longer wanted.

    The live dispatch ends (`ended_at`) whatever its work order's state, so a reopened ticket can be dispatched
    again through `ticket_dispatch`.

    Its pending offer is withdrawn (webhook `offer.withdrawn`, the offered partner's sellers are told) and the work
    order is closed as lost with the reason, so it neither waits in the channel managers' queue nor is re-routed. A
    work order a field partner already accepted stays its deal; on a cancellation its owner and admins are told.
    Called inside the transaction that moves the ticket (ticket row locked); lock order offer -> lead -> partner,
    as in leads.services.offers, so a concurrent acceptance either wins (the visit stays) or finds the offer closed.
    """
    if status not in WORK_ORDER_ENDING_STATUSES:
        return None
    dispatch = Dispatch.objects.filter(ticket_id=ticket.pk, ended_at__isnull=True).only("work_order_id").first()
    if dispatch is None:
        return None
    now = timezone.now()
    Dispatch.objects.filter(pk=dispatch.pk).update(ended_at=now)
    offer = Offer.objects.select_for_update().filter(lead_id=dispatch.work_order_id, status=OfferStatus.PENDING).first()
    lead = Lead.objects.select_for_update().get(pk=dispatch.work_order_id)
    if lead.partner_id is not None:  # accepted: the field partner's own deal from now on
        if status == TicketStatus.CANCELLED:
            notify(
                users=[*partner_admins(partner=lead.partner_id), lead.owner],
                kind=NotificationKind.SERVICE_SLA,
                title=compose(N_("Work order cancelled: %(title)s"), title=lead.title),
                body=compose(
                    N_("The customer's ticket behind this work order was cancelled: check before you travel."),
                ),
                url=reverse("leads:deal_detail", args=[lead.pk]),
            )
        return lead
    if lead.stage not in (Stage.NEW, Stage.OFFERED, Stage.QUEUE):
        return lead  # closed already
    cancelled = status == TicketStatus.CANCELLED
    reason = compose(
        N_("The ticket was cancelled before a field partner accepted the visit.")
        if cancelled
        else N_("The ticket was resolved before a field partner accepted the visit.")
    )
    if offer is not None:
        partners_lock(ids=[offer.partner_id])  # closing the offer changes its partner's open_load
        offer.status, offer.responded_at, offer.reason = OfferStatus.WITHDRAWN, now, dumps(reason)
        offer.responded_by = actor if getattr(actor, "pk", None) else None
        offer.save(update_fields=["status", "responded_at", "responded_by", "reason", "updated_at"])
        webhook_emit(
            event=WebhookEvent.OFFER_WITHDRAWN, partner=offer.partner_id, payload={"offer": offer.pk, "lead": lead.pk}
        )
        notify(
            users=partner_sellers([offer.partner_id]),
            kind=NotificationKind.OFFER_EXPIRED,
            title=compose(N_("Offer withdrawn: %(title)s"), title=lead.title),
            body=compose(
                N_("The customer's ticket was cancelled: the visit is no longer needed.")
                if cancelled
                else N_("The customer's ticket was resolved: the visit is no longer needed.")
            ),
            url=reverse("leads:offer_list"),
        )
    with translation.override("en"):  # a plain text column, also typed by people: the English wording
        lost_reason = render(reason)[:300]
    lead.stage, lead.closed_at, lead.lost_reason = Stage.LOST, now, lost_reason
    lead.save(update_fields=["stage", "closed_at", "lost_reason", "updated_at"])
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        action="work_order.withdrawn",
        target=lead,
        reason=reason,
        data={"ticket": ticket.pk, "offer": offer.pk if offer else None, "status": status},
    )
    return lead


@dataclass
class DispatchView:
    """What the responsible partner sees of the subcontractor's work: who holds it and its clocks."""

    dispatch: Dispatch
    stage: str
    subcontractor: str  # the partner that accepted, or "" while offered or queued
    offer_deadline: datetime | None  # the pending offer's acceptance deadline
    visit_due: datetime | None  # first contact due (the field partner's SLA)
    visited_at: datetime | None
    ended_at: datetime | None  # the ticket was resolved or cancelled after this dispatch
    number: int  # 1 for the first dispatch of the ticket, 2 after a reopen, …


def dispatch_view(*, ticket: Ticket) -> DispatchView | None:
    """The ticket's newest dispatch (the live one, if any)."""
    dispatches = list(Dispatch.objects.select_related("work_order__partner").filter(ticket=ticket)[:1])
    if not dispatches:
        return None
    dispatch = dispatches[0]
    lead = dispatch.work_order
    pending = Offer.objects.filter(lead=lead, status=OfferStatus.PENDING).values_list("deadline", flat=True).first()
    return DispatchView(
        dispatch=dispatch,
        stage=lead.get_stage_display(),
        subcontractor=lead.partner.name if lead.partner_id else "",
        offer_deadline=pending,
        visit_due=lead.first_contact_due,
        visited_at=lead.first_contact_at,
        ended_at=dispatch.ended_at,
        number=Dispatch.objects.filter(ticket=ticket).count(),
    )
