"""The routing pool kept in memory per process follows every change that affects who may receive a lead."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import LeadKind, RoutingPoolVersion, RoutingWeights
from leads.services import routing
from partners.models import Partner, PartnerStatus, PartnerType, ProgramModel
from tests.leads.routing_factories import competency, region, routing_partner, vendor_lead

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def version_row(routing_pool_version):
    return routing_pool_version


def chosen(lead):
    return routing.lead_route(lead=lead).chosen_id


def version():
    return RoutingPoolVersion.objects.get().number


def test_each_kind_of_change_gives_a_new_version():
    msk, spb, erp = region("msk"), region("spb"), competency("erp")
    partner = routing_partner(regions=[msk])
    seen = [version()]

    def changed():
        seen.append(version())
        return seen[-1] != seen[-2]

    partner.regions.add(spb)
    assert changed()
    partner.competencies.add(erp)
    assert changed()
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.SUSPENDED)
    assert changed()
    Partner.objects.filter(pk=partner.pk).update(program_model=ProgramModel.DISTRIBUTOR)
    assert changed()
    RoutingWeights.objects.create(tier_points=7)
    assert changed()
    Partner.objects.filter(pk=partner.pk).update(lead_capacity=3, sla_score=50)  # not pool inputs
    assert not changed()


def test_a_decision_reuses_the_pool_until_it_changes():
    msk = region("msk")
    routing_partner(regions=[msk])
    routing.lead_route(lead=vendor_lead(region=msk))
    lead = vendor_lead(region=msk)
    with CaptureQueriesContext(connection) as queries:
        routing.lead_route(lead=lead)
    assert not [q for q in queries if "partners_partner_competencies" in q["sql"]]  # the pool was not reloaded


def test_routing_follows_regions_competencies_status_model_and_weights():
    msk, spb, erp = region("msk"), region("spb"), competency("erp")
    a = routing_partner(regions=[msk], competencies=[erp])
    assert chosen(vendor_lead(region=spb)) is None  # nobody serves spb; the pool is now loaded
    b = routing_partner(regions=[spb])
    assert chosen(vendor_lead(region=spb)) == b.pk  # a new partner
    a.regions.add(spb)
    b.regions.remove(spb)
    assert chosen(vendor_lead(region=spb)) == a.pk  # regions added and removed
    a.competencies.remove(erp)
    assert chosen(vendor_lead(region=spb, competencies=[erp])) is None  # a competency dropped
    a.competencies.add(erp)
    a.status = PartnerStatus.SUSPENDED
    a.save()
    assert chosen(vendor_lead(region=spb, competencies=[erp])) is None  # suspended
    a.status, a.program_model = PartnerStatus.ACTIVE, ProgramModel.DISTRIBUTOR
    a.save()
    assert chosen(vendor_lead(region=spb, competencies=[erp])) is None  # no longer takes implementations
    assert chosen(vendor_lead(region=spb, competencies=[erp], kind=LeadKind.LICENSE)) == a.pk
    Partner.objects.filter(pk=a.pk).update(partner_type=PartnerType.OPERATIONAL)
    assert chosen(vendor_lead(region=spb, kind=LeadKind.ONSITE_SERVICE)) == a.pk
    RoutingWeights.objects.create(tier_points=7, sla_points=0, win_rate_points=0, rating_points=0)
    decision = routing.lead_route(lead=vendor_lead(region=spb, kind=LeadKind.LICENSE))
    assert decision.candidates["points"][:2] == [7, 0]  # the weights in force


def test_a_pool_without_its_version_row_is_built_afresh_every_time():
    msk = region("msk")
    routing_partner(regions=[msk])
    RoutingPoolVersion.objects.all().delete()
    routing.lead_route(lead=vendor_lead(region=msk))
    late = routing_partner(regions=[region("spb")])
    assert chosen(vendor_lead(region=late.regions.get())) == late.pk
