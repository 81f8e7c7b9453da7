"""Demo data for post-sale delivery: implementations and tickets in every state for the demo full-cycle partner,
written through the same services as the portal (so clocks, events, penalties and credits are real)."""

import datetime as dt
from datetime import timedelta
from decimal import Decimal

from django.db import transaction

from leads.delivery import checkins, services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.dispatch import ticket_dispatch
from leads.delivery.models import CheckIn, Coverage, Implementation, Milestone, SlaTemplate, Ticket, TicketStatus
from leads.models import Lead, Stage
from partners.models import Partner, PartnerStatus, PartnerType, Region
from prm.models import Role, User

# (title, priority, kind, hours ago opened, [(status, hours after opening)], rating)
TICKETS = [
    ("Cash registers do not print receipts", "p1", "incident", 0.2, [], None),
    ("New store needs 12 user accounts", "p3", "request", 26, [("in_progress", 2)], None),
    ("Barcode scanners lose connection", "p2", "incident", 30, [("in_progress", 1), ("waiting_customer", 3)], None),
    ("Replace the broken server disk on site", "p2", "onsite", 72, [("in_progress", 1), ("resolved", 20)], 5),
    ("Price tags show old prices", "p3", "incident", 200, [("in_progress", 3), ("resolved", 30), ("closed", 60)], 4),
    ("Duplicate ticket", "p4", "request", 50, [("cancelled", 1)], None),
    ("Loyalty cards rejected at checkout", "p1", "incident", 50, [("in_progress", 3)], None),  # breached
    (
        "Reports are empty after the update",
        "p2",
        "incident",
        120,
        [("in_progress", 1), ("resolved", 5), ("in_progress", 30)],
        None,
    ),
]


def delivery_seed(*, partner_id: int, now: dt.datetime) -> int:
    """Returns the number of rows written (roughly: implementations, milestones, contracts, tickets)."""
    admin = User.objects.filter(partner_id=partner_id, role=Role.PARTNER_ADMIN).order_by("id").first()
    engineer = User.objects.filter(partner_id=partner_id, role=Role.PARTNER_ENGINEER).order_by("id").first() or admin
    won = list(Lead.objects.filter(partner_id=partner_id, stage=Stage.WON).order_by("id")[:4])
    if admin is None or not won:
        return 0
    today = now.date()
    rows = 0
    far = _far_region(partner_id)
    if far is not None and len(won) > 1:  # the second customer's store is where the partner has no engineers
        customer = won[1].customer
        customer.region = far
        customer.save(update_fields=["region"])
    with transaction.atomic():
        SlaTemplate.objects.create(  # the published SLA every contract below starts from
            name="Network service SLA",
            coverage=Coverage.BUSINESS_HOURS,
            onsite_included=True,
            penalty_per_breach=Decimal("3000"),
            description="One SLA for the whole partner network: response and resolution times per priority, "
            "service credits for breaches, on-site work included.",
        )
        plans = [  # (planned go-live, signed off, status, milestones: (title, due offset, done offset))
            (
                today - timedelta(days=40),
                now - timedelta(days=41),
                "live",
                [("Kick-off", -80, -80), ("Pilot store", -55, -56)],
            ),
            (today + timedelta(days=20), None, "in_progress", [("Kick-off", -30, -30), ("Data migration", -5, None)]),
            (today - timedelta(days=3), None, "in_progress", [("Pilot store", -10, -9), ("Staff training", 4, None)]),
            (today + timedelta(days=60), None, "planned", [("Kick-off", 7, None)]),
        ]
        contracts = []
        for lead, (go_live, signed, status, milestones) in zip(won, plans):
            implementation = services.implementation_open(lead=lead, actor=admin, owner=admin, planned_go_live=go_live)
            implementation.team.set([engineer])
            Implementation.objects.filter(pk=implementation.pk).update(
                status=status, signed_off_at=signed, signed_off_by="Customer's IT director" if signed else ""
            )
            Milestone.objects.bulk_create(
                Milestone(
                    implementation=implementation,
                    title=title,
                    due_on=today + timedelta(days=due),
                    owner=engineer,
                    done_at=now + timedelta(days=done) if done is not None else None,
                )
                for title, due, done in milestones
            )
            rows += 1 + len(milestones)
            if len(contracts) < 2:
                contracts.append(
                    services.contract_create(
                        customer=lead.customer,
                        partner=lead.partner,
                        lead=lead,
                        actor=admin,
                        starts_on=today - timedelta(days=90),
                        number=f"SC-{lead.pk}",
                        monthly_fee=Decimal("150000"),
                        support_owner=engineer,
                        coverage=Coverage.ALWAYS if contracts else Coverage.BUSINESS_HOURS,
                    )
                )
                rows += 1
        for i, (title, priority, kind, ago, moves, rating) in enumerate(TICKETS):
            opened = now - timedelta(hours=ago)
            ticket = services.ticket_open(
                contract=contracts[i % len(contracts)],
                actor=admin,
                title=title,
                priority=priority,
                kind=kind,
                at=opened,
            )
            for status, after in moves:
                services.ticket_transition(
                    ticket=ticket, to_status=status, actor=engineer, at=opened + timedelta(hours=after)
                )
            if rating:
                Ticket.objects.filter(pk=ticket.pk, status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED]).update(
                    rating=rating, rated_at=now
                )
            rows += 1
        tickets_flag_breaches(now=now)
        # The customer's voice: the 30-day check-in of the live implementation, answered with consent.
        checkins.checkins_create_due(today=today)
        for checkin in CheckIn.objects.filter(partner_id=partner_id).order_by("id")[:1]:
            checkins.checkin_answer(
                checkin=checkin,
                rating=4,
                comment="The team stayed with us after go-live; one scanner issue took a day too long.",
                author_name="IT director",
                consent_publish=True,
            )
            rows += 1
        if far is not None and len(contracts) > 1:
            visit = services.ticket_open(
                contract=contracts[1],
                actor=admin,
                title="Install the self-checkout kiosks in the new store",
                priority="p3",
                kind="onsite",
                at=now - timedelta(hours=2),
            )
            ticket_dispatch(ticket=visit, actor=admin)
            # A visit the customer no longer needed: cancelled before anyone accepted, its offer withdrawn.
            called_off = services.ticket_open(
                contract=contracts[1],
                actor=admin,
                title="Replace the broken receipt printer",
                priority="p3",
                kind="onsite",
                at=now - timedelta(hours=3),
            )
            ticket_dispatch(ticket=called_off, actor=admin)
            services.ticket_transition(ticket=called_off, to_status=TicketStatus.CANCELLED, actor=admin)
            rows += 4
    return rows


def _far_region(partner_id: int):
    """A region the partner does not serve where an operational partner does (for the dispatch story)."""
    served = Partner.regions.through.objects.filter(partner_id=partner_id).values("region_id")
    return (
        Region.objects.exclude(pk__in=served)
        .filter(partners__status=PartnerStatus.ACTIVE, partners__partner_type=PartnerType.OPERATIONAL)
        .order_by("pk")
        .first()
    )
