import pytest
from django.urls import reverse

from partners.models import PartnerStatus
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def test_board_groups_pipeline_partners_by_status(client_for, channel_manager):
    PartnerFactory(name="New Applicant", status=PartnerStatus.APPLIED)
    PartnerFactory(name="In Review", status=PartnerStatus.UNDER_REVIEW)
    PartnerFactory(name="Long Active", status=PartnerStatus.ACTIVE)
    response = client_for(channel_manager).get(reverse("partners:onboarding"))
    columns = {status: [p.name for p in partners] for status, _label, partners in response.context["columns"]}
    assert columns["applied"] == ["New Applicant"]
    assert columns["under_review"] == ["In Review"]
    assert "Long Active" not in response.content.decode()


def test_login_page_links_to_public_pages(client):
    body = client.get(reverse("login")).content.decode()
    assert reverse("partners:locator") in body
    assert reverse("partners:apply") in body


def test_vendor_nav_has_applications_and_reviews(client_for, channel_manager):
    body = client_for(channel_manager).get(reverse("home")).content.decode()
    assert reverse("partners:onboarding") in body
    assert reverse("partners:review_queue") in body


@pytest.mark.parametrize("model", ["partner", "tier", "agreement", "customerreview"])
def test_admin_pages_open(client_for, vendor_admin, partner, model):
    client = client_for(vendor_admin)
    assert client.get(reverse(f"admin:partners_{model}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:partners_{model}_add")).status_code == 200


def test_admin_partner_change_page_keeps_status_read_only(client_for, vendor_admin, partner):
    response = client_for(vendor_admin).get(reverse("admin:partners_partner_change", args=[partner.pk]))
    assert response.status_code == 200
    assert 'name="status"' not in response.content.decode()
