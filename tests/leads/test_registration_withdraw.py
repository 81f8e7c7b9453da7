"""Rule 8 and the end of a claim: a partner withdraws a registration (portal and API), a lost deal releases its
protection (portal and API) unless another open deal of the partner holds it, and registrations waiting for review
get a decision deadline in business hours with an escalation job."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, ProtectionWindow, Registration, RegistrationPolicy, RegistrationStatus, Stage
from leads.services.registration import Rule, registrations_escalate
from prm.models import AuditEvent, Notification, NotificationKind, Role, WebhookDelivery
from tests.leads.doors import api_client_for
from tests.prm.factories import UserFactory

pytestmark = pytest.mark.django_db
TAX = "7701234560"
DOORS = ["portal_withdraw", "api_withdraw", "portal_lost", "api_lost"]


def _end_via(door, *, client, user, reg):
    lead_id = reg.lead_id
    if door == "portal_withdraw":
        client.force_login(user)
        response = client.post(reverse("leads:registration_withdraw", args=[lead_id]), {"reason": "Lost to a rival"})
        assert response.status_code == 302
        page = client.get(response.url).content.decode()
        assert "Registration withdrawn. The customer is no longer protected for you." in page
    elif door == "api_withdraw":
        response = api_client_for(reg.partner).post(
            f"/api/v1/registrations/{reg.pk}/withdraw/", {"reason": "Lost to a rival"}, format="json"
        )
        assert response.status_code == 200, response.content[:500]
        assert response.json()["status"] == "withdrawn"
    elif door == "portal_lost":
        client.force_login(user)
        data = {"to_stage": "lost", "lost_reason": "Lost to a rival", "confirmed": "1"}
        assert client.post(reverse("leads:deal_stage", args=[lead_id]), data).status_code == 302
    else:
        response = api_client_for(reg.partner).post(
            f"/api/v1/leads/{lead_id}/stage/", {"stage": "lost", "lost_reason": "Lost to a rival"}, format="json"
        )
        assert response.status_code == 200, response.content[:500]


@pytest.mark.parametrize("door", DOORS)
def test_a_withdrawn_or_lost_deal_releases_the_customer(
    door, client, register, partner, partner_rep, other_partner, other_partner_rep
):
    reg = register(partner, partner_rep, tax_id=TAX)
    _end_via(door, client=client, user=partner_rep, reg=reg)

    reg = Registration.objects.get(pk=reg.pk)
    assert not ProtectionWindow.objects.filter(active=True).exists()
    lead = Lead.objects.get(pk=reg.lead_id)
    assert lead.stage == Stage.LOST and lead.closed_at is not None
    if "withdraw" in door:
        assert reg.status == RegistrationStatus.WITHDRAWN and reg.decision_rule == Rule.WITHDRAWN
        assert AuditEvent.objects.filter(action="registration.withdrawn", object_id=str(reg.pk)).exists()
    else:
        assert reg.status == RegistrationStatus.EXPIRED and reg.decision_rule == Rule.RELEASED
    assert AuditEvent.objects.filter(action="registration.protection_released", object_id=str(reg.pk)).exists()
    # Nobody is told "already protected" any more.
    assert register(other_partner, other_partner_rep, tax_id=TAX).status == RegistrationStatus.APPROVED


@pytest.mark.parametrize("door", DOORS)
def test_the_partners_other_open_deal_keeps_the_protection(door, client, register, partner, partner_rep):
    first = register(partner, partner_rep, tax_id=TAX)
    second = register(partner, partner_rep, tax_id=TAX, title="Second")
    assert second.decision_rule == Rule.OWN_PROTECTION

    _end_via(door, client=client, user=partner_rep, reg=first)

    window = ProtectionWindow.objects.get(active=True, key=TAX)
    assert window.registration_id == second.pk and window.partner == partner
    assert Registration.objects.get(pk=second.pk).status == RegistrationStatus.APPROVED


def test_withdrawing_a_pending_registration_emits_a_webhook_and_hides_the_button_afterwards(
    client, register, partner, partner_rep, partner_admin
):
    RegistrationPolicy.objects.create(program_model=partner.program_model, auto_approve=False)
    reg = register(partner, partner_rep, tax_id=TAX)
    assert reg.status == RegistrationStatus.PENDING_REVIEW
    api = api_client_for(partner)
    from prm.api_auth import api_key_create
    from prm.webhooks import webhook_subscribe

    key = api_key_create(created_by=partner_admin, name="hooks", scopes=["registrations:read"])[0]
    webhook_subscribe(api_key=key, url="https://crm.example/hook", events=["registration.withdrawn"], actor=None)

    client.force_login(partner_rep)
    page = client.get(reverse("leads:deal_detail", args=[reg.lead_id])).content.decode()
    assert "Withdraw registration" in page and "A channel manager decides by" in page
    client.post(reverse("leads:registration_withdraw", args=[reg.lead_id]), {"reason": "Customer postponed"})

    assert WebhookDelivery.objects.filter(event="registration.withdrawn").exists()
    page = client.get(reverse("leads:deal_detail", args=[reg.lead_id])).content.decode()
    assert "Withdraw registration" not in page and "Withdrawn by the partner: Customer postponed" in page
    response = api.post(f"/api/v1/registrations/{reg.pk}/withdraw/", {"reason": "again"}, format="json")
    assert response.status_code == 400 and response["Content-Type"].startswith("application/problem+json")


def test_another_partner_cannot_withdraw(client, register, partner, partner_rep, other_partner, other_partner_rep):
    reg = register(partner, partner_rep, tax_id=TAX)
    client.force_login(other_partner_rep)
    assert client.post(reverse("leads:registration_withdraw", args=[reg.lead_id]), {"reason": "x"}).status_code == 404
    response = api_client_for(other_partner).post(
        f"/api/v1/registrations/{reg.pk}/withdraw/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404
    assert Registration.objects.get(pk=reg.pk).status == RegistrationStatus.APPROVED


def test_a_pending_registration_gets_a_deadline_shown_in_the_queue_and_is_escalated_once(
    client, register, partner, partner_rep, channel_manager
):
    lead_cm = UserFactory(role=Role.CHANNEL_MANAGER, email="lead@vendor.example", is_channel_lead=True)
    RegistrationPolicy.objects.create(program_model=partner.program_model, auto_approve=False)
    reg = register(partner, partner_rep, tax_id=TAX)
    assert reg.review_due > reg.decided_at

    client.force_login(channel_manager)
    page = client.get(reverse("leads:registration_review")).content.decode()
    assert "decide by" in page and timezone.localtime(reg.review_due).strftime("%H:%M") in page
    assert "overdue" not in page

    assert registrations_escalate(now=reg.review_due - timedelta(minutes=1)) == 0
    from leads.tasks import registrations_escalate as task

    assert task.delay().get() == 0
    assert registrations_escalate(now=reg.review_due + timedelta(minutes=1)) == 1
    assert registrations_escalate(now=reg.review_due + timedelta(hours=1)) == 0  # once
    assert Notification.objects.filter(user=lead_cm, kind=NotificationKind.ESCALATION).count() == 1
    Registration.objects.filter(pk=reg.pk).update(review_due=timezone.now() - timedelta(hours=1))
    page = client.get(reverse("leads:registration_review")).content.decode()
    assert "overdue" in page
