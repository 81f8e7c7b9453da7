import heapq
import random
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from leads.models import LeadKind, Offer, OfferStatus, RoutingCredit, RoutingDecision, RoutingWeights, Stage
from leads.selectors.routing import decision_candidates, decision_more_candidates
from leads.services import intake, offers, routing
from partners.models import PartnerStatus, PartnerType, ProgramModel, SlaPolicy
from prm.models import Notification, NotificationKind, Role
from tests.leads.routing_factories import competency, region, routing_partner, tier_only_weights, vendor_lead
from tests.prm.factories import PartnerUserFactory, UserFactory

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
def msk():
    return region("msk")


@pytest.fixture
def erp():
    return competency("erp")


@pytest.fixture
def sec():
    return competency("security")


def eligible_ids(lead):
    return set(routing.eligible_partners(lead=lead).values_list("pk", flat=True))


# --- eligibility --------------------------------------------------------------------------------------------------


def test_eligibility_rules(msk, erp, sec):
    spb = region("spb")
    ok = routing_partner(regions=[msk, spb], competencies=[erp, sec])
    franchise = routing_partner(regions=[msk], competencies=[erp, sec], program_model=ProgramModel.FRANCHISE)
    routing_partner(regions=[spb], competencies=[erp, sec])  # other region
    routing_partner(regions=[msk], competencies=[erp])  # lacks one competency
    routing_partner(regions=[msk], competencies=[erp, sec], status=PartnerStatus.SUSPENDED)
    routing_partner(regions=[msk], competencies=[erp, sec], program_model=ProgramModel.DISTRIBUTOR)
    full = routing_partner(regions=[msk], competencies=[erp, sec], capacity=1)
    vendor_lead(region=msk).offers.create(
        partner=full, offered_at=datetime(2026, 1, 1, tzinfo=MSK), deadline=datetime(2026, 1, 2, tzinfo=MSK)
    )  # its one slot is taken by a pending offer
    declined = routing_partner(regions=[msk], competencies=[erp, sec])
    lead = vendor_lead(region=msk, competencies=[erp, sec])
    lead.offers.create(
        partner=declined,
        status=OfferStatus.DECLINED,
        offered_at=datetime(2026, 1, 1, tzinfo=MSK),
        deadline=datetime(2026, 1, 2, tzinfo=MSK),
    )
    assert eligible_ids(lead) == {ok.pk, franchise.pk}


def test_program_model_by_kind(msk):
    distributor = routing_partner(regions=[msk], program_model=ProgramModel.DISTRIBUTOR)
    reseller = routing_partner(regions=[msk], program_model=ProgramModel.RESELLER)
    full_cycle = routing_partner(regions=[msk], program_model=ProgramModel.FULL_CYCLE)
    operational = routing_partner(
        regions=[msk], program_model=ProgramModel.DISTRIBUTOR, partner_type=PartnerType.OPERATIONAL
    )
    assert eligible_ids(vendor_lead(region=msk, kind=LeadKind.LICENSE)) == {distributor.pk, reseller.pk, operational.pk}
    assert eligible_ids(vendor_lead(region=msk, kind=LeadKind.IMPLEMENTATION)) == {full_cycle.pk}
    assert eligible_ids(vendor_lead(region=msk, kind=LeadKind.ONSITE_SERVICE)) == {operational.pk}


def test_accepted_open_routed_leads_count_against_capacity(msk):
    busy = routing_partner(regions=[msk], capacity=1)
    routing_partner(regions=[msk], capacity=1)
    routed = vendor_lead(region=msk)
    routed.partner, routed.stage, routed.offered_at = busy, Stage.REGISTERED, datetime(2026, 1, 1, tzinfo=MSK)
    routed.save()
    assert busy.pk not in eligible_ids(vendor_lead(region=msk))
    routed.stage, routed.won_at = Stage.WON, routed.offered_at
    routed.save()
    assert busy.pk in eligible_ids(vendor_lead(region=msk))


def test_eligibility_is_one_query(msk, erp, sec, django_assert_num_queries):
    for _ in range(5):
        routing_partner(regions=[msk], competencies=[erp, sec])
    lead = vendor_lead(region=msk, competencies=[erp, sec])
    routing_partner(regions=[msk], competencies=[erp])
    with django_assert_num_queries(1):
        rows = list(routing.eligible_partners(lead=lead))
    assert len(rows) == 5 and all(r.load == 0 and r.allocation_weight == 1 for r in rows)
    assert len(routing.eligible_partners(lead=lead, competency_ids=[erp.pk])) == 6


