"""The router's hand-written candidate statements must agree with the ORM statement of the eligibility rules."""

import random
from datetime import datetime
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpi.models import KpiSnapshot
from leads.models import LeadKind, OfferStatus, RoutingDecision, Stage
from leads.selectors.routing import decision_candidates, decision_more_candidates
from leads.services import routing
from partners.models import PartnerStatus, PartnerType, ProgramModel, SlaPolicy
from tests.leads.routing_factories import competency, region, routing_partner, vendor_lead

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")


def test_fast_path_matches_eligible_partners_on_random_data():
    rng = random.Random(7)
    regions = [region(f"r{i}") for i in range(3)]
    comps = [competency(f"c{i}") for i in range(4)]
    partners = []
    for _ in range(40):
        partner = routing_partner(
            regions=rng.sample(regions, rng.randint(1, 2)),
            competencies=rng.sample(comps, rng.randint(0, 3)),
            program_model=rng.choice(list(ProgramModel.values)),
            partner_type=rng.choice(list(PartnerType.values)),
            status=rng.choice([PartnerStatus.ACTIVE] * 4 + [PartnerStatus.SUSPENDED]),
            weight=rng.randint(1, 4),
            capacity=rng.randint(1, 3),
            sla_score=rng.choice([None, 55, 90]),
        )
        if rng.random() < 0.5:
            KpiSnapshot.objects.create(
                partner=partner, date="2026-01-01", win_rate_pct=Decimal(rng.randint(0, 80)),
                customer_rating=Decimal(rng.randint(10, 50)) / 10,
            )  # fmt: skip
        partners.append(partner)
    for _ in range(30):  # some load: pending offers, open routed deals, refusals
        lead = vendor_lead(region=rng.choice(regions))
        partner = rng.choice(partners)
        status = rng.choice([OfferStatus.PENDING, OfferStatus.DECLINED, OfferStatus.EXPIRED])
        lead.offers.create(
            partner=partner, status=status, offered_at=datetime(2026, 1, 1, tzinfo=MSK),
            deadline=datetime(2026, 1, 2, tzinfo=MSK),
        )  # fmt: skip
        if rng.random() < 0.3:
            lead.partner, lead.stage, lead.offered_at = partner, Stage.REGISTERED, datetime(2026, 1, 1, tzinfo=MSK)
            lead.save()
    leads = [
        vendor_lead(region=rng.choice(regions), competencies=rng.sample(comps, rng.randint(0, 2)), kind=kind)
        for kind in LeadKind.values
        for _ in range(8)
    ]
    leads += [lead for lead in routing.Lead.objects.all()[:10]]  # leads with refusals
    checked = 0
    for lead in leads:
        orm = {
            p.pk: (p.load, p.allocation_weight, p.sla_score, p.win_rate, p.rating, p.lead_capacity, p.credit)
            for p in routing.eligible_partners(lead=lead)
        }
        fast = {
            c.pk: (c.load, c.allocation_weight, c.sla_score, c.win_rate, c.rating, c.capacity, c.credit)
            for c in routing._candidates_locked(lead=lead)
        }
        assert fast == orm, lead.pk
        checked += bool(orm)
    assert checked >= 10  # the comparison was not vacuous
    # The batch form of the statement (all leads at once) finds the same partners as the single-lead form.
    together = routing._eligible(leads=leads)[1]
    assert together == {lead.pk: ids for lead in leads if (ids := routing._eligible(leads=[lead])[1].get(lead.pk))}


def test_offer_uses_the_first_sla_policy_when_the_partner_has_none():
    msk = region("msk")
    SlaPolicy.objects.create(name="A", accept_within_hours=Decimal("1"))
    SlaPolicy.objects.create(name="B", accept_within_hours=Decimal("6"))
    routing_partner(regions=[msk])
    start = datetime(2026, 3, 3, 10, tzinfo=MSK)  # Tuesday, working hours
    with mock.patch("django.utils.timezone.now", return_value=start):
        decision = routing.lead_route(lead=vendor_lead(region=msk))
    assert decision.lead.offers.get().deadline == datetime(2026, 3, 3, 11, tzinfo=MSK)


