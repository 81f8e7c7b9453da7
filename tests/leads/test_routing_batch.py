"""leads_route_batch decides exactly as lead_route one by one; the import and the NEW-leads job use it."""

import random
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from leads.models import Lead, LeadKind, Offer, OfferStatus, RoutingDecision, RoutingWeights, Stage
from leads.services import intake, routing
from partners.models import Partner, PartnerStatus, PartnerType, ProgramModel
from prm.models import AuditEvent, Notification
from tests.leads.factories import valid_inn
from tests.leads.routing_factories import competency, region, routing_partner, vendor_lead
from tests.leads.test_routing_concurrency import assert_no_lost_turn, run_together
from tests.prm.factories import PartnerUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def network(rng: random.Random):
    """Partners with small capacities (they fill up during the run), KPIs, refusals; leads of every outcome."""
    RoutingWeights.objects.create()  # all factors count
    regions = [region(f"r{i}") for i in range(3)]
    empty = region("empty")
    comps = [competency(f"c{i}") for i in range(4)]
    rare = competency("rare")
    UserFactory(role="channel_manager")
    partners = []
    for _ in range(30):
        p = routing_partner(
            regions=rng.sample(regions, rng.randint(1, 2)),
            competencies=rng.sample(comps, rng.randint(0, 4)),
            program_model=rng.choice(list(ProgramModel.values)),
            partner_type=rng.choice(list(PartnerType.values)),
            status=rng.choice([PartnerStatus.ACTIVE] * 5 + [PartnerStatus.SUSPENDED]),
            weight=rng.randint(1, 4),
            capacity=rng.randint(1, 4),
            sla_score=rng.choice([None, 40, 75, 100]),
            kpi_win_rate=rng.choice([None, Decimal("12.50"), Decimal("60.00")]),
            kpi_rating=rng.choice([None, Decimal("3.20"), Decimal("4.80")]),
        )
        PartnerUserFactory(partner=p)
        partners.append(p)
    leads = []
    for i in range(60):
        kind = rng.choice(list(LeadKind.values))
        if i % 15 == 0:
            lead = vendor_lead(region=empty, kind=kind)  # nobody there: queued
        elif i % 17 == 0:
            lead = vendor_lead(region=regions[0], competencies=[rare], kind=kind)  # nobody qualified: queued
        else:
            lead = vendor_lead(region=rng.choice(regions), competencies=rng.sample(comps, rng.randint(0, 2)), kind=kind)
        if i % 11 == 0:
            Lead.objects.filter(pk=lead.pk).update(route_failures=3, stage=Stage.QUEUE)  # queued: max failures
        if i % 7 == 0:  # an earlier refusal: that partner is not a candidate again
            lead.offers.create(
                partner=rng.choice(partners), status=rng.choice([OfferStatus.DECLINED, OfferStatus.EXPIRED]),
                offered_at="2026-01-01T10:00Z", deadline="2026-01-02T10:00Z",
            )  # fmt: skip
        leads.append(lead)
    return partners, leads


def outcome(leads):
    ids = [lead.pk for lead in leads]
    decisions = [
        (d.lead_id, d.rule, d.chosen_id, d.candidates, d.reason)
        for d in RoutingDecision.objects.filter(lead__in=ids).order_by("pk")
    ]
    offers = sorted(Offer.objects.filter(lead__in=ids, status=OfferStatus.PENDING).values_list("lead", "partner"))
    stages = sorted(Lead.objects.filter(pk__in=ids).values_list("pk", "stage"))
    partners = sorted(Partner.objects.values_list("pk", "routing_credit__credit", "open_load"))
    audit = sorted(
        AuditEvent.objects.filter(action__in=["lead.offered", "lead.queued"]).values_list("object_id", "action")
    )
    # The same people hear about the same kinds of event; a batch sums several up in one notification (issue 17).
    notes = sorted(set(Notification.objects.values_list("user", "kind")))
    return decisions, offers, stages, partners, audit, notes


def test_a_batch_decides_exactly_as_one_by_one():
    rng = random.Random(11)
    _partners, leads = network(rng)
    skipped = leads[5]
    routing.lead_route(lead=skipped)  # has an open offer now: both paths must leave it alone
    order = leads[:]
    rng.shuffle(order)  # the batch follows the given order, not the ids

    with transaction.atomic():
        for lead in order:
            try:
                routing.lead_route(lead=lead)
            except ValidationError:
                assert lead == skipped
        one_by_one = outcome(leads)
        transaction.set_rollback(True)
    decisions = routing.leads_route_batch(leads=order)
    batch = outcome(leads)

    assert batch == one_by_one
    assert len(decisions) == len(leads) - 1
    rules = {d[1] for d in batch[0]}
    assert rules == {"score_swrr", "no_eligible_partner", "max_failures"}, rules  # every outcome was exercised
    assert any(p.open_load == p.lead_capacity for p in Partner.objects.all())  # capacity ran out on the way


def test_csv_import_routes_its_rows_in_one_batch(django_assert_max_num_queries):
    msk = region("msk")
    partner = routing_partner(regions=[msk])
    PartnerUserFactory(partner=partner)
    rows = "".join(f"Lead {i},Customer {i},{valid_inn(i)},implementation,msk,,1000,\n" for i in range(20))
    data = ("title,customer,tax_id,kind,region,competencies,value,contact_email\n" + rows).encode()
    result = intake.leads_import_csv(data=data, actor=None)
    assert [lead.stage for lead in result.created] == [Stage.OFFERED] * 20
    assert RoutingDecision.objects.filter(rule="score_swrr").count() == 20
    assert Partner.objects.get(pk=partner.pk).open_load == 20


def test_new_leads_job_routes_each_lead_once_and_is_idempotent():
    msk = region("msk")
    routing_partner(regions=[msk], capacity=100)
    waiting = [vendor_lead(region=msk) for _ in range(7)]
    taken = vendor_lead(region=msk)
    routing.lead_route(lead=taken)
    assert routing.leads_route_new(batch=3) == 7  # three batches: 3 + 3 + 1
    assert set(Lead.objects.filter(pk__in=[lead.pk for lead in waiting]).values_list("stage", flat=True)) == {
        Stage.OFFERED
    }
    assert routing.leads_route_new(batch=3) == 0
    assert RoutingDecision.objects.count() == 8


def test_new_leads_job_is_scheduled():
    assert "leads.tasks.leads_route_new" in {job["task"] for job in settings.CELERY_BEAT_SCHEDULE.values()}


@pytest.mark.django_db(transaction=True)
def test_several_workers_route_new_leads_once_each(postgres_only):
    msk = region("msk")
    for w in (1, 2, 3):
        routing_partner(regions=[msk], weight=w, capacity=1000)
    leads = [vendor_lead(region=msk) for _ in range(60)]
    results, errors = run_together(*[lambda: routing.leads_route_new(batch=10) for _ in range(3)])
    assert not errors
    assert sum(results.values()) == 60
    assert RoutingDecision.objects.count() == 60 == Offer.objects.filter(lead__in=leads).count()
    assert_no_lost_turn()
