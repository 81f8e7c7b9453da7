import datetime
from decimal import Decimal

import pytest

from kpi.models import KpiSnapshot
from kpi.services.snapshots import KPI_FIELDS, kpi_snapshots_compute
from leads.models import Offer, OfferStatus, Stage
from partners.models import CustomerReview, ReviewStatus
from prm.models import Role
from tests.kpi.conftest import at
from tests.kpi.factories import ExchangeRateFactory, ScoreComponentFactory
from tests.leads.factories import LeadFactory
from tests.partners.factories import CompetencyFactory, PartnerFactory, SlaPolicyFactory
from tests.prm.factories import PartnerUserFactory
from tests.training.factories import CertificationFactory, CertificationTypeFactory, CourseFactory
from training.models import Enrollment, EnrollmentStatus

pytestmark = pytest.mark.django_db


def offer(partner, day, *, status, minutes=None, deadline_hours=4, offered_days_ago=1):
    lead = LeadFactory(partner=partner, stage=Stage.OFFERED)
    offered = at(day - datetime.timedelta(days=offered_days_ago), 10)
    return Offer.objects.create(
        lead=lead,
        partner=partner,
        status=status,
        offered_at=offered,
        deadline=offered + datetime.timedelta(hours=deadline_hours),
        responded_at=offered + datetime.timedelta(minutes=minutes) if minutes is not None else None,
    )


def snap(partner, day) -> KpiSnapshot:
    kpi_snapshots_compute(on=day)
    return KpiSnapshot.objects.get(partner=partner, date=day)


def test_acceptance_in_sla_and_median(partner, day):
    offer(partner, day, status=OfferStatus.ACCEPTED, minutes=30)  # in SLA
    offer(partner, day, status=OfferStatus.ACCEPTED, minutes=60)  # in SLA
    offer(partner, day, status=OfferStatus.ACCEPTED, minutes=300)  # late (deadline 4 h)
    offer(partner, day, status=OfferStatus.EXPIRED)
    offer(partner, day, status=OfferStatus.DECLINED, minutes=10)
    offer(partner, day, status=OfferStatus.PENDING)  # left out
    offer(partner, day, status=OfferStatus.WITHDRAWN)  # left out
    offer(partner, day, status=OfferStatus.ACCEPTED, minutes=5, offered_days_ago=120)  # outside the window
    s = snap(partner, day)
    assert s.offers_total == 5
    assert s.accepted_in_sla_pct == Decimal("40.00")
    assert s.median_accept_minutes == Decimal("60.0")


def test_first_contact_in_sla(partner, day):
    due = at(day - datetime.timedelta(days=2), 18)
    accepted = at(day - datetime.timedelta(days=2), 10)
    common = {"partner": partner, "stage": Stage.REGISTERED, "accepted_at": accepted, "first_contact_due": due}
    LeadFactory(**common, first_contact_at=due - datetime.timedelta(hours=1))  # in time
    LeadFactory(**common, first_contact_at=due + datetime.timedelta(hours=1))  # late
    LeadFactory(**common)  # missed, deadline passed
    LeadFactory(**{**common, "first_contact_due": at(day + datetime.timedelta(days=1), 12)})  # not due yet: left out
    LeadFactory(partner=partner, accepted_at=accepted)  # not routed (no deadline): left out
    assert snap(partner, day).first_contact_in_sla_pct == Decimal("33.33")


def test_hygiene_uses_partner_policy_days(partner, other_partner, day):
    from django.utils import timezone

    partner.sla_policy = SlaPolicyFactory(name="Strict", deal_update_days=7)
    partner.save()
    now = timezone.now()
    for p in (partner, other_partner):
        LeadFactory(partner=p, stage=Stage.QUALIFIED, last_activity_at=now - datetime.timedelta(days=3))
        LeadFactory(partner=p, stage=Stage.PROPOSAL, last_activity_at=now - datetime.timedelta(days=10))
        LeadFactory(partner=p, stage=Stage.NEGOTIATION, last_activity_at=now - datetime.timedelta(days=30))
        LeadFactory(partner=p, stage=Stage.LOST, closed_at=now)  # not open
    # updated_at is "now" for every row: make the stale ones old.
    from leads.models import Lead

    Lead.objects.update(updated_at=now - datetime.timedelta(days=40))
    today = timezone.localdate()
    kpi_snapshots_compute(on=today)
    assert KpiSnapshot.objects.get(partner=partner, date=today).hygiene_pct == Decimal("33.33")  # 7 days
    assert KpiSnapshot.objects.get(partner=other_partner, date=today).hygiene_pct == Decimal("66.67")  # default 14


