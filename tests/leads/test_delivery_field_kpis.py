"""On-site visits count for the field partner that accepted them: the clocks of the dispatched ticket that were still
running when it accepted join its response/resolution within SLA (the responsible partner keeps counting them
too); clocks decided before it accepted stay out. The scorecard says so."""

import datetime
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kpi.services.snapshots import day_end, kpi_snapshots_compute
from leads.delivery import services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.dispatch import ticket_dispatch
from leads.delivery.kpis import service_kpis
from leads.delivery.models import Dispatch, Priority, TicketKind, TicketStatus
from leads.models import Offer, OfferStatus
from leads.services.offers import offer_accept
from partners.models import PartnerType, ProgramModel
from prm.models import Role
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import CustomerFactory
from tests.partners.factories import PartnerFactory, RegionFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def field(db):
    far = RegionFactory()
    partner = PartnerFactory(
        name="Field Ltd",
        program_model=ProgramModel.FULL_CYCLE,
        partner_type=PartnerType.OPERATIONAL,
        home_region=far,
        regions=[far],
    )
    partner.engineer = PartnerUserFactory(partner=partner, role=Role.PARTNER_ADMIN)
    return partner


def _visit(*, contract, actor, field, opened_at):
    ticket = services.ticket_open(
        contract=contract, actor=actor, title="Till", kind=TicketKind.ONSITE, priority=Priority.P1, at=opened_at
    )
    return ticket


def _accept(ticket, actor, field):
    ticket_dispatch(ticket=ticket, actor=actor)
    lead = Dispatch.objects.get(ticket=ticket).work_order
    offer_accept(offer=Offer.objects.get(lead=lead, status=OfferStatus.PENDING), user=field.engineer)


@pytest.fixture
def world(partner_admin, field):
    now = timezone.now()
    customer = CustomerFactory(region=field.home_region)
    contract = ServiceContractFactory(partner=partner_admin.partner, customer=customer, onsite_included=True)
    # 1: dispatched and accepted while both clocks run; then answered and resolved in time.
    fresh = _visit(contract=contract, actor=partner_admin, field=field, opened_at=now - timedelta(minutes=10))
    _accept(fresh, partner_admin, field)
    # 2: its response clock (P1: 30 min) breached before anyone was dispatched; the visit then resolves it in time.
    stale = _visit(contract=contract, actor=partner_admin, field=field, opened_at=now - timedelta(hours=2))
    tickets_flag_breaches(now=now)
    _accept(stale, partner_admin, field)
    for ticket in (fresh, stale):
        services.ticket_transition(ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin)
        services.ticket_transition(ticket=ticket, to_status=TicketStatus.RESOLVED, actor=partner_admin)
    return {"responsible": partner_admin.partner, "field": field}


def _kpis():
    today = timezone.localdate()
    end = day_end(today)
    return service_kpis(start=end - datetime.timedelta(days=90), end=end, on=today)


def test_the_field_partner_counts_only_the_clocks_it_could_still_make(world):
    kpis = _kpis()
    field, responsible = kpis[world["field"].pk], kpis[world["responsible"].pk]
    # Field partner: the response of visit 1 (the breach of visit 2 came before it accepted), both resolutions.
    assert field["response_in_sla_pct"] == 100 and field["resolution_in_sla_pct"] == 100
    # The responsible partner keeps the liability: both tickets, the stale response breached.
    assert responsible["response_in_sla_pct"] == 50 and responsible["resolution_in_sla_pct"] == 100
    # Its other post-sale figures are the responsible partner's alone.
    assert field["reopen_rate_pct"] is None and field["ontime_golive_pct"] is None


def test_a_late_visit_lowers_the_field_partners_resolution_figure(partner_admin, field):
    now = timezone.now()
    customer = CustomerFactory(region=field.home_region)
    contract = ServiceContractFactory(partner=partner_admin.partner, customer=customer, onsite_included=True)
    ticket = _visit(contract=contract, actor=partner_admin, field=field, opened_at=now - timedelta(hours=3))
    services.ticket_transition(ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin,
                               at=now - timedelta(hours=3) + timedelta(minutes=5))  # fmt: skip
    _accept(ticket, partner_admin, field)  # the resolution clock (P1: 4 h) still runs
    tickets_flag_breaches(now=now + timedelta(hours=2))  # the visit took too long: breached after acceptance
    kpis = _kpis()[field.pk]
    assert kpis["resolution_in_sla_pct"] == 0
    assert kpis["response_in_sla_pct"] is None  # answered before the dispatch: not the field partner's


def test_the_nightly_snapshot_and_the_scorecard_explain_it(world, client_for):
    kpi_snapshots_compute(on=timezone.localdate())
    from kpi.models import KpiSnapshot

    snapshot = KpiSnapshot.objects.get(partner=world["field"], date=timezone.localdate())
    assert snapshot.response_in_sla_pct == 100 and snapshot.resolution_in_sla_pct == 100
    page = client_for(world["field"].engineer).get(reverse("kpi:scorecard")).content.decode()
    assert "On-site visits you accepted from another partner count too" in page