# --- score and rotation --------------------------------------------------------------------------------------


def test_score_is_readable_and_missing_kpis_are_neutral():
    weights = RoutingWeights()  # defaults: tier 100, sla 30, win 20, rating 20, spare capacity 30
    s = routing.candidate_score(
        allocation_weight=2, sla_score=Decimal("80"), win_rate=None, rating=Decimal("5"), load=5, capacity=20,
        weights=weights,
    )  # fmt: skip
    assert s["factors"]["tier"]["points"] == 200
    assert s["factors"]["sla"]["points"] == 24
    assert s["factors"]["win_rate"]["points"] == 10  # missing → neutral half
    assert s["factors"]["rating"]["points"] == 20
    assert s["factors"]["spare_capacity"]["points"] == 22.5
    assert s["weight"] == 276  # 276.5 rounds half to even


def test_kpis_on_the_partner_feed_the_score(msk):
    # The nightly KPI run writes the latest snapshot's win rate and rating onto the partner (tests/kpi).
    routing_partner(regions=[msk], kpi_win_rate=Decimal("50"), kpi_rating=Decimal("4"))
    row = routing.eligible_partners(lead=vendor_lead(region=msk)).get()
    assert (row.win_rate, row.rating) == (Decimal("50"), Decimal("4"))
    (fast,) = routing._candidates_locked(lead=vendor_lead(region=msk))
    assert (fast.win_rate, fast.rating) == (Decimal("50"), Decimal("4"))


def test_stride_rotation_interleaves_by_weight():
    turns = {}
    weights = {1: 5, 2: 1, 3: 1}
    picks = [routing.stride_pick([(pk, weights[pk]) for pk in (1, 2, 3)], turns) for _ in range(7)]
    assert sorted(picks) == [1, 1, 1, 1, 1, 2, 3]  # one full cycle: wins in proportion to the weights
    assert picks[:3] == [1, 2, 3] and picks[3:] == [1, 1, 1, 1]  # earliest turn first, ties to the lowest id
    assert turns == {1: 5 * 200_000, 2: 1_000_000, 3: 1_000_000}


def test_stride_ties_go_to_the_lowest_id_and_only_the_winner_moves():
    turns = {7: 0, 3: 0, 5: 0}
    assert routing.stride_pick([(7, 1), (3, 1), (5, 1)], turns) == 3
    assert turns == {7: 0, 3: routing.TURN_SCALE, 5: 0}


def test_a_partner_back_after_a_long_absence_wins_a_few_times_at_most():
    turns, weights, picks = {}, dict.fromkeys(range(1, 11), 100), []
    for i in range(2000):
        picks.append(routing.stride_pick([(pk, w) for pk, w in weights.items() if pk != 1 or i >= 1000], turns))
    assert picks[1000:1005].count(1) <= 2 and abs(picks[1000:].count(1) - 100) <= 1  # no burst; then its tenth


@pytest.mark.parametrize("shortlist", [None, 8])
def test_rotation_fairness_over_10000_simulated_decisions(shortlist):
    """Each partner's share is within 5 % of its weight's share, also when each decision sees only the shortlist
    of the earliest turns (as the router does with many candidates)."""
    rng = random.Random(42)
    weights = {pk: rng.randint(1, 500) for pk in range(1, 41)}
    turns = {}
    wins = Counter()
    for _ in range(10_000):
        candidates = list(weights.items())
        if shortlist:
            candidates = heapq.nsmallest(shortlist, candidates, key=lambda c: (turns.get(c[0], 0), c[0]))
        wins[routing.stride_pick(candidates, turns)] += 1
    total = sum(weights.values())
    for pk, w in weights.items():
        expected = 10_000 * w / total
        assert abs(wins[pk] - expected) <= 0.05 * expected + 1, (pk, wins[pk], expected)


def test_rotation_fairness_in_the_database(msk):
    tier_only_weights()
    partners = [routing_partner(regions=[msk], weight=w, capacity=10_000) for w in (1, 2, 3, 4)]
    wins = Counter()
    for _ in range(100):
        decision = routing.lead_route(lead=vendor_lead(region=msk))
        wins[decision.chosen_id] += 1
    assert [wins[p.pk] for p in partners] == [10, 20, 30, 40]


