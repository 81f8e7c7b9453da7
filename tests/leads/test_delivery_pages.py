"""Portal pages and the customer's signed-link pages: what each side sees, and nothing of other customers."""

import datetime
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.delivery import links, services
from leads.delivery.models import ClockState, ImplementationStatus, Priority, Ticket, TicketSource, TicketStatus
from leads.models import Stage
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import CustomerFactory, LeadFactory


@pytest.fixture
def setup(partner_admin, partner_engineer):
    lead = LeadFactory(
        partner=partner_admin.partner,
        owner=partner_admin,
        stage=Stage.WON,
        won_at=timezone.now(),
        title="Retail rollout",
    )
    implementation = services.implementation_open(lead=lead, actor=partner_admin)
    services.milestone_add(
        implementation=implementation,
        actor=partner_admin,
        title="Pilot store",
        due_on=timezone.localdate() - timedelta(days=2),
    )
    contract = ServiceContractFactory(
        partner=partner_admin.partner, customer=lead.customer, support_owner=partner_engineer, number="SC-1"
    )
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="Tills offline", priority=Priority.P1)
    return {"implementation": implementation, "contract": contract, "ticket": ticket, "customer": lead.customer}


def status_url(token):
    return reverse("delivery:status_page", args=[token])


def test_partner_pages_show_tickets_clocks_and_late_milestones(client_for, partner_admin, setup):
    client = client_for(partner_admin)
    page = client.get(reverse("delivery:tickets")).content.decode()
    assert "Tills offline" in page and "due" in page
    page = client.get(reverse("delivery:implementation_detail", args=[setup["implementation"].pk])).content.decode()
    assert "Pilot store" in page and "late" in page


def test_partner_changes_status_and_priority_from_the_portal(client_for, partner_admin, setup):
    client = client_for(partner_admin)
    ticket = setup["ticket"]
    client.post(reverse("delivery:ticket_status", args=[ticket.pk]), {"status": "waiting_customer"})
    client.post(reverse("delivery:ticket_priority", args=[ticket.pk]), {"priority": "p2"})
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority) == (TicketStatus.WAITING_CUSTOMER, Priority.P2)
    assert ticket.clocks.get(kind="resolution").state == ClockState.PAUSED
    response = client.post(reverse("delivery:ticket_status", args=[ticket.pk]), {"status": "closed"}, follow=True)
    assert "cannot move" in response.content.decode()


def test_another_partner_gets_404(client_for, other_partner_rep, setup):
    client = client_for(other_partner_rep)
    assert client.get(reverse("delivery:ticket_detail", args=[setup["ticket"].pk])).status_code == 404
    assert client.get(reverse("delivery:implementation_detail", args=[setup["implementation"].pk])).status_code == 404
    assert "Tills offline" not in client.get(reverse("delivery:tickets")).content.decode()


