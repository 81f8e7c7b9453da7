"""Who sees what: partner staff only their own company's private data; distributors their resellers' totals."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Stage
from partners.models import PartnerStatus, ProgramModel
from prm.models import Role
from tests.leads.factories import LeadFactory
from tests.partners.factories import AgreementFactory, PartnerContactFactory, PartnerFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db

VENDOR_ONLY = [
    ("partners:directory", False),
    ("partners:onboarding", False),
    ("partners:review_queue", False),
]
VENDOR_POSTS = ["partners:status_change", "partners:tier_set", "partners:account_manager_set"]


def test_partner_user_sees_own_page_with_private_data(client_for, partner_rep):
    partner = partner_rep.partner
    AgreementFactory(partner=partner, number="AG-SECRET-1", penalty_terms="Penalty clause A")
    page = client_for(partner_rep).get(reverse("partners:detail", args=[partner.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "AG-SECRET-1" in body
    assert "Penalty clause A" in body
    assert partner_rep.email in body
    assert reverse("kpi:scorecard") in body
    # No vendor controls for partner staff.
    assert "status_form" not in page.context


@pytest.mark.parametrize("name", ["partners:detail", "partners:profile_edit"])
def test_other_partners_pages_answer_404(client_for, partner_admin, other_partner, name):
    assert client_for(partner_admin).get(reverse(name, args=[other_partner.pk])).status_code == 404


@pytest.mark.parametrize(("name", "_"), VENDOR_ONLY)
def test_partner_staff_get_403_on_vendor_pages(client_for, partner_admin, name, _):
    assert client_for(partner_admin).get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", VENDOR_POSTS)
def test_partner_admin_cannot_change_status_tier_or_manager(client_for, partner_admin, name):
    partner = partner_admin.partner
    response = client_for(partner_admin).post(
        reverse(name, args=[partner.pk]), {"to_status": "suspended", "reason": "x"}
    )
    assert response.status_code == 403
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE


@pytest.mark.parametrize(
    "name", ["partners:directory", "partners:onboarding", "partners:tiers", "partners:review_queue"]
)
def test_anonymous_users_go_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_partner_admin_edits_profile_and_contacts_but_not_program_fields(client_for, partner_admin):
    partner = partner_admin.partner
    client = client_for(partner_admin)
    response = client.post(
        reverse("partners:profile_edit", args=[partner.pk]),
        {"description": "We install and support", "website": "https://alpha.example", "status": "terminated"},
    )
    assert response.status_code == 302
    response = client.post(
        reverse("partners:contact_set", args=[partner.pk]),
        {"contact-role": "support", "contact-name": "Oleg Support", "contact-email": "oleg@alpha.example"},
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.description == "We install and support"
    assert partner.status == PartnerStatus.ACTIVE
    assert partner.contacts.get(role="support").name == "Oleg Support"


def test_partner_rep_cannot_edit_contacts(client_for, partner_rep):
    response = client_for(partner_rep).post(
        reverse("partners:contact_set", args=[partner_rep.partner_id]),
        {"contact-role": "support", "contact-name": "X", "contact-email": "x@alpha.example"},
    )
    assert response.status_code == 403


def test_bad_contact_email_is_a_field_error(client_for, channel_manager, partner):
    response = client_for(channel_manager).post(
        reverse("partners:contact_set", args=[partner.pk]),
        {"contact-role": "sales", "contact-name": "Anna", "contact-email": "nope"},
    )
    assert response.status_code == 200
    assert "email" in response.context["contact_form"].errors
    assert not partner.contacts.exists()


@pytest.fixture
def two_tier():
    distributor = PartnerFactory(name="Big Distributor", program_model=ProgramModel.DISTRIBUTOR)
    reseller = PartnerFactory(name="Small Reseller", program_model=ProgramModel.RESELLER, parent=distributor)
    now = timezone.now()
    LeadFactory(partner=reseller, stage=Stage.REGISTERED, value=Decimal("100"))
    LeadFactory(partner=reseller, stage=Stage.PROPOSAL, value=Decimal("250"))
    LeadFactory(partner=reseller, stage=Stage.WON, value=Decimal("1000"), won_at=now - datetime.timedelta(days=30))
    LeadFactory(partner=reseller, stage=Stage.WON, value=Decimal("5000"), won_at=now - datetime.timedelta(days=400))
    LeadFactory(partner=reseller, stage=Stage.LOST, value=Decimal("999"))
    AgreementFactory(partner=distributor, number="AG-DIST-PRIVATE")
    PartnerContactFactory(partner=distributor, role="sales", email="dist-sales@dist.example")
    return distributor, reseller


def test_distributor_sees_its_resellers_pipeline_totals(client_for, two_tier):
    distributor, reseller = two_tier
    user = PartnerUserFactory(partner=distributor, role=Role.PARTNER_ADMIN)
    response = client_for(user).get(reverse("partners:detail", args=[distributor.pk]))
    [row] = response.context["resellers"]
    assert row == reseller
    assert row.open_count == 2
    assert row.open_value == Decimal("350")
    assert row.won_value_12m == Decimal("1000")
    assert "Small Reseller" in response.content.decode()
    # ...but still cannot open the reseller's own page.
    assert client_for(user).get(reverse("partners:detail", args=[reseller.pk])).status_code == 404


def test_reseller_sees_its_distributor_name_but_not_its_private_data(client_for, two_tier):
    distributor, reseller = two_tier
    user = PartnerUserFactory(partner=reseller, role=Role.PARTNER_ADMIN)
    client = client_for(user)
    body = client.get(reverse("partners:detail", args=[reseller.pk])).content.decode()
    assert "Big Distributor" in body
    assert "AG-DIST-PRIVATE" not in body
    assert "dist-sales@dist.example" not in body
    assert client.get(reverse("partners:detail", args=[distributor.pk])).status_code == 404
