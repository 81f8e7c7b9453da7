"""Nightly post-sale KPIs: on-time go-live, response/resolution within SLA, reopen rate; and tiers that ask for them."""

import datetime
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kpi.models import KpiSnapshot
from kpi.selectors import requirement_progress
from kpi.services.snapshots import kpi_snapshots_compute, snapshot_values
from leads.delivery import services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.kpis import service_kpis
from leads.delivery.models import Implementation, Priority, TicketStatus
from partners.models import Metric, TierRequirement
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import LeadFactory
from tests.partners.factories import TierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(partner_admin):
    partner = partner_admin.partner
    now = timezone.now()
    contract = ServiceContractFactory(partner=partner)
    t0 = now - timedelta(days=3)
    ok = services.ticket_open(contract=contract, actor=partner_admin, title="ok", priority=Priority.P1, at=t0)
    services.ticket_transition(
        ticket=ok, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=t0 + timedelta(minutes=5)
    )
    services.ticket_transition(
        ticket=ok, to_status=TicketStatus.RESOLVED, actor=partner_admin, at=t0 + timedelta(hours=1)
    )
    late = services.ticket_open(contract=contract, actor=partner_admin, title="late", priority=Priority.P1, at=t0)
    services.ticket_transition(
        ticket=late, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=t0 + timedelta(hours=2)
    )
    services.ticket_transition(
        ticket=late, to_status=TicketStatus.RESOLVED, actor=partner_admin, at=t0 + timedelta(hours=3)
    )
    services.ticket_transition(
        ticket=late, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=t0 + timedelta(hours=4)
    )
    # Still running, within its time: no verdict yet. Cancelled: never counts.
    services.ticket_open(
        contract=contract, actor=partner_admin, title="open", priority=Priority.P4, at=now - timedelta(minutes=1)
    )
    cancelled = services.ticket_open(contract=contract, actor=partner_admin, title="x", priority=Priority.P1, at=t0)
    services.ticket_transition(
        ticket=cancelled, to_status=TicketStatus.CANCELLED, actor=partner_admin, at=t0 + timedelta(hours=9)
    )
    tickets_flag_breaches(now=now)
    today = timezone.localdate()
    for days_ago, signed in ((10, 10), (5, 6), (2, None)):  # late sign-off, on time, not live and past due
        won = LeadFactory(partner=partner, stage="won", won_at=now)
        Implementation.objects.create(
            lead=won,
            partner=partner,
            customer=won.customer,
            planned_go_live=today - timedelta(days=days_ago),
            status="live" if signed else "in_progress",
            signed_off_at=(now - timedelta(days=signed)) if signed else None,
        )
    Implementation.objects.filter(planned_go_live=today - timedelta(days=10)).update(
        signed_off_at=now - timedelta(days=8)
    )
    return partner


def test_service_kpis_per_partner(world):
    end = timezone.now() + timedelta(hours=1)
    row = service_kpis(start=end - timedelta(days=90), end=end, on=timezone.localdate())[world.pk]
    # Response: "ok" met, "late" breached; the running P4 has no verdict; the cancelled one never counts.
    assert row["response_in_sla_pct"] == Decimal("50.00")
    # Resolution: "ok" stopped in time; "late" was reopened three days ago with 1 h left and breached since.
    assert row["resolution_in_sla_pct"] == Decimal("50.00")
    assert row["reopen_rate_pct"] == Decimal("50.00")
    assert row["ontime_golive_pct"] == Decimal("33.33")


def test_nightly_snapshot_and_tier_requirement_use_them(world):
    today = timezone.localdate()
    kpi_snapshots_compute(on=today)
    snapshot = KpiSnapshot.objects.get(partner=world, date=today)
    assert (snapshot.response_in_sla_pct, snapshot.ontime_golive_pct) == (Decimal("50.00"), Decimal("33.33"))
    tier = TierFactory()
    TierRequirement.objects.create(tier=tier, metric=Metric.SLA_RESPONSE, threshold=90)
    [row] = requirement_progress(tier=tier, values=snapshot_values(snapshot))
    assert not row["met"] and "within SLA" in row["needed"] and "90%" in row["needed"]


def test_no_service_data_leaves_the_kpis_empty(partner):
    kpi_snapshots_compute(on=datetime.date(2026, 1, 10))
    snapshot = KpiSnapshot.objects.get(partner=partner)
    assert snapshot.response_in_sla_pct is None and snapshot.reopen_rate_pct is None