def test_win_rate_revenue_with_exchange_rates_and_cycle(partner, day):
    ExchangeRateFactory(currency="USD", valid_from=day - datetime.timedelta(days=100), rate=Decimal("80"))
    ExchangeRateFactory(currency="USD", valid_from=day - datetime.timedelta(days=20), rate=Decimal("100"))
    won_recent = at(day - datetime.timedelta(days=5))
    won_old = at(day - datetime.timedelta(days=50))
    a = LeadFactory(partner=partner, stage=Stage.WON, value=Decimal("1000"), currency="USD", won_at=won_recent)
    b = LeadFactory(partner=partner, stage=Stage.WON, value=Decimal("1000"), currency="USD", won_at=won_old)
    c = LeadFactory(partner=partner, stage=Stage.WON, value=Decimal("50000"), currency="RUB", won_at=won_old)
    LeadFactory(partner=partner, stage=Stage.LOST, closed_at=at(day - datetime.timedelta(days=3)))
    # Won 200 days ago: revenue (12 months) yes, win rate / cycle (90 days) no.
    LeadFactory(partner=partner, stage=Stage.WON, value=Decimal("1"), won_at=at(day - datetime.timedelta(days=200)))
    from leads.models import Lead

    for lead, days in ((a, 10), (b, 30), (c, 20)):
        Lead.objects.filter(pk=lead.pk).update(
            created_at=lead.won_at - datetime.timedelta(days=days), closed_at=lead.won_at
        )
    s = snap(partner, day)
    assert s.win_rate_pct == Decimal("75.00")
    # 1000 USD × 100 (rate valid then) + 1000 USD × 80 + 50000 RUB + 1 RUB
    assert s.won_revenue_12m == Decimal("230001.00")
    assert s.avg_cycle_days == Decimal("20.0")


def test_revenue_rate_changes_at_the_start_of_its_day_in_the_vendors_time_zone(partner, day):
    change = day - datetime.timedelta(days=10)
    ExchangeRateFactory(currency="EUR", valid_from=day - datetime.timedelta(days=400), rate=Decimal("90"))
    ExchangeRateFactory(currency="EUR", valid_from=change, rate=Decimal("100"))
    ExchangeRateFactory(currency="EUR", valid_from=day + datetime.timedelta(days=1), rate=Decimal("1"))  # future
    day_before = change - datetime.timedelta(days=1)
    LeadFactory(partner=partner, stage=Stage.WON, value=Decimal("1"), currency="EUR", won_at=at(day_before, 23, 30))
    LeadFactory(partner=partner, stage=Stage.WON, value=Decimal("10"), currency="EUR", won_at=at(change, 0, 30))
    LeadFactory(partner=partner, stage=Stage.WON, value=Decimal("1000"), currency="GBP", won_at=at(change))  # no rate
    # 1 × 90 (old rate until midnight) + 10 × 100; the GBP deal has no rate and is left out
    assert snap(partner, day).won_revenue_12m == Decimal("1090.00")


def test_rating_people_and_mandatory_training(partner, day):
    for rating, status in ((5, ReviewStatus.PUBLISHED), (4, ReviewStatus.PUBLISHED), (1, ReviewStatus.SUBMITTED)):
        CustomerReview.objects.create(
            lead=LeadFactory(partner=partner, stage=Stage.WON, won_at=at(day)),
            partner=partner,
            status=status,
            rating=rating,
            submitted_at=at(day),
        )
    security = CertificationTypeFactory(competency=CompetencyFactory(code="security"))
    network = CertificationTypeFactory(competency=CompetencyFactory(code="network"))
    eng1 = PartnerUserFactory(partner=partner, role=Role.PARTNER_ENGINEER)
    eng2 = PartnerUserFactory(partner=partner, role=Role.PARTNER_ENGINEER)
    rep = PartnerUserFactory(partner=partner, role=Role.PARTNER_SALES)
    CertificationFactory(user=eng1, type=security, issued_on=day - datetime.timedelta(days=10))
    CertificationFactory(user=eng1, type=network, issued_on=day - datetime.timedelta(days=10))
    CertificationFactory(user=eng2, type=security, issued_on=day - datetime.timedelta(days=10))
    CertificationFactory(  # expired
        user=rep, type=network, issued_on=day - datetime.timedelta(days=800), expires_on=day - datetime.timedelta(1)
    )
    from django.utils import timezone

    CertificationFactory(user=rep, type=security, issued_on=day - datetime.timedelta(10), revoked_at=timezone.now())
    c1 = CourseFactory(is_mandatory_onboarding=True)
    c2 = CourseFactory(is_mandatory_onboarding=True)
    CourseFactory(is_mandatory_onboarding=False)
    for user, courses in ((eng1, [c1, c2]), (eng2, [c1]), (rep, [])):
        for course in courses:
            Enrollment.objects.create(user=user, partner=partner, course=course, status=EnrollmentStatus.PASSED)
    s = snap(partner, day)
    assert s.customer_rating == Decimal("4.50")
    assert s.reviews_count == 2
    assert s.certified_people == 2
    assert s.certified_by_competency == {"security": 2, "network": 1}
    assert s.mandatory_training_pct == Decimal("33.33")