def test_same_state_gives_the_same_decision(msk):
    for w in (3, 1, 2):
        routing_partner(regions=[msk], weight=w, sla_score=70)
    lead = vendor_lead(region=msk)
    chosen = []
    for _ in range(2):
        with transaction.atomic():
            decision = routing.lead_route(lead=lead)
            chosen.append(
                (decision.chosen_id, [(c["partner_id"], c["weight"]) for c in decision_candidates(decision=decision)])
            )
            transaction.set_rollback(True)
    assert chosen[0] == chosen[1]


def test_decision_stores_the_shortlist_and_moves_the_winners_turn(msk):
    tier_only_weights()
    a = routing_partner(regions=[msk], weight=3)
    b = routing_partner(regions=[msk], weight=1)
    decision = routing.lead_route(lead=vendor_lead(region=msk))
    assert decision.chosen_id == a.pk and decision.rule == "score_swrr"
    by_id = {c["partner_id"]: c for c in decision_candidates(decision=decision)}
    assert by_id[a.pk]["weight"] == 300 and by_id[a.pk]["credit_after"] == routing.TURN_SCALE // 300
    assert by_id[b.pk]["credit_after"] == 0 and not by_id[b.pk]["chosen"]
    assert RoutingCredit.objects.get().partner_id == a.pk  # only the winner's turn was written
    assert a.routing_credit.credit == routing.TURN_SCALE // 300


def test_many_candidates_a_bounded_shortlist_is_locked_scored_and_stored(msk, monkeypatch):
    monkeypatch.setattr(routing, "SHORTLIST", 3)
    partners = [routing_partner(regions=[msk]) for _ in range(8)]
    decisions = [routing.lead_route(lead=vendor_lead(region=msk)) for _ in range(8)]
    assert sorted(d.chosen_id for d in decisions) == sorted(p.pk for p in partners)  # everyone had a turn
    assert len(decision_candidates(decision=decisions[0])) == 3 and decision_more_candidates(decision=decisions[0]) == 5
    assert all(len(decision_candidates(decision=d)) <= 3 for d in decisions)


# --- offers --------------------------------------------------------------------------------------------------


def at(*args, tz=MSK):
    return mock.patch("django.utils.timezone.now", return_value=datetime(*args, tzinfo=tz))


def test_offer_deadline_counts_business_hours_in_the_partner_zone(msk):
    kamchatka = region("kam", tz="Asia/Kamchatka")
    SlaPolicy.objects.create(name="Fast", accept_within_hours=Decimal("2"))
    near = routing_partner(regions=[msk])
    far = routing_partner(regions=[msk], home_region=kamchatka)  # equal weights: near (lower id) first, then far
    admin = PartnerUserFactory(partner=near, role=Role.PARTNER_ADMIN)
    rep = PartnerUserFactory(partner=near, role=Role.PARTNER_SALES)
    engineer = PartnerUserFactory(partner=near, role=Role.PARTNER_ENGINEER)
    # Friday 6 March 2026, 17:00 Moscow; Monday 9 March is a public holiday.
    with at(2026, 3, 6, 17):
        routing.lead_route(lead=vendor_lead(region=msk))
        routing.lead_route(lead=vendor_lead(region=msk))
    offers = {o.partner_id: o for o in Offer.objects.all()}
    assert offers[near.pk].deadline == datetime(2026, 3, 10, 10, tzinfo=MSK)
    # 17:00 Moscow is 02:00 Saturday in Kamchatka: Tuesday 09:00-11:00 local.
    assert offers[far.pk].deadline == datetime(2026, 3, 10, 11, tzinfo=ZoneInfo("Asia/Kamchatka"))
    notified = set(Notification.objects.filter(kind=NotificationKind.LEAD_OFFERED).values_list("user", flat=True))
    assert {admin.pk, rep.pk} <= notified and engineer.pk not in notified


def test_accept_makes_the_partner_owner_with_a_first_contact_deadline(msk):
    p = routing_partner(regions=[msk], sla_policy=SlaPolicy.objects.create(name="S", first_contact_within_hours=8))
    rep = PartnerUserFactory(partner=p)
    lead = vendor_lead(region=msk)
    with at(2026, 3, 3, 10):
        routing.lead_route(lead=lead)
        lead = offers.offer_accept(offer=lead.offers.get(), user=rep)
    assert (lead.partner, lead.owner, lead.stage) == (p, rep, Stage.REGISTERED)
    assert lead.accepted_at == datetime(2026, 3, 3, 10, tzinfo=MSK)
    assert lead.first_contact_due == datetime(2026, 3, 3, 18, tzinfo=MSK)  # 8 working hours: 10:00 → 18:00
    assert lead.offers.get().status == OfferStatus.ACCEPTED


