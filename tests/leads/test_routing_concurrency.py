"""Real concurrent connections on PostgreSQL: row locks keep accept/expiry and the rotation consistent."""

import random
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Offer, OfferStatus, RoutingCredit, RoutingDecision
from leads.selectors.routing import decision_candidates
from leads.services import offers, routing
from partners.models import Partner, ProgramModel
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


@pytest.mark.parametrize("epoch", [0, 1, 7])
@pytest.mark.parametrize("held", [2, 3, 4, 5, 6, 12])
def test_batches_side_by_side_share_every_class_out_once(held, epoch):
    lanes = random.Random(held).sample(range(routing.LANES), held)
    shares = [routing.lane_deal(mine=lane, others=[o for o in lanes if o != lane], epoch=epoch) for lane in lanes]
    dealt = [c for share in shares for c in share]
    assert sorted(dealt) == list(range(routing.LANES))  # every class to exactly one batch
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert routing.lane_deal(mine=lanes[0], others=[], epoch=epoch) is None  # alone: every partner
    if held == 2:  # the deal moves on with the epoch
        assert routing.lane_deal(mine=lanes[0], others=[lanes[1]], epoch=epoch + 1) == shares[1]


@pytest.mark.django_db(transaction=True)
def test_a_batch_beside_another_decides_among_its_own_class_of_partners(
    postgres_only, monkeypatch, client_for, channel_manager
):
    """Two batches routing at once deal the partners out by class (id mod LANES) instead of reaching past each
    other's locked rows; a partner claiming a lead's customer still gets the lead whatever its class."""
    monkeypatch.setattr(routing, "LANE_EPOCH", 10**12)  # one deal for the whole test
    msk = region("msk")
    tier_only_weights()
    partners = [routing_partner(regions=[msk], capacity=100) for _ in range(4 * routing.LANES)]
    assert len(partners) >= routing.LANE_MIN
    franchises = {}
    for code in ("spb", "nsk"):  # consecutive ids: one of them is outside the batch's classes
        franchises[code] = routing_partner(
            regions=[area := region(code)], program_model=ProgramModel.FRANCHISE, exclusive_region=area
        )
    assert franchises["spb"].pk % 2 != franchises["nsk"].pk % 2
    leads = [vendor_lead(region=msk) for _ in range(10)] + [vendor_lead(region=region(c)) for c in franchises]
    dealt = []
    monkeypatch.setattr(
        routing, "lane_deal", lambda deal=routing.lane_deal, **kw: dealt.append(deal(**kw)) or dealt[-1]
    )
    seen, held, release = {}, threading.Event(), threading.Event()

    def other_batch():
        try:
            with transaction.atomic():
                seen["alone"] = routing._lane_classes()
                held.set()
                release.wait(20)
        finally:
            connection.close()

    holder = threading.Thread(target=other_batch)
    holder.start()
    try:
        assert held.wait(10)
        decisions = routing.leads_route_batch(leads=leads)
    finally:
        release.set()
        holder.join(20)
    assert seen["alone"] is None  # the first batch alone decides among all
    classes = dealt[-1]
    assert len(classes) == routing.LANES // 2
    in_msk = [d.chosen_id for d in decisions[:10]]
    assert all(pk % routing.LANES in classes for pk in in_msk)
    mine = sorted(p.pk for p in partners if p.pk % routing.LANES in classes)
    assert sorted(in_msk) == mine[:10]  # the earliest turns (all 0: lowest ids) of its own classes
    assert [d.chosen_id for d in decisions[10:]] == [f.pk for f in franchises.values()]
    assert_no_lost_turn()
    # The decision says so: why a partner with an earlier turn in another class was not on its shortlist.
    assert [d.candidates.get("lane") for d in decisions] == [classes] * 10 + [None, None]
    html = client_for(channel_manager).get(reverse("leads:routing_lead", args=[leads[0].pk])).content.decode()
    assert "more eligible partners had later turns or were left to routers deciding at the same time" in html
    assert f"whose id leaves {', '.join(map(str, classes))} when divided by 12" in html


@pytest.mark.django_db(transaction=True)
def test_two_batches_that_start_together_each_see_the_other(postgres_only, monkeypatch):
    """A batch takes its lane when it starts and lists the others only when it deals the classes (after reading its
    leads' eligible partners): two routers woken together both route in a lane, the classes split between them."""
    monkeypatch.setattr(routing, "LANE_EPOCH", 10**12)
    taken, listed, shares = threading.Barrier(2), threading.Barrier(2), {}

    def batch(name):
        try:
            with transaction.atomic():
                lane = routing._lane_take()
                taken.wait(10)  # both lanes held before either lists the others
                shares[name] = routing._lane_classes(lane=lane)
                listed.wait(10)
        finally:
            connection.close()

    threads = [threading.Thread(target=batch, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert shares["a"] is not None and shares["b"] is not None
    assert sorted(shares["a"] + shares["b"]) == list(range(routing.LANES))


@pytest.mark.django_db(transaction=True)
def test_a_lead_whose_partners_in_the_lane_are_full_goes_to_one_in_another_class(postgres_only, monkeypatch):
    msk = region("msk")
    tier_only_weights()
    partners = [routing_partner(regions=[msk], capacity=5) for _ in range(routing.LANE_MIN + 2)]
    spare = partners[-1]
    Partner.objects.filter(pk__in=[p.pk for p in partners[:-1]]).update(lead_capacity=0)  # no room
    monkeypatch.setattr(
        routing, "_lane_classes", lambda **kw: [c for c in range(routing.LANES) if c % 2 != spare.pk % 2]
    )
    decisions = routing.leads_route_batch(leads=[vendor_lead(region=msk) for _ in range(2)])
    assert [d.chosen_id for d in decisions] == [spare.pk, spare.pk]
