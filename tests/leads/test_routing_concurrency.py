"""Real concurrent connections on PostgreSQL: row locks keep accept/expiry and the rotation consistent."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leads.models import Lead, Offer, OfferStatus, RoutingCredit, RoutingDecision
from leads.selectors.routing import decision_candidates
from leads.services import offers, routing
from tests.leads.routing_factories import region, routing_partner, tier_only_weights, vendor_lead
from tests.prm.factories import PartnerUserFactory


def run_together(*targets):
    barrier = threading.Barrier(len(targets))
    results, errors = {}, []

    def wrap(name, fn):
        try:
            barrier.wait()
            results[name] = fn()
        except Exception as exc:  # collected and asserted on below
            errors.append((name, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(f"t{i}", fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_accept_and_expiry_at_the_deadline_never_give_two_owners(postgres_only):
    msk = region("msk")
    tier_only_weights()
    first = routing_partner(regions=[msk], weight=5)
    second = routing_partner(regions=[msk], weight=1)
    rep = PartnerUserFactory(partner=first)
    outcomes = set()
    for _ in range(6):
        lead = vendor_lead(region=msk)
        routing.lead_route(lead=lead)
        # Whoever the rotation picked, the race is about `first`'s offer reaching its deadline right now.
        deadline = timezone.now() + timedelta(seconds=5)
        lead.offers.filter(status=OfferStatus.PENDING).update(partner=first, deadline=deadline)
        offer = lead.offers.get(status=OfferStatus.PENDING)
        results, errors = run_together(
            lambda offer=offer: offers.offer_accept(offer=offer, user=rep),
            lambda deadline=deadline: offers.offers_expire(now=deadline),
        )
        offer.refresh_from_db()
        lead.refresh_from_db()
        assert offer.status in (OfferStatus.ACCEPTED, OfferStatus.EXPIRED)
        if offer.status == OfferStatus.ACCEPTED:
            assert lead.partner_id == first.pk and lead.owner_id == rep.pk
            assert results["t1"] == 0 and not errors
            assert not lead.offers.filter(status=OfferStatus.PENDING).exists()
        else:
            assert lead.partner_id is None  # the accept saw the expired offer and was refused
            assert [name for name, _ in errors] == ["t0"]
            assert lead.offers.get(status=OfferStatus.PENDING).partner_id == second.pk
        assert lead.offers.filter(status=OfferStatus.ACCEPTED).count() <= 1
        outcomes.add(offer.status)
    assert outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_routers_keep_the_rotation_consistent(postgres_only):
    msk = region("msk")
    tier_only_weights()
    partners = [routing_partner(regions=[msk], weight=w, capacity=1000) for w in (1, 2, 3, 4)]
    batches = [[vendor_lead(region=msk) for _ in range(5)] for _ in range(4)]

    def route(leads):
        return [routing.lead_route(lead=lead).chosen_id for lead in leads]

    results, errors = run_together(*[lambda b=b: route(b) for b in batches])
    assert not errors
    # Each decision moves its winner's turn on from where the previous one left it (no lost update), and 20
    # leads split exactly 2/4/6/8.
    assert_no_lost_turn()
    wins = [Offer.objects.filter(partner=p).count() for p in partners]
    assert wins == [2, 4, 6, 8]
    assert Lead.objects.filter(stage="offered").count() == 20


def assert_no_lost_turn():
    """Every winner's turn moved on from where its previous win left it, and the stored turns are the last ones."""
    last = {}
    for d in RoutingDecision.objects.filter(chosen__isnull=False).order_by("pk"):
        chosen = next(c for c in decision_candidates(decision=d) if c["chosen"])
        assert chosen["credit_before"] >= last.get(d.chosen_id, 0), (d.pk, chosen, last.get(d.chosen_id))
        last[d.chosen_id] = chosen["credit_after"]
    assert dict(RoutingCredit.objects.values_list("partner_id", "credit")) == last
