"""Tickets, clocks, implementations and the breach job against the database."""

import datetime
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kpi.models import CommissionEntry, EntryKind
from leads.delivery import services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.models import (
    ClockAction,
    ClockEvent,
    ClockKind,
    ClockState,
    Coverage,
    ImplementationStatus,
    Priority,
    ServiceCredit,
    TicketStatus,
)
from leads.models import Stage
from tests.leads.delivery_factories import ServiceContractFactory, SlaTemplateFactory
from tests.leads.factories import CustomerFactory, LeadFactory

T0 = datetime.datetime(2026, 3, 2, 7, 0, tzinfo=datetime.UTC)  # Monday 10:00 in Moscow


@pytest.fixture
def contract(partner):
    return ServiceContractFactory(partner=partner)


def clock(ticket, kind):
    return ticket.clocks.get(kind=kind)


def test_contract_starts_as_a_copy_of_the_vendors_template(partner, channel_manager):
    template = SlaTemplateFactory(coverage=Coverage.BUSINESS_HOURS, penalty_per_breach=Decimal("700"))
    customer = CustomerFactory()
    customer.region.timezone = "Asia/Yekaterinburg"
    LeadFactory(partner=partner, customer=customer)
    contract = services.contract_create(
        customer=customer, partner=partner, actor=channel_manager, starts_on=datetime.date(2026, 1, 1), monthly_fee=1000
    )
    assert contract.template == template
    assert (contract.coverage, contract.penalty_per_breach, contract.targets) == (
        Coverage.BUSINESS_HOURS,
        Decimal("700"),
        template.targets,
    )
    assert contract.timezone == "Asia/Yekaterinburg"


@pytest.mark.parametrize(
    "targets",
    [
        {"p1": {"response_minutes": 30, "resolution_minutes": 240}},
        "x",
        {p: {"response_minutes": 0, "resolution_minutes": 1} for p in ["p1", "p2", "p3", "p4"]},
    ],
)
def test_bad_targets_are_refused(partner, channel_manager, targets):
    with pytest.raises(ValidationError):
        services.contract_create(
            customer=LeadFactory(partner=partner).customer,
            partner=partner,
            actor=channel_manager,
            starts_on=datetime.date(2026, 1, 1),
            targets=targets,
        )


def test_ticket_lifecycle_moves_the_clocks_and_audits_every_change(contract, partner_admin):
    ticket = services.ticket_open(
        contract=contract, actor=partner_admin, title="Tills down", priority=Priority.P1, at=T0
    )
    response, resolution = clock(ticket, ClockKind.RESPONSE), clock(ticket, ClockKind.RESOLUTION)
    assert response.due_at == T0 + timedelta(minutes=30)
    assert resolution.due_at == T0 + timedelta(hours=4)

    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.WAITING_CUSTOMER, actor=partner_admin, at=T0 + timedelta(minutes=10)
    )
    response, resolution = clock(ticket, ClockKind.RESPONSE), clock(ticket, ClockKind.RESOLUTION)
    assert response.state == ClockState.STOPPED and response.breached_at is None
    assert resolution.state == ClockState.PAUSED and resolution.due_at is None

    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0 + timedelta(hours=2, minutes=10)
    )
    assert clock(ticket, ClockKind.RESOLUTION).due_at == T0 + timedelta(hours=6)

    services.ticket_set_priority(
        ticket=ticket, priority=Priority.P2, actor=partner_admin, at=T0 + timedelta(hours=3, minutes=10)
    )
    resolution = clock(ticket, ClockKind.RESOLUTION)
    assert resolution.elapsed_seconds == 70 * 60  # kept across the priority change
    assert resolution.due_at == T0 + timedelta(hours=3, minutes=10) + timedelta(minutes=960 - 70)

    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.RESOLVED, actor=partner_admin, at=T0 + timedelta(hours=4)
    )
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0 + timedelta(hours=5)
    )
    ticket.refresh_from_db()
    assert ticket.reopen_count == 1 and ticket.resolved_at is None
    actions = list(ClockEvent.objects.filter(clock__ticket=ticket).values_list("clock__kind", "action"))
    assert actions == [
        ("response", ClockAction.START),
        ("resolution", ClockAction.START),
        ("response", ClockAction.STOP),
        ("resolution", ClockAction.PAUSE),
        ("resolution", ClockAction.RESUME),
        ("resolution", ClockAction.RETARGET),
        ("response", ClockAction.RETARGET),
        ("resolution", ClockAction.STOP),
        ("resolution", ClockAction.REOPEN),
    ]


@pytest.mark.parametrize(("field", "value"), [("priority", "p9"), ("kind", "repair"), ("status", "done")])
def test_bad_input_is_refused_and_changes_nothing(contract, partner_admin, field, value):
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="Printer", at=T0)
    before = list(ClockEvent.objects.values_list("pk", flat=True))
    with pytest.raises(ValidationError):
        if field == "status":
            services.ticket_transition(ticket=ticket, to_status=value, actor=partner_admin)
        elif field == "priority":
            services.ticket_set_priority(ticket=ticket, priority=value, actor=partner_admin)
        else:
            services.ticket_open(contract=contract, actor=partner_admin, title="x", kind=value)
    assert list(ClockEvent.objects.values_list("pk", flat=True)) == before


def test_a_contract_only_for_the_partners_own_customer(partner, other_partner, channel_manager):
    customer = LeadFactory(partner=other_partner).customer
    with pytest.raises(ValidationError):
        services.contract_create(
            customer=customer, partner=partner, actor=channel_manager, starts_on=datetime.date(2026, 1, 1)
        )