def test_score_components_and_partner_sla_score(partner, day):
    ScoreComponentFactory(name="SLA", metric="sla_acceptance", target=Decimal("100"), max_points=40)
    ScoreComponentFactory(name="Skills", metric="certified_people", target=Decimal("4"), max_points=30)
    ScoreComponentFactory(name="Rating", metric="customer_rating", target=Decimal("5"), max_points=30)
    offer(partner, day, status=OfferStatus.ACCEPTED, minutes=10)
    offer(partner, day, status=OfferStatus.EXPIRED)
    CertificationFactory(user=PartnerUserFactory(partner=partner), issued_on=day - datetime.timedelta(days=1))
    s = snap(partner, day)
    # 50% of 40 + 1/4 of 30 + no rating
    assert s.score == Decimal("27.50")
    assert s.score_components["sla_acceptance"]["points"] == "20.00"
    assert s.score_components["customer_rating"]["points"] == "0.00"
    partner.refresh_from_db()
    assert partner.sla_score == Decimal("27.50")


def test_partner_gets_the_latest_snapshots_win_rate_and_rating_for_routing(partner, day):
    KpiSnapshot.objects.create(
        partner=partner, date=day + datetime.timedelta(days=5), win_rate_pct=Decimal("40"), customer_rating=Decimal("3")
    )
    kpi_snapshots_compute(on=day)  # a back-fill of an earlier day keeps the later snapshot's values
    partner.refresh_from_db()
    assert (partner.kpi_win_rate, partner.kpi_rating) == (Decimal("40"), Decimal("3"))
    KpiSnapshot.objects.filter(date__gt=day).delete()
    LeadFactory(partner=partner, stage=Stage.WON, won_at=at(day), closed_at=at(day))
    kpi_snapshots_compute(on=day)
    partner.refresh_from_db()
    assert (partner.kpi_win_rate, partner.kpi_rating) == (Decimal("100.00"), None)


def test_recompute_is_idempotent(partner, day):
    offer(partner, day, status=OfferStatus.ACCEPTED, minutes=10)
    kpi_snapshots_compute(on=day)
    offer(partner, day, status=OfferStatus.EXPIRED)
    kpi_snapshots_compute(on=day)
    assert KpiSnapshot.objects.filter(partner=partner).count() == 1
    assert KpiSnapshot.objects.get(partner=partner).accepted_in_sla_pct == Decimal("50.00")


def _partners_with_data(n, day):
    for _ in range(n):
        p = PartnerFactory()
        offer(p, day, status=OfferStatus.ACCEPTED, minutes=10)
        LeadFactory(partner=p, stage=Stage.WON, won_at=at(day))


def test_query_count_does_not_grow_with_partners(day):
    """Same queries for 10 and 100 partners; only SQLite's parameter limit may split the one bulk insert."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def reads(ctx):
        return [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith('INSERT INTO "kpi_kpisnapshot"')]

    _partners_with_data(10, day)
    with CaptureQueriesContext(connection) as small:
        kpi_snapshots_compute(on=day)
    _partners_with_data(90, day)
    with CaptureQueriesContext(connection) as large:
        assert kpi_snapshots_compute(on=day) == 100
    assert len(reads(large)) == len(reads(small)) <= 18  # 15 + one per post-sale metric group
    if connection.vendor == "postgresql":
        assert len(large) == len(small)


@pytest.mark.django_db(transaction=True)
def test_committed_run_uses_two_connections_and_computes_the_same(postgres_only, settings, day):
    """Outside a transaction the lead aggregate runs beside the others on a second connection: same snapshots."""
    _partners_with_data(3, day)
    settings.PRM_DB_JOBS = 1
    kpi_snapshots_compute(on=day)
    sequential = list(KpiSnapshot.objects.order_by("partner_id").values("partner_id", *KPI_FIELDS))
    KpiSnapshot.objects.all().delete()
    settings.PRM_DB_JOBS = 2
    assert kpi_snapshots_compute(on=day) == 3
    assert list(KpiSnapshot.objects.order_by("partner_id").values("partner_id", *KPI_FIELDS)) == sequential
    assert all(row["win_rate_pct"] == Decimal("100.00") for row in sequential)
