"""RoutingSlot, kept by PostgreSQL triggers (leads migration 0032), always equals what it copies: one row per
partner region with the partner's turn and whether it can take a lead; and the router reads a region's earliest
turns from it in pages bounded by what its decisions need."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import RoutingCredit, RoutingSlot
from leads.services import routing
from partners.models import Partner, PartnerStatus
from tests.leads.routing_factories import competency, region, routing_partner, tier_only_weights, vendor_lead

pytestmark = pytest.mark.django_db


def expected() -> set[tuple]:
    credits = dict(RoutingCredit.objects.values_list("partner_id", "credit"))
    return {
        (region_id, p.pk, credits.get(p.pk, 0), p.status == PartnerStatus.ACTIVE and p.open_load < p.lead_capacity)
        for p in Partner.objects.prefetch_related("regions")
        for region_id in (r.pk for r in p.regions.all())
    }


def assert_exact():
    rows = set(RoutingSlot.objects.values_list("region_id", "partner_id", "credit", "room"))
    assert rows and rows == expected()


def test_slots_follow_links_credits_and_room(postgres_only):
    msk, spb = region("msk"), region("spb")
    tier_only_weights()
    a = routing_partner(regions=[msk, spb], capacity=1)
    b = routing_partner(regions=[msk])
    assert_exact()
    routing.lead_route(lead=vendor_lead(region=msk))  # a's turn moves and a is full (capacity 1)
    assert_exact()
    assert not RoutingSlot.objects.get(partner=a, region=msk).room
    a.regions.remove(spb)
    b.regions.add(spb)
    assert_exact()
    Partner.objects.filter(pk=a.pk).update(lead_capacity=5)
    Partner.objects.filter(pk=b.pk).update(status=PartnerStatus.SUSPENDED)
    assert_exact()
    RoutingCredit.objects.filter(partner=a).delete()
    assert_exact()
    b.delete()
    assert_exact()


def test_a_decision_reads_a_bounded_page_of_a_large_region(postgres_only, routing_pool_version):
    """With many partners in the region, most without the lead's competency, one decision reads a few pages of
    the region's turns, not every partner's, and decides as if it had read them all."""
    msk = region("msk")
    tier_only_weights()
    rare = competency("rare")
    fits = [routing_partner(regions=[msk], competencies=[rare]) for _ in range(20)]
    for _ in range(150):
        routing_partner(regions=[msk])
    # the partners that fit have the latest turns: the read goes past every other partner of the region
    RoutingCredit.objects.bulk_create([RoutingCredit(partner_id=p.pk, credit=1000 - i) for i, p in enumerate(fits)])
    routing.lead_route(lead=vendor_lead(region=msk))  # loads the routing pool
    lead = vendor_lead(region=msk, competencies=[rare])
    with CaptureQueriesContext(connection) as queries:
        decision = routing.lead_route(lead=lead)
    assert decision.chosen_id == fits[-1].pk  # the earliest turn among the partners that fit
    pages = [q["sql"] for q in queries if "leads_routingslot" in q["sql"]]
    assert 1 <= len(pages) <= 3
