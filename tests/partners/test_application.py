import pytest
from django.core import mail
from django.urls import reverse

from partners.models import Partner, PartnerContact, PartnerStatus
from prm.models import AuditEvent, Notification, NotificationKind
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db

VALID_INN = "7707083893"  # Sberbank: a real, checksum-valid INN


def _form(region, **overrides):
    data = {
        "name": "Gamma Soft",
        "legal_name": "ООО «Гамма Софт»",
        "country": "RU",
        "tax_id": VALID_INN,
        "website": "https://gamma.example",
        "regions": [region.pk],
        "program_model": "full_cycle",
        "partner_type": "specialist",
        "contact_name": "Irina Petrova",
        "contact_email": "Irina@Gamma.example",
        "contact_phone": "+7 900 000 00 00",
    }
    data.update(overrides)
    return data


def test_anonymous_applicant_creates_applied_partner_and_contact(client, region, competency, channel_manager):
    response = client.post(reverse("partners:apply"), _form(region, competencies=[competency.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("partners:apply_thanks")
    partner = Partner.objects.get(tax_id=VALID_INN)
    assert partner.status == PartnerStatus.APPLIED
    assert list(partner.regions.all()) == [region]
    assert list(partner.competencies.all()) == [competency]
    contact = PartnerContact.objects.get(partner=partner)
    assert contact.email == "irina@gamma.example"
    assert AuditEvent.objects.filter(action="partner.applied", partner=partner).exists()
    assert Notification.objects.filter(user=channel_manager, kind=NotificationKind.PARTNER_STATUS).exists()
    assert client.get(response["Location"]).status_code == 200


def test_application_form_is_public(client):
    assert client.get(reverse("partners:apply")).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tax_id": "7707083894"}, "tax_id"),  # last digit breaks the INN checksum
        ({"tax_id": "12345"}, "tax_id"),
        ({"country": "DE", "tax_id": "DE123456789"}, "tax_id"),  # bad German VAT checksum
        ({"regions": ["999999"]}, "regions"),
        ({"contact_email": "not-an-email"}, "contact_email"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_saved(client, region, overrides, field):
    response = client.post(reverse("partners:apply"), _form(region, **overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Partner.objects.exists()
    assert not PartnerContact.objects.exists()
    # What the applicant typed is still in the form.
    assert "Gamma Soft" in response.content.decode()


def test_duplicate_tax_id_is_a_field_error(client, region):
    PartnerFactory(country="RU", tax_id=VALID_INN)
    response = client.post(reverse("partners:apply"), _form(region))
    assert response.status_code == 200
    assert "already registered" in response.context["form"].errors["tax_id"][0]
    assert Partner.objects.count() == 1


def test_valid_eu_vat_is_accepted_and_normalised(client, region):
    response = client.post(reverse("partners:apply"), _form(region, country="DE", tax_id="DE 136 695 976"))
    assert response.status_code == 302
    assert Partner.objects.get().tax_id == "DE136695976"


def test_no_mail_is_sent_to_the_applicant_before_the_agreement(client, region):
    client.post(reverse("partners:apply"), _form(region))
    assert not [m for m in mail.outbox if "irina@gamma.example" in m.to]