def test_accept_refused_after_the_deadline_or_for_another_company(msk):
    p = routing_partner(regions=[msk])
    stranger = PartnerUserFactory(partner=routing_partner(regions=[region("spb")]))
    lead = vendor_lead(region=msk)
    routing.lead_route(lead=lead)
    offer = lead.offers.get()
    with pytest.raises(ValidationError):
        offers.offer_accept(offer=offer, user=stranger)
    with mock.patch("django.utils.timezone.now", return_value=offer.deadline), pytest.raises(ValidationError):
        offers.offer_accept(offer=offer, user=PartnerUserFactory(partner=p))
    lead.refresh_from_db()
    assert lead.partner is None


def test_decline_needs_a_reason_and_reroutes_to_the_next_partner(msk):
    tier_only_weights()
    first = routing_partner(regions=[msk], weight=2)
    second = routing_partner(regions=[msk], weight=1)
    lead = vendor_lead(region=msk)
    routing.lead_route(lead=lead)
    offer = lead.offers.get(partner=first)
    with pytest.raises(ValidationError):
        offers.offer_decline(offer=offer, user=PartnerUserFactory(partner=first), reason="  ")
    decision = offers.offer_decline(offer=offer, user=PartnerUserFactory(partner=first), reason="No engineers free")
    assert decision.chosen_id == second.pk
    assert [c["partner_id"] for c in decision_candidates(decision=decision)] == [
        second.pk
    ]  # the decliner is not a candidate again
    offer.refresh_from_db()
    lead.refresh_from_db()
    assert (offer.status, offer.reason) == (OfferStatus.DECLINED, "No engineers free")
    assert (lead.stage, lead.route_failures) == (Stage.OFFERED, 1)
    assert lead.offers.get(status=OfferStatus.PENDING).partner == second


def test_expiry_reroutes_and_is_idempotent(msk):
    tier_only_weights()
    first = routing_partner(regions=[msk], weight=2)
    second = routing_partner(regions=[msk], weight=1)
    rep = PartnerUserFactory(partner=first)
    lead = vendor_lead(region=msk)
    with at(2026, 3, 3, 10):
        routing.lead_route(lead=lead)
    deadline = lead.offers.get().deadline
    assert deadline == datetime(2026, 3, 3, 14, tzinfo=MSK)
    assert offers.offers_expire(now=deadline - timedelta(seconds=1)) == 0
    with at(2026, 3, 3, 14):
        assert offers.offers_expire(now=deadline) == 1
        assert offers.offers_expire(now=deadline) == 0  # a second run (or worker) finds nothing to do
    assert lead.offers.get(partner=first).status == OfferStatus.EXPIRED
    assert lead.offers.get(status=OfferStatus.PENDING).partner == second
    assert Notification.objects.filter(user=rep, kind=NotificationKind.OFFER_EXPIRED).count() == 1


def test_celery_task_expires_due_offers(msk):
    from leads.tasks import offers_expire

    routing_partner(regions=[msk])
    lead = vendor_lead(region=msk)
    routing.lead_route(lead=lead)
    Offer.objects.update(offered_at=datetime(2020, 1, 1, tzinfo=MSK), deadline=datetime(2020, 1, 2, tzinfo=MSK))
    assert offers_expire.delay().get() == 1
    lead.refresh_from_db()
    assert lead.stage == Stage.QUEUE  # the only partner expired; nobody else is eligible


def test_queue_after_max_failures_notifies_channel_managers(msk, settings):
    settings.PRM_ROUTING_MAX_FAILURES = 2
    cm = UserFactory(role=Role.CHANNEL_MANAGER)
    partners = [routing_partner(regions=[msk]) for _ in range(3)]
    lead = vendor_lead(region=msk)
    routing.lead_route(lead=lead)
    for _ in range(2):
        offer = lead.offers.get(status=OfferStatus.PENDING)
        decision = offers.offer_decline(offer=offer, user=PartnerUserFactory(partner=offer.partner), reason="busy")
    lead.refresh_from_db()
    assert (lead.stage, lead.route_failures, decision.rule, decision.chosen) == (Stage.QUEUE, 2, "max_failures", None)
    assert lead.offers.count() == 2 and len(partners) == 3  # the third partner was never asked
    assert Notification.objects.filter(user=cm, kind=NotificationKind.REVIEW_QUEUE).exists()


