import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from prm.models import Role
from tests.partners.factories import CompetencyFactory, PartnerFactory
from tests.prm.factories import PartnerUserFactory
from training.models import EnrollmentStatus
from training.selectors import mandatory_training_completion_by_partner, valid_certified_people_by_partner

from .factories import CertificationFactory, CertificationTypeFactory, CourseFactory, EnrollmentFactory

TODAY = datetime.date(2026, 6, 1)


def _cert(user, cert_type, *, expires=None, revoked=False):
    return CertificationFactory(
        user=user,
        type=cert_type,
        issued_on=TODAY - datetime.timedelta(days=100),
        expires_on=expires or TODAY + datetime.timedelta(days=100),
        revoked_at=timezone.now() if revoked else None,
    )


def test_valid_certified_people_by_partner(partner, other_partner, django_assert_num_queries):
    sec, net = CompetencyFactory(code="security"), CompetencyFactory(code="network")
    sec_a = CertificationTypeFactory(code="sec-a", competency=sec)
    sec_b = CertificationTypeFactory(code="sec-b", competency=sec)
    net_a = CertificationTypeFactory(code="net-a", competency=net)
    ann, bob, cid = (PartnerUserFactory(partner=partner) for _ in range(3))
    _cert(ann, sec_a)
    _cert(ann, sec_b)  # same person, same competency: counted once
    _cert(ann, net_a)  # same person, other competency: once in the total
    _cert(bob, net_a)
    _cert(cid, sec_a, expires=TODAY - datetime.timedelta(days=1))  # expired
    _cert(cid, net_a, revoked=True)  # revoked
    _cert(cid, sec_b, expires=TODAY)  # expires today: still valid
    dan = PartnerUserFactory(partner=other_partner)
    _cert(dan, sec_a)
    with django_assert_num_queries(1):
        result = valid_certified_people_by_partner(on=TODAY)
    assert result == {
        partner.pk: {"total": 3, "by_competency": {"security": 2, "network": 2}},
        other_partner.pk: {"total": 1, "by_competency": {"security": 1}},
    }
    assert valid_certified_people_by_partner(on=TODAY + datetime.timedelta(days=101)) == {}


def test_valid_certified_people_query_count_independent_of_size(django_assert_num_queries, db):
    ct = CertificationTypeFactory()
    for _ in range(6):
        p = PartnerFactory()
        for _ in range(2):
            _cert(PartnerUserFactory(partner=p), ct)
    with django_assert_num_queries(1):
        result = valid_certified_people_by_partner(on=TODAY)
    assert len(result) == 6 and all(v["total"] == 2 for v in result.values())


def test_mandatory_training_completion_by_partner(partner, other_partner, django_assert_num_queries):
    everyone = CourseFactory(is_mandatory_onboarding=True)
    engineers = CourseFactory(is_mandatory_onboarding=True, audience_role=Role.PARTNER_ENGINEER)
    CourseFactory(is_mandatory_onboarding=False)
    done_at = timezone.make_aware(datetime.datetime(2026, 5, 1, 12))
    eng = PartnerUserFactory(partner=partner, role=Role.PARTNER_ENGINEER)
    rep = PartnerUserFactory(partner=partner, role=Role.PARTNER_SALES)
    lazy = PartnerUserFactory(partner=partner, role=Role.PARTNER_ENGINEER)
    PartnerUserFactory(partner=partner, role=Role.PARTNER_SALES, is_active=False)
    for user, course in [(eng, everyone), (eng, engineers), (rep, everyone), (lazy, everyone)]:
        EnrollmentFactory(user=user, course=course, status=EnrollmentStatus.PASSED, completed_at=done_at)
    EnrollmentFactory(user=lazy, course=engineers, status=EnrollmentStatus.IN_PROGRESS)
    PartnerUserFactory(partner=other_partner, role=Role.PARTNER_SALES)
    with django_assert_num_queries(1):
        result = mandatory_training_completion_by_partner(on=TODAY)
    assert result[partner.pk] == {"staff": 3, "completed": 2, "pct": Decimal("66.67")}
    assert result[other_partner.pk] == {"staff": 1, "completed": 0, "pct": Decimal("0.00")}
    # Before the courses were passed nobody had completed them.
    before = mandatory_training_completion_by_partner(on=datetime.date(2026, 4, 30))
    assert before[partner.pk]["completed"] == 0


def test_team_page_shows_only_own_team(client_for, partner_admin, learner, other_partner_rep, cert_type):
    onboarding = CourseFactory(title="Onboarding 101", is_mandatory_onboarding=True)
    EnrollmentFactory(user=learner, course=onboarding, status=EnrollmentStatus.PASSED)
    cert = CertificationFactory(user=learner, type=cert_type)
    foreign = CertificationFactory(user=other_partner_rep, type=cert_type)
    response = client_for(partner_admin).get(reverse("training:team"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Onboarding 101" in html and "Ivan Petrov" in html
    assert cert.code in html
    assert foreign.code not in html and str(other_partner_rep) not in html
    row = next(r for r in response.context["team"]["rows"] if r["person"] == learner)
    assert row["done"] == 1 and row["required"] == 1


def test_team_page_roles(client, client_for, partner_rep, channel_manager):
    url = reverse("training:team")
    assert client.get(url).status_code == 302
    assert client_for(partner_rep).get(url).status_code == 403
    assert client_for(channel_manager).get(url).status_code == 403


def test_reports_page_filters_and_chart_data(client_for, channel_manager, partner, other_partner):
    sec = CompetencyFactory(code="security", name="Security")
    ct = CertificationTypeFactory(competency=sec)
    today = timezone.localdate()
    CertificationFactory(
        user=PartnerUserFactory(partner=partner), type=ct, issued_on=today - datetime.timedelta(days=1)
    )
    CertificationFactory(
        user=PartnerUserFactory(partner=other_partner), type=ct, issued_on=today - datetime.timedelta(days=1)
    )
    client = client_for(channel_manager)
    response = client.get(reverse("training:reports"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="training-chart-data"' in html and "vendor/chart.js/chart.umd.js" in html
    assert response.context["chart"]["competency"] == {"labels": ["Security"], "values": [2]}
    response = client.get(reverse("training:reports"), {"partner": partner.pk})
    assert [r["partner_id"] for r in response.context["rows"]] == [partner.pk]
    response = client.get(reverse("training:reports"), {"region": partner.home_region.code})
    assert [r["partner_id"] for r in response.context["rows"]] == [partner.pk]


@pytest.mark.parametrize("n", [2, 10])
def test_reports_constant_queries(client_for, channel_manager, django_assert_max_num_queries, n):
    ct = CertificationTypeFactory()
    for _ in range(n):
        course = CourseFactory()
        EnrollmentFactory(course=course, status=EnrollmentStatus.PASSED)
        CertificationFactory(type=ct)
    client = client_for(channel_manager)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("training:reports")).status_code == 200


@pytest.mark.parametrize("n", [2, 8])
def test_team_page_constant_queries(client_for, partner, partner_admin, django_assert_max_num_queries, n):
    courses = [CourseFactory(is_mandatory_onboarding=True) for _ in range(n)]
    ct = CertificationTypeFactory()
    for _ in range(n):
        person = PartnerUserFactory(partner=partner, role=Role.PARTNER_ENGINEER)
        EnrollmentFactory(user=person, course=courses[0], status=EnrollmentStatus.PASSED)
        CertificationFactory(user=person, type=ct)
    client = client_for(partner_admin)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("training:team"))
    assert response.status_code == 200
    assert len(response.context["team"]["rows"]) == n + 1