def test_ticket_form_offers_only_own_contracts(client_for, other_partner_rep, setup):
    client = client_for(other_partner_rep)
    response = client.post(
        reverse("delivery:ticket_create"),
        {"contract": setup["contract"].pk, "title": "Sneaky", "priority": "p1", "kind": "incident"},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Ticket.objects.filter(title="Sneaky").exists()


def test_customer_status_page_shows_own_items_and_opens_a_ticket(client, partner_admin, setup):
    other_customer = CustomerFactory(name="Other Customer Co")
    other_contract = ServiceContractFactory(partner=partner_admin.partner, customer=other_customer)
    services.ticket_open(contract=other_contract, actor=partner_admin, title="Secret of another customer")
    _link, token = links.customer_link_issue(
        customer=setup["customer"], partner=partner_admin.partner, actor=partner_admin
    )

    page = client.get(status_url(token)).content.decode()
    assert "Tills offline" in page and "Pilot store" in page and str(setup["contract"].support_owner) in page
    assert "Secret of another customer" not in page

    # The form offers only this customer's contracts; another customer's contract id is refused.
    response = client.post(
        status_url(token), {"contract": other_contract.pk, "title": "Hijack", "priority": "p1", "contact_name": "X"}
    )
    assert response.status_code == 200 and not Ticket.objects.filter(title="Hijack").exists()
    response = client.post(
        status_url(token),
        {"contract": setup["contract"].pk, "title": "Scanner broken", "priority": "p2", "contact_name": "Olga"},
        follow=True,
    )
    assert "Scanner broken" in response.content.decode()
    ticket = Ticket.objects.get(title="Scanner broken")
    assert (ticket.source, ticket.customer_id, ticket.partner_id) == (
        TicketSource.CUSTOMER,
        setup["customer"].pk,
        partner_admin.partner_id,
    )


def test_revoked_expired_or_altered_links_open_nothing(client, partner_admin, setup):
    link, token = links.customer_link_issue(
        customer=setup["customer"], partner=partner_admin.partner, actor=partner_admin
    )
    assert client.get(status_url(token)).status_code == 200
    assert client.get(status_url(token[:-2] + "xx")).status_code == 404
    links.customer_link_revoke(link=link, actor=partner_admin)
    assert client.get(status_url(token)).status_code == 404
    assert client.post(status_url(token), {"title": "x"}).status_code == 404
    link2, token2 = links.customer_link_issue(
        customer=setup["customer"], partner=partner_admin.partner, actor=partner_admin
    )
    type(link2).objects.filter(pk=link2.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(status_url(token2)).status_code == 404
    # A sign-off token is not a status token (different salt).
    signoff = links.signoff_token(implementation=setup["implementation"])
    assert client.get(status_url(signoff)).status_code == 404


def test_links_only_for_own_customers(partner_admin, other_partner_rep, setup):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        links.customer_link_issue(customer=setup["customer"], partner=partner_admin.partner, actor=other_partner_rep)
    with pytest.raises(ValidationError):
        links.customer_link_issue(customer=CustomerFactory(), partner=partner_admin.partner, actor=partner_admin)


def test_go_live_sign_off_link_works_once(client, setup):
    url = reverse("delivery:signoff", args=[links.signoff_token(implementation=setup["implementation"])])
    assert "Pilot store" in client.get(url).content.decode()
    assert client.post(url, {"name": ""}).status_code == 200  # form error, nothing signed
    client.post(url, {"name": "Ivan Petrov"})
    setup["implementation"].refresh_from_db()
    assert setup["implementation"].status == ImplementationStatus.LIVE
    response = client.post(url, {"name": "Someone else"})
    assert "signed off by Ivan Petrov" in response.content.decode()
    setup["implementation"].refresh_from_db()
    assert setup["implementation"].signed_off_by == "Ivan Petrov"


def test_rating_after_resolution_once(client, partner_admin, setup):
    ticket = setup["ticket"]
    url = reverse("delivery:rate", args=[links.rating_token(ticket=ticket)])
    response = client.post(url, {"rating": 5})
    assert "resolved" in response.content.decode() and Ticket.objects.get(pk=ticket.pk).rating is None
    services.ticket_transition(ticket=ticket, to_status=TicketStatus.RESOLVED, actor=partner_admin)
    client.post(url, {"rating": 4, "comment": "Quick"})
    assert Ticket.objects.get(pk=ticket.pk).rating == 4
    client.post(url, {"rating": 1})
    assert Ticket.objects.get(pk=ticket.pk).rating == 4


def test_contract_from_the_implementation_page(client_for, partner_admin, setup):
    client = client_for(partner_admin)
    url = reverse("delivery:implementation_detail", args=[setup["implementation"].pk])
    response = client.post(
        url,
        {
            "action": "contract",
            "starts_on": "2026-05-01",
            "ends_on": "2026-04-01",
            "monthly_fee": "100",
            "currency": "RUB",
        },
    )
    assert response.status_code == 200 and "cannot end before it starts" in response.content.decode()
    assert setup["customer"].service_contracts.count() == 1
    client.post(
        url,
        {"action": "contract", "starts_on": "2026-05-01", "monthly_fee": "100", "currency": "RUB", "number": "SC-2"},
    )
    assert setup["customer"].service_contracts.filter(number="SC-2", lead=setup["implementation"].lead).exists()
    assert datetime.date(2026, 5, 1) == setup["customer"].service_contracts.get(number="SC-2").starts_on


def test_pages_speak_russian(client_for, partner_admin, setup):
    client = client_for(partner_admin)
    client.cookies["django_language"] = "ru"
    page = client.get(
        reverse("delivery:ticket_detail", args=[setup["ticket"].pk]), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert "Таймеры SLA" in page and "После продажи" in page and "P1 — критический" in page