def test_no_eligible_partner_goes_to_the_queue(msk, erp):
    routing_partner(regions=[msk])  # lacks the competency
    lead = vendor_lead(region=msk, competencies=[erp])
    decision = routing.lead_route(lead=lead)
    lead.refresh_from_db()
    assert (decision.rule, lead.stage) == ("no_eligible_partner", Stage.QUEUE)


def test_manual_assignment_withdraws_the_open_offer(msk, channel_manager):
    offered = routing_partner(regions=[msk])
    chosen = routing_partner(regions=[region("spb")])
    lead = vendor_lead(region=msk)
    routing.lead_route(lead=lead)
    with pytest.raises(ValidationError):
        offers.lead_assign_manual(lead=lead, partner=chosen, actor=channel_manager, reason="")
    lead = offers.lead_assign_manual(lead=lead, partner=chosen, actor=channel_manager, reason="Customer asked for them")
    assert (lead.partner, lead.stage) == (chosen, Stage.REGISTERED) and lead.first_contact_due
    assert lead.offers.get(partner=offered).status == OfferStatus.WITHDRAWN
    manual = RoutingDecision.objects.get(lead=lead, manual=True)
    assert (manual.chosen, manual.actor, manual.reason) == (chosen, channel_manager, "Customer asked for them")


def test_withdraw_puts_the_lead_in_the_queue(msk, channel_manager):
    routing_partner(regions=[msk])
    lead = vendor_lead(region=msk)
    routing.lead_route(lead=lead)
    lead = offers.offer_withdraw(offer=lead.offers.get(), actor=channel_manager, reason="Duplicate")
    assert lead.stage == Stage.QUEUE and lead.offers.get().status == OfferStatus.WITHDRAWN
    decision = routing.lead_route(lead=lead, retry=True)  # sent round again: the same partner may take it
    assert decision.chosen_id is not None


def test_routing_an_owned_or_offered_lead_is_refused(msk):
    routing_partner(regions=[msk])
    lead = vendor_lead(region=msk)
    routing.lead_route(lead=lead)
    with pytest.raises(ValidationError):
        routing.lead_route(lead=lead)


# --- intake ------------------------------------------------------------------------------------------------


def test_lead_create_routes_immediately(msk, erp, channel_manager):
    p = routing_partner(regions=[msk], competencies=[erp])
    lead = intake.lead_create(
        title="ERP roll-out", customer_name="Romashka LLC", customer_tax_id="7700000001", kind=LeadKind.IMPLEMENTATION,
        region=msk, competencies=[erp], actor=channel_manager,
    )  # fmt: skip
    assert lead.stage == Stage.OFFERED and lead.offers.get().partner == p
    assert lead.customer.tax_id == "7700000001"
    again = intake.lead_create(
        title="Second", customer_name="Romashka", customer_tax_id="7700000001", kind=LeadKind.LICENSE, region=msk
    )
    assert again.customer == lead.customer and again.stage == Stage.QUEUE


def test_csv_import_reports_bad_rows_by_line_and_imports_the_good(msk, erp, channel_manager):
    routing_partner(regions=[msk], competencies=[erp])
    data = (
        b"title,customer,tax_id,kind,region,competencies,value,contact_email\n"
        b"Good one,Alpha,7701234560,implementation,msk,erp,1000,a@alpha.example\n"
        b"Bad kind,Beta,7702,consulting,msk,,0,\n"
        b"Bad region,Gamma,7703,license,nowhere,,0,\n"
        b",Delta,7704,license,msk,,0,\n"
        b"Bad comp,Eps,7705,license,msk,erp;quantum,-5,not-an-email\n"
        b"Good two,Zeta,7706000005,license,msk,,,\n"
    )
    result = intake.leads_import_csv(data=data, actor=channel_manager)
    assert [lead.title for lead in result.created] == ["Good one", "Good two"]
    lines = dict(result.errors)
    assert sorted(lines) == [3, 4, 5, 6]
    assert "kind" in lines[3] and "region" in lines[4] and "title" in lines[5]
    assert "quantum" in lines[6] and "value" in lines[6] and "contact_email" in lines[6]
    assert result.created[0].stage == Stage.OFFERED  # routed
    assert result.created[0].source == "import"


def test_csv_import_without_required_columns(channel_manager):
    result = intake.leads_import_csv(data=b"name,city\nx,y\n", actor=channel_manager)
    assert result.created == [] and result.errors[0][0] == 1