def test_onsite_needs_a_contract_that_includes_it(partner, partner_admin):
    contract = ServiceContractFactory(partner=partner, onsite_included=False)
    with pytest.raises(ValidationError):
        services.ticket_open(contract=contract, actor=partner_admin, title="Visit", kind="onsite")


def test_breach_job_flags_books_penalty_and_credit_once(contract, partner_admin):
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="Down", priority=Priority.P1, at=T0)
    assert tickets_flag_breaches(now=T0 + timedelta(minutes=25))["warned"] == 1  # 80 % of 30 min
    counts = tickets_flag_breaches(now=T0 + timedelta(minutes=31))
    assert counts["breached"] == 1
    response = clock(ticket, ClockKind.RESPONSE)
    assert response.breached_at == T0 + timedelta(minutes=30)
    assert tickets_flag_breaches(now=T0 + timedelta(minutes=40))["breached"] == 0
    # Responding late now does not book a second time.
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0 + timedelta(minutes=45)
    )
    penalties = CommissionEntry.objects.filter(kind=EntryKind.PENALTY)
    assert [(p.amount, p.partner_id) for p in penalties] == [(Decimal("-5000.00"), ticket.partner_id)]
    credit = ServiceCredit.objects.get()
    assert (credit.amount, credit.clock_id) == (Decimal("5000.00"), response.pk)  # 5 % of 100,000


def test_a_late_stop_books_the_breach_without_the_job(contract, partner_admin):
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="Down", priority=Priority.P1, at=T0)
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0 + timedelta(hours=1)
    )
    assert clock(ticket, ClockKind.RESPONSE).breached_at == T0 + timedelta(minutes=30)
    assert CommissionEntry.objects.filter(source_key__startswith="penalty:ticket_clock:").count() == 1
    assert tickets_flag_breaches(now=T0 + timedelta(hours=1, minutes=1))["breached"] == 0


def test_credits_are_capped_per_month(partner, partner_admin):
    contract = ServiceContractFactory(
        partner=partner, credit_pct_per_breach=Decimal("20"), credit_cap_pct=Decimal("30")
    )
    for i in range(3):
        services.ticket_open(contract=contract, actor=partner_admin, title=f"T{i}", priority=Priority.P1, at=T0)
    tickets_flag_breaches(now=T0 + timedelta(hours=5))
    # Six breached clocks, 20 % each, capped at 30 % of the fee: 20 % + 10 %.
    assert sorted(ServiceCredit.objects.values_list("amount", flat=True)) == [Decimal("10000.00"), Decimal("20000.00")]


def test_the_job_scans_only_due_clocks(contract, partner_admin, django_assert_max_num_queries):
    for i in range(5):
        services.ticket_open(contract=contract, actor=partner_admin, title=f"T{i}", at=T0)
    with django_assert_max_num_queries(9):  # three claims, each in its own savepoint
        assert tickets_flag_breaches(now=T0 + timedelta(minutes=1)) == {
            "breached": 0,
            "warned": 0,
            "milestones_late": 0,
        }


def test_implementation_opens_when_the_deal_is_won_and_goes_live_by_sign_off(
    partner_admin, partner_engineer, other_partner_rep
):
    from leads.services.deals import deal_stage_change

    lead = LeadFactory(partner=partner_admin.partner, owner=partner_admin, stage=Stage.NEGOTIATION)
    deal_stage_change(lead=lead, to_stage=Stage.WON, actor=partner_admin)
    implementation = lead.implementation
    assert implementation.owner == partner_admin and implementation.status == ImplementationStatus.PLANNED
    with pytest.raises(ValidationError):
        services.implementation_update(implementation=implementation, actor=partner_admin, owner=other_partner_rep)
    services.implementation_update(
        implementation=implementation,
        actor=partner_admin,
        team=[partner_engineer],
        planned_go_live=datetime.date(2026, 5, 1),
    )
    milestone = services.milestone_add(
        implementation=implementation,
        actor=partner_admin,
        title="Pilot",
        due_on=timezone.localdate() - timedelta(days=1),
    )
    assert tickets_flag_breaches()["milestones_late"] == 1
    assert tickets_flag_breaches()["milestones_late"] == 0
    services.milestone_complete(milestone=milestone, actor=partner_admin)
    services.implementation_sign_off(implementation=implementation, name="Ivan Petrov")
    implementation.refresh_from_db()
    assert implementation.status == ImplementationStatus.LIVE
    with pytest.raises(ValidationError):
        services.implementation_sign_off(implementation=implementation, name="Again")


def test_a_resolved_p1_incident_owes_a_downtime_credit_once(contract, partner_admin):
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="Down", priority=Priority.P1, at=T0)
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0 + timedelta(minutes=10)
    )
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.WAITING_CUSTOMER, actor=partner_admin, at=T0 + timedelta(hours=1)
    )
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.RESOLVED, actor=partner_admin, at=T0 + timedelta(hours=5)
    )
    credit = ServiceCredit.objects.get(reason="downtime")
    # One hour of downtime (the four hours waiting for the customer do not count) at 1 % of 100,000 per hour.
    assert (credit.percent, credit.amount) == (Decimal("1.00"), Decimal("1000.00"))
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0 + timedelta(hours=6)
    )
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.RESOLVED, actor=partner_admin, at=T0 + timedelta(hours=7)
    )
    assert ServiceCredit.objects.filter(reason="downtime").count() == 1
