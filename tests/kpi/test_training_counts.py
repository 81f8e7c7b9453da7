"""Rule 4 — how training counts: the nightly KPI job, the scorecard and the training pages give one answer,
because all of them call the training app's definitions (`training.selectors`)."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from kpi.models import KpiSnapshot
from prm.models import Role
from tests.partners.factories import CompetencyFactory
from tests.prm.factories import PartnerUserFactory
from training.models import EnrollmentStatus

from ..training.factories import CertificationFactory, CertificationTypeFactory, CourseFactory, EnrollmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(partner, partner_admin):
    """One engineer, one sales rep (and their admin); a sales-only mandatory course the rep passed; the engineer's
    certificate expires today."""
    today = timezone.localdate()
    engineer = PartnerUserFactory(partner=partner, role=Role.PARTNER_ENGINEER, last_name="Engineer")
    rep = PartnerUserFactory(partner=partner, role=Role.PARTNER_SALES, last_name="Rep")
    course = CourseFactory(title="Selling 101", is_mandatory_onboarding=True, audience_role=Role.PARTNER_SALES)
    EnrollmentFactory(
        user=rep, course=course, status=EnrollmentStatus.PASSED, completed_at=timezone.now() - datetime.timedelta(1)
    )
    security = CompetencyFactory(code="security", name="Security")
    CertificationFactory(
        user=engineer,
        type=CertificationTypeFactory(competency=security),
        issued_on=today - datetime.timedelta(days=365),
        expires_on=today,
    )
    return {"engineer": engineer, "rep": rep}


def _nightly(client_for, partner, partner_admin, channel_manager):
    call_command("run_nightly", "--date", timezone.localdate().isoformat())
    snap = KpiSnapshot.objects.get(partner=partner, date=timezone.localdate())
    return {"mandatory_pct": snap.mandatory_training_pct, "certified": snap.certified_people}


def _scorecard(client_for, partner, partner_admin, channel_manager):
    call_command("run_nightly", "--date", timezone.localdate().isoformat())
    response = client_for(partner_admin).get(reverse("kpi:scorecard"))
    assert response.status_code == 200
    values = response.context["values"]
    html = response.content.decode()
    assert f"{values['mandatory_training']}%" in html
    return {"mandatory_pct": values["mandatory_training"], "certified": values["certified_people"]}


def _team_page(client_for, partner, partner_admin, channel_manager):
    response = client_for(partner_admin).get(reverse("training:team"))
    assert response.status_code == 200
    team = response.context["team"]
    assert 'id="mandatory-kpi"' in response.content.decode()
    valid = sum(status == "valid" for row in team["rows"] for _cert, status in row["certifications"])
    return {"mandatory_pct": team["mandatory"]["pct"], "certified": valid}


def _reports_page(client_for, partner, partner_admin, channel_manager):
    response = client_for(channel_manager).get(reverse("training:reports"), {"partner": partner.pk})
    assert response.status_code == 200
    return {"certified": sum(r["people"] for r in response.context["rows"])}


DOORS = {"nightly_job": _nightly, "scorecard": _scorecard, "team_page": _team_page, "reports_page": _reports_page}


@pytest.mark.parametrize("door", DOORS)
def test_training_counts_the_same_whatever_the_door(
    door, team, client_for, partner, partner_admin, channel_manager, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    shown = DOORS[door](client_for, partner, partner_admin, channel_manager)
    expected = {"mandatory_pct": Decimal("100.00"), "certified": 1}
    assert shown == {k: expected[k] for k in shown}
