"""Tickets, contracts and implementations over the API; one rule whatever the door."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.delivery import links
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.models import ClockAction, ClockEvent, ServiceContract, Ticket, TicketSource
from prm.models import WebhookDelivery
from prm.webhooks import webhook_subscribe
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract(partner):
    lead = LeadFactory(partner=partner, stage="won", won_at=timezone.now())
    return ServiceContractFactory(partner=partner, customer=lead.customer, lead=lead)


def _open_via(door, *, contract, client_for, api, key_a, partner_admin):
    body = {"contract": contract.pk, "title": "Tills offline", "priority": "p1", "kind": "incident"}
    if door == "portal":
        client_for(partner_admin).post(reverse("delivery:ticket_create"), body)
    elif door == "status_page":
        _link, token = links.customer_link_issue(
            customer=contract.customer, partner=contract.partner, actor=partner_admin
        )
        body.pop("kind")
        client_for(partner_admin).logout()
        api().post(reverse("delivery:status_page", args=[token]), {**body, "contact_name": "Olga"})
    elif door == "api_single":
        assert api(key_a).post("/api/v1/tickets/", body, format="json").status_code == 201
    elif door == "api_bulk":
        item = {**body, "source_system": "itsm", "external_id": "INC-1"}
        response = api(key_a).post("/api/v1/tickets/bulk-upsert/", {"items": [item]}, format="json")
        assert response.json()["results"][0]["status"] == "created", response.json()
    return Ticket.objects.get(title="Tills offline")


@pytest.mark.parametrize("door", ["portal", "status_page", "api_single", "api_bulk"])
def test_a_ticket_gets_the_same_clocks_whatever_the_door(door, contract, client_for, api, key_a, partner_admin):
    before = timezone.now()
    ticket = _open_via(
        door, contract=contract, client_for=client_for, api=api, key_a=key_a, partner_admin=partner_admin
    )
    assert (ticket.partner_id, ticket.customer_id, ticket.priority) == (contract.partner_id, contract.customer_id, "p1")
    clocks = {c.kind: c for c in ticket.clocks.all()}
    assert set(clocks) == {"response", "resolution"}
    assert before + timedelta(minutes=30) <= clocks["response"].due_at <= timezone.now() + timedelta(minutes=30)
    assert ClockEvent.objects.filter(clock__ticket=ticket, action=ClockAction.START).count() == 2
    expected_source = {"portal": TicketSource.PARTNER, "status_page": TicketSource.CUSTOMER}.get(door, TicketSource.API)
    assert ticket.source == expected_source


def test_bulk_upsert_is_idempotent_and_moves_clocks(api, key_a, contract):
    client = api(key_a)
    opened = (timezone.now() - timedelta(minutes=10)).isoformat()
    item = {
        "source_system": "itsm",
        "external_id": "INC-7",
        "contract": contract.pk,
        "title": "Down",
        "priority": "p2",
        "opened_at": opened,
    }
    first = client.post("/api/v1/tickets/bulk-upsert/", {"items": [item]}, format="json").json()["results"][0]
    again = client.post("/api/v1/tickets/bulk-upsert/", {"items": [item]}, format="json").json()["results"][0]
    assert (first["status"], again["status"], again["id"]) == ("created", "unchanged", first["id"])
    moved = client.post(
        "/api/v1/tickets/bulk-upsert/",
        {"items": [{**item, "status": "waiting_customer", "priority": "p1"}]},
        format="json",
    ).json()["results"][0]
    assert moved["status"] == "updated"
    ticket = client.get(f"/api/v1/tickets/{first['id']}/").json()
    assert ticket["status"] == "waiting_customer" and ticket["priority"] == "p1"
    assert {c["kind"]: c["state"] for c in ticket["clocks"]} == {"response": "stopped", "resolution": "paused"}
    bad = client.post(
        "/api/v1/tickets/bulk-upsert/",
        {
            "items": [
                {**item, "status": "closed"},
                {**item, "external_id": "INC-8", "priority": "p9"},
                {"external_id": "x"},
            ]
        },
        format="json",
    ).json()["results"]
    assert [r["status"] for r in bad] == ["error", "error", "error"]
    assert "priority" in bad[1]["errors"] and "source_system" in bad[2]["errors"]


def test_bad_input_gets_problem_json(api, key_a, contract, other_partner):
    client = api(key_a)
    foreign = ServiceContractFactory(partner=other_partner)
    response = client.post("/api/v1/tickets/", {"contract": foreign.pk, "title": "x"}, format="json")
    assert response.status_code == 400 and "contract" in response.json()["errors"]
    response = client.post("/api/v1/tickets/", {"contract": contract.pk, "title": "x", "priority": "p9"}, format="json")
    assert response.status_code == 400 and "priority" in response.json()["errors"]
    ticket_id = client.post("/api/v1/tickets/", {"contract": contract.pk, "title": "x"}, format="json").json()["id"]
    response = client.post(f"/api/v1/tickets/{ticket_id}/status/", {"status": "closed"}, format="json")
    assert response.status_code == 400 and response["Content-Type"].startswith("application/problem+json")
    response = client.post(
        "/api/v1/service-contracts/", {"customer": foreign.customer_id, "starts_on": "2026-01-01"}, format="json"
    )
    assert response.status_code == 400 and "customer" in response.json()["errors"]
    response = client.post(
        "/api/v1/service-contracts/",
        {"customer": contract.customer_id, "starts_on": "2026-02-01", "ends_on": "2026-01-01"},
        format="json",
    )
    assert response.status_code == 400 and "ends_on" in response.json()["errors"]
    assert ServiceContract.objects.count() == 2


def test_implementation_patch_and_milestones_in_the_payload(
    api, key_a, partner_admin, partner_engineer, other_partner_rep
):
    from leads.delivery.services import implementation_open, milestone_add

    lead = LeadFactory(partner=partner_admin.partner, stage="won", won_at=timezone.now())
    implementation = implementation_open(lead=lead, actor=partner_admin)
    milestone_add(implementation=implementation, actor=partner_admin, title="Pilot", due_on=timezone.localdate())
    client = api(key_a)
    url = f"/api/v1/implementations/{implementation.pk}/"
    assert client.get(url).json()["milestones"][0]["title"] == "Pilot"
    response = client.patch(url, {"owner": partner_engineer.pk, "planned_go_live": "2026-06-01"}, format="json")
    assert response.status_code == 200 and response.json()["owner"] == partner_engineer.pk
    assert client.patch(url, {"owner": other_partner_rep.pk}, format="json").status_code == 400
    assert client.patch(url, {"status": "live"}, format="json").status_code == 400


def test_breach_and_warning_webhooks(api, key_a, partner_admin, contract, make_key):
    key, _raw = make_key(partner_admin)
    webhook_subscribe(
        api_key=key,
        url="http://127.0.0.1:9/hook",
        events=["ticket.breach_warning", "ticket.breached"],
        actor=partner_admin,
    )
    from leads.delivery.services import ticket_open

    start = timezone.now() - timedelta(hours=1)
    ticket = ticket_open(contract=contract, actor=partner_admin, title="Down", priority="p1", at=start)
    tickets_flag_breaches(now=start + timedelta(minutes=25))
    tickets_flag_breaches(now=start + timedelta(minutes=31))
    events = list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == ["ticket.breach_warning", "ticket.breached"]  # the response clock; resolution is at 25 %
    payload = WebhookDelivery.objects.filter(event="ticket.breached").get().payload
    assert payload["data"]["ticket"] == ticket.pk and payload["data"]["clock"] == "response"


def test_checkin_received_webhook(partner_admin, make_key):
    from leads.delivery import checkins
    from leads.delivery.models import CheckIn
    from leads.delivery.services import implementation_open, implementation_sign_off

    key, _raw = make_key(partner_admin)
    webhook_subscribe(api_key=key, url="http://127.0.0.1:9/hook", events=["checkin.received"], actor=partner_admin)
    lead = LeadFactory(partner=partner_admin.partner, stage="won", won_at=timezone.now() - timedelta(days=60))
    implementation = implementation_open(lead=lead, actor=partner_admin)
    implementation_sign_off(implementation=implementation, name="Ivan", at=timezone.now() - timedelta(days=31))
    checkins.checkins_create_due()
    checkins.checkin_answer(checkin=CheckIn.objects.get(), rating=5, comment="Great")
    payload = WebhookDelivery.objects.get(event="checkin.received").payload
    assert payload["data"]["implementation"] == implementation.pk and payload["data"]["rating"] == 5
