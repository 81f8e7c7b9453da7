"""Partner.open_load, kept by database triggers, always equals the recount open_routed_load()."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Lead, Offer, OfferStatus, ReclaimReason, Stage
from leads.services import offers, routing
from leads.services.conflict import leads_reclaim
from leads.services.deals import deal_stage_change
from partners.models import Partner
from tests.leads.routing_factories import region, routing_partner, tier_only_weights, vendor_lead
from tests.prm.factories import PartnerUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def assert_exact():
    rows = list(Partner.objects.annotate(recount=routing.open_routed_load()).values_list("open_load", "recount"))
    assert rows and all(counter == recount for counter, recount in rows), rows


def test_open_load_follows_every_kind_of_change():
    msk = region("msk")
    tier_only_weights()
    a = routing_partner(regions=[msk], weight=1)
    b = routing_partner(regions=[msk], weight=1)
    rep_a, rep_b = PartnerUserFactory(partner=a), PartnerUserFactory(partner=b)
    cm = UserFactory(role="channel_manager")
    reps = {a.pk: rep_a, b.pk: rep_b}

    leads = [vendor_lead(region=msk) for _ in range(6)]
    routing.leads_route_batch(leads=leads[:3])  # batch offers
    for lead in leads[3:]:
        routing.lead_route(lead=lead)  # single offers
    assert_exact()
    assert sum(Partner.objects.values_list("open_load", flat=True)) == 6

    def pending(lead):
        return Offer.objects.get(lead=lead, status=OfferStatus.PENDING)

    offer = pending(leads[0])
    offers.offer_accept(offer=offer, user=reps[offer.partner_id])  # pending → open deal: same partner
    assert_exact()
    offer = pending(leads[1])
    offers.offer_decline(offer=offer, user=reps[offer.partner_id], reason="busy")  # re-routed to the other one
    assert_exact()
    offer = pending(leads[2])
    offers.offer_expire(offer=offer, now=offer.deadline + timedelta(minutes=1))
    assert_exact()
    offers.offer_withdraw(offer=pending(leads[3]), actor=cm, reason="customer asked")
    assert_exact()
    offer = pending(leads[4])
    other = b if offer.partner_id == a.pk else a
    offers.lead_assign_manual(lead=leads[4], partner=other, actor=cm, reason="named account")
    assert_exact()

    deal = Lead.objects.get(pk=leads[0].pk)
    Lead.objects.filter(pk=deal.pk).update(stage=Stage.PROPOSAL)  # an edit outside the services counts too
    deal_stage_change(lead=deal, to_stage=Stage.LOST, actor=None, lost_reason="budget")
    assert_exact()

    owned = Lead.objects.get(pk=leads[4].pk)
    owned.reclaims.create(
        partner_id=owned.partner_id, reason=ReclaimReason.IDLE, flagged_at=timezone.now() - timedelta(days=9),
        reclaim_due=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    leads_reclaim()  # taken back and routed again
    assert_exact()

    Offer.objects.filter(lead=leads[5]).delete()
    Lead.objects.filter(pk__in=[lead.pk for lead in leads[1:3]]).delete()
    assert_exact()


@pytest.mark.django_db(transaction=True)  # as the demo seed runs it: outside a transaction
def test_bulk_loads_with_counting_paused_end_with_exact_counters():
    msk = region("msk")
    partners = [routing_partner(regions=[msk], capacity=50) for _ in range(3)]
    with routing.open_load_counting_paused():
        for i, lead in enumerate(vendor_lead(region=msk) for _ in range(9)):
            lead.offers.create(
                partner=partners[i % 3], offered_at=timezone.now(), deadline=timezone.now() + timedelta(hours=4)
            )
    assert_exact()
    assert sorted(Partner.objects.values_list("open_load", flat=True)) == [3, 3, 3]


def test_one_statement_of_offers_counts_once_per_partner():
    """A statement's new offers (a routed batch) are added per partner in one UPDATE: exact counters, and on
    PostgreSQL one change-feed row per partner rather than one per offer."""
    from django.db import connection

    from prm.models import Change

    msk = region("msk")
    partners = [routing_partner(regions=[msk], capacity=50) for _ in range(3)]
    leads = [vendor_lead(region=msk) for _ in range(9)]
    now = timezone.now()
    before = Change.objects.filter(resource="partners").count()
    Offer.objects.bulk_create(
        Offer(lead=lead, partner=partners[i % 3], offered_at=now, deadline=now + timedelta(hours=4),
              status=OfferStatus.DECLINED if i == 8 else OfferStatus.PENDING)
        for i, lead in enumerate(leads)
    )  # fmt: skip
    assert_exact()
    assert sorted(Partner.objects.filter(pk__in=[p.pk for p in partners]).values_list("open_load", flat=True)) == [
        2, 3, 3
    ]  # fmt: skip
    if connection.vendor == "postgresql":
        assert Change.objects.filter(resource="partners").count() - before == 3
