"""Rule 7, what the admin may do: fields owned by services are read-only; admin actions call the services."""

import pytest
from django.urls import reverse

from leads.models import Customer, Lead, Registration, RegistrationStatus, Stage
from prm.models import AuditEvent

pytestmark = pytest.mark.django_db


def _readonly(client, url):
    return set(client.get(url).context["adminform"].readonly_fields)


def test_service_owned_fields_are_read_only(client_for, vendor_admin, register, partner, partner_rep):
    reg = register(partner, partner_rep, name="Romashka", tax_id="7707083893")
    client = client_for(vendor_admin)
    assert {"stage", "partner", "customer"} <= _readonly(client, reverse("admin:leads_lead_change", args=[reg.lead_id]))
    assert {"status", "protected_until"} <= _readonly(client, reverse("admin:leads_registration_change", args=[reg.pk]))
    assert "normalized_name" in _readonly(client, reverse("admin:leads_customer_change", args=[reg.lead.customer_id]))


def test_posting_a_stage_or_status_through_the_admin_changes_nothing(
    client_for, vendor_admin, register, partner, partner_rep, other_partner
):
    reg = register(partner, partner_rep, name="Romashka", tax_id="7707083893")
    client = client_for(vendor_admin)
    lead_url = reverse("admin:leads_lead_change", args=[reg.lead_id])
    client.post(lead_url, {"title": reg.lead.title, "stage": "won", "partner": other_partner.pk, "kind": "license"})
    reg_url = reverse("admin:leads_registration_change", args=[reg.pk])
    client.post(reg_url, {"status": "rejected"})
    lead, reg = Lead.objects.get(pk=reg.lead_id), Registration.objects.get(pk=reg.pk)
    assert (lead.stage, lead.partner_id, reg.status) == (Stage.REGISTERED, partner.pk, RegistrationStatus.APPROVED)


def test_admin_actions_call_the_services(client_for, vendor_admin, register, partner, partner_rep):
    reg = register(partner, partner_rep, name="Romashka", tax_id="7707083893")
    client = client_for(vendor_admin)
    client.post(
        reverse("admin:leads_lead_changelist"),
        {"action": "mark_lost", "_selected_action": [reg.lead_id]},
    )
    lead = Lead.objects.get(pk=reg.lead_id)
    assert lead.stage == Stage.LOST and lead.lost_reason
    assert AuditEvent.objects.filter(action="deal.stage_changed", object_id=str(lead.pk)).exists()


def test_admin_registration_decision_goes_through_the_review_service(
    client_for, vendor_admin, register, partner, partner_rep, other_partner, other_partner_rep
):
    register(partner, partner_rep, name="Romashka Plus", tax_id="7707083893")
    pending = register(other_partner, other_partner_rep, name="Romashka Plus Group", tax_id="7736050003")
    assert pending.status == RegistrationStatus.PENDING_REVIEW
    client_for(vendor_admin).post(
        reverse("admin:leads_registration_changelist"), {"action": "reject", "_selected_action": [pending.pk]}
    )
    pending.refresh_from_db()
    assert pending.status == RegistrationStatus.REJECTED and pending.decisions.count() == 2
    assert pending.lead.stage == Stage.REJECTED  # the deal follows the decision, as from the review page


def test_offers_are_not_created_or_edited_in_the_admin(client_for, vendor_admin):
    client = client_for(vendor_admin)
    assert client.get(reverse("admin:leads_offer_add")).status_code == 403
    assert client.get(reverse("admin:leads_protectionwindow_add")).status_code == 403


def test_customers_created_in_admin_get_their_key_from_the_one_rule(client_for, vendor_admin):
    client = client_for(vendor_admin)
    data = {"name": "ООО «Ромашка»", "country": "RU", "tax_id": "77О7 083 893", "domain": "WWW.Romashka.ru"}
    response = client.post(reverse("admin:leads_customer_add"), {**data, "size": "", "reserved_reason": ""})
    assert response.status_code == 302
    customer = Customer.objects.get()
    assert (customer.normalized_name, customer.tax_id, customer.domain) == ("romashka", "7707083893", "romashka.ru")
    assert AuditEvent.objects.filter(action="customer.created").exists()
