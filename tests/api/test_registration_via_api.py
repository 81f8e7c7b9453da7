"""A partner's CRM creating deals through the API gets no protection for free: its new deals are deal
registrations, checked for conflicts by the registration rules (leads.services.registration)."""

from decimal import Decimal

import pytest

from leads.models import Lead, LeadSource, ProtectionWindow, RegistrationStatus, Stage
from leads.services.deals import deal_allowed_moves
from leads.services.registration import CustomerData, DealData, Rule, deal_register, registrations_check
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/bulk-upsert/"


def _item(n, *, tax_id="7701234560", name="Romashka", **extra):
    return {
        "source_system": "amo",
        "external_id": f"d{n}",
        "title": f"Deal {n}",
        "customer": {"name": name, "tax_id": tax_id},
        **extra,
    }


def _upsert(client, items):
    response = client.post(URL, {"items": items}, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


def test_a_new_partner_deal_is_not_workable_until_its_registration_is_approved(
    api, key_a, partner, partner_admin, django_capture_on_commit_callbacks
):
    client = api(key_a)
    with django_capture_on_commit_callbacks() as callbacks:
        [result] = _upsert(client, [_item(1)])
    lead = Lead.objects.get(pk=result["id"])
    assert lead.source == LeadSource.PARTNER_REGISTRATION and lead.stage == Stage.REGISTERED
    assert not ProtectionWindow.objects.exists() and deal_allowed_moves(lead=lead) == []
    response = client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "qualified"}, format="json")
    assert response.status_code == 400

    for callback in callbacks:  # the registration check queued for after the commit (eager Celery in tests)
        callback()
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.registration.status == RegistrationStatus.APPROVED
    assert lead.registration.submitted_by == partner_admin
    assert ProtectionWindow.objects.filter(registration=lead.registration, key="7701234560").exists()
    assert client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "qualified"}, format="json").status_code == 200


def test_a_customer_protected_by_another_partner_is_rejected_not_taken_over(
    api, key_a, other_partner, django_capture_on_commit_callbacks
):
    holder = deal_register(
        partner=other_partner,
        submitted_by=PartnerUserFactory(partner=other_partner),
        customer=CustomerData(name="Romashka", tax_id="7701234560"),
        deal=DealData(title="Theirs", value=Decimal("1")),
    )
    assert holder.status == RegistrationStatus.APPROVED
    with django_capture_on_commit_callbacks(execute=True):
        [result] = _upsert(api(key_a), [_item(1)])
    lead = Lead.objects.get(pk=result["id"])
    assert result["status"] == "created"
    assert lead.registration.status == RegistrationStatus.REJECTED
    assert lead.registration.decision_rule == Rule.HARD_CONFLICT
    assert not lead.registration.windows.exists() and deal_allowed_moves(lead=lead) == []
    assert ProtectionWindow.objects.filter(active=True, key="7701234560").get().partner == other_partner


def test_a_registered_deal_keeps_its_customer(api, key_a, django_capture_on_commit_callbacks):
    client = api(key_a)
    with django_capture_on_commit_callbacks(execute=True):
        [first] = _upsert(client, [_item(1), _item(2)])[:1]
    moved, renamed = _upsert(
        client, [_item(1, tax_id="7709999995", name="Other", title="Moved"), _item(2, title="Renamed")]
    )
    assert moved["status"] == "error" and list(moved["errors"]) == ["customer"]
    assert renamed["status"] == "updated"
    lead = Lead.objects.get(pk=first["id"])
    assert lead.customer.tax_id == "7701234560" and lead.title == "Deal 1"  # nothing of the bad item was saved


def test_vendor_keys_assign_deals_without_a_registration(api, vendor_key, partner):
    [result] = _upsert(api(vendor_key), [_item(1, partner=partner.pk)])
    lead = Lead.objects.get(pk=result["id"])
    assert lead.source == LeadSource.API and lead.partner == partner
    assert deal_allowed_moves(lead=lead) == [Stage.QUALIFIED, Stage.LOST]


def test_single_create_by_a_partner_key_is_a_registration_too(api, key_a, django_capture_on_commit_callbacks):
    body = {"title": "One", "customer": {"name": "Romashka", "tax_id": "7701234560"}}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(key_a).post("/api/v1/leads/", body, format="json")
    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.source == LeadSource.PARTNER_REGISTRATION
    assert lead.registration.status == RegistrationStatus.APPROVED


def test_the_periodic_check_registers_deals_whose_task_was_lost(api, key_a):
    [result] = _upsert(api(key_a), [_item(1)])  # on-commit callbacks never run here: the task is "lost"
    assert registrations_check() == 1
    assert Lead.objects.get(pk=result["id"]).registration.status == RegistrationStatus.APPROVED
    assert registrations_check() == 0  # nothing twice
