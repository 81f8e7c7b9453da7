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


def _hold_partner_rows(ids, held: threading.Event, release: threading.Event):
    """Another router's transaction: holds the partner rows `ids` until `release` is set."""
    from django.db import transaction

    from partners.models import Partner

    try:
        with transaction.atomic():
            list(Partner.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
            held.set()
            release.wait(20)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_second_router_takes_the_next_turns_instead_of_waiting(postgres_only):
    """While a router holds the earliest turns of a region, another router's decision does not queue behind it:
    it is made at once among the next earliest turns (SKIP LOCKED), and the stored rotation stays consistent."""
    msk = region("msk")
    tier_only_weights()
    partners = [routing_partner(regions=[msk], weight=1) for _ in range(2 * routing.SHORTLIST + 6)]
    first = sorted(p.pk for p in partners)[: routing.SHORTLIST + 1]  # what routing one lead locks
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_partner_rows, args=(first, held, release))
    holder.start()
    try:
        assert held.wait(10)
        lead = vendor_lead(region=msk)
        result = {}

        def route():
            try:
                result["decision"] = routing.lead_route(lead=lead)
            finally:
                connection.close()

        router = threading.Thread(target=route)
        router.start()
        router.join(5)
        assert not router.is_alive(), "the second router waited for the rows the first holds"
        decision = result["decision"]
        assert decision.chosen_id not in first
        assert decision.chosen_id == min(set(p.pk for p in partners) - set(first))  # the next earliest turn
        shortlisted = [c["partner_id"] for c in decision_candidates(decision=decision)]
        assert not set(shortlisted) & set(first) and len(shortlisted) == routing.SHORTLIST
    finally:
        release.set()
        holder.join(20)
    assert_no_lost_turn()


@pytest.mark.django_db(transaction=True)
def test_a_router_waits_when_another_holds_all_it_may_choose_from(postgres_only):
    """With too few candidates left unheld (here: none), the router gives back what it took and waits in id order,
    then decides as a router alone would: the earliest turn of all its candidates."""
    msk = region("msk")
    tier_only_weights()
    partners = sorted((routing_partner(regions=[msk], weight=w) for w in (1, 2, 3)), key=lambda p: p.pk)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_partner_rows, args=([partners[0].pk], held, release))
    holder.start()
    try:
        assert held.wait(10)
        lead = vendor_lead(region=msk)
        result = {}

        def route():
            try:
                result["decision"] = routing.lead_route(lead=lead)
            finally:
                connection.close()

        router = threading.Thread(target=route)
        router.start()
        router.join(1)
        assert router.is_alive(), "the router decided without one of its three candidates"
        release.set()
        router.join(10)
        assert result["decision"].chosen_id == partners[0].pk  # all turns 0: the lowest id
    finally:
        release.set()
        holder.join(20)
    assert_no_lost_turn()