def test_decision_query_count_does_not_grow_with_candidates(routing_pool_version):
    areas = {n: region(f"r{n}") for n in (3, 30)}
    for n, area in areas.items():
        for w in range(1, n + 1):
            routing_partner(regions=[area], weight=w)
    routing.lead_route(lead=vendor_lead(region=areas[3]))  # loads the routing pool once
    counts = []
    for n, area in areas.items():
        lead = vendor_lead(region=area)
        with CaptureQueriesContext(connection) as queries:
            decision = routing.lead_route(lead=lead)
        stored = RoutingDecision.objects.get(pk=decision.pk)
        assert len(decision_candidates(decision=stored)) == min(n, routing.SHORTLIST)
        assert decision_more_candidates(decision=stored) == n - min(n, routing.SHORTLIST)
        counts.append(len(queries))
    # statements, on PostgreSQL fewer (test_a_single_decision_sends_few_statements): lead, pool version + needs +
    # refusals, customer keys, claims on the customer, turns (unlocked), partners, credits, decision, offer, lead
    # update, audit, sellers, notifications, webhook subscriptions (+ savepoint pair, + the pair around the
    # skip-locked partner lock, whose rows are given back if a router must wait after all)
    assert counts[0] == counts[1] <= 18, (counts, [q["sql"][:60] for q in queries])


def test_a_single_decision_sends_few_statements(postgres_only, routing_pool_version, django_assert_max_num_queries):
    """On PostgreSQL what a decision writes goes in the round trips of the statements it reads by anyway
    (prm.bulk.writes_held): the leads' lock with their read and routing inputs, the claims, the turns, the
    partners' lock (with its savepoint), their credits, the ids with the sellers (after the savepoint's release and
    the credits), then the decision, offer, lead, audit and notification rows; and the savepoint pair of the
    test's transaction. A statement more than that is a round trip more on every single decision."""
    from leads.models import Offer
    from prm.models import AuditEvent, Notification, Role
    from tests.prm.factories import PartnerUserFactory

    area = region("r1")
    for w in (1, 2, 3):
        PartnerUserFactory(role=Role.PARTNER_SALES, partner=routing_partner(regions=[area], weight=w))
    routing.lead_route(lead=vendor_lead(region=area))  # loads the routing pool once
    lead = vendor_lead(region=area)
    with django_assert_max_num_queries(9):
        decision = routing.lead_route(lead=lead)
    offer = Offer.objects.get(lead=lead)
    assert (offer.partner_id, offer.decision_id) == (decision.chosen_id, decision.pk)
    assert AuditEvent.objects.filter(object_id=str(lead.pk), action="lead.offered", data__offer=offer.pk).exists()
    assert Notification.objects.filter(user__partner_id=decision.chosen_id).count() == 1


def test_the_routers_sellers_are_partner_sellers(postgres_only):
    """Who is told of an offer has one rule (partner_sellers); the router reads it with its ids in a statement of
    its own (_ids_take, _sellers_sql), which must give the same people: active partner admins and sales, not other
    roles, inactive users or other partners' staff."""
    from prm.models import Role
    from prm.services import recipients
    from tests.prm.factories import PartnerUserFactory

    area = region("r1")
    partners = [routing_partner(regions=[area]) for _ in range(3)]
    for partner in partners:
        for role in (Role.PARTNER_ADMIN, Role.PARTNER_SALES, Role.PARTNER_ENGINEER):
            PartnerUserFactory(role=role, partner=partner)
        PartnerUserFactory(role=Role.PARTNER_SALES, partner=partner, is_active=False)
    asked = [p.pk for p in partners[:2]]
    _decisions, _offers, sellers = routing._ids_take(decisions=1, offers=1, sellers_of=asked)
    assert sellers == recipients(routing.partner_sellers(asked))
    assert len(sellers) == 4
