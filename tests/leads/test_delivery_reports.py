"""The monthly service report: on the customer's status page and e-mailed to the customer's contact once."""

import datetime
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from leads.delivery import links, services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.models import Priority, ServiceReport, TicketStatus
from leads.delivery.reports import service_report, service_reports_send
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import LeadFactory

T0 = datetime.datetime(2026, 3, 2, 7, 0, tzinfo=datetime.UTC)
MARCH = datetime.date(2026, 3, 1)


@pytest.fixture
def contract(partner_admin):
    contract = ServiceContractFactory(partner=partner_admin.partner, starts_on=datetime.date(2026, 1, 1))
    LeadFactory(partner=partner_admin.partner, customer=contract.customer, contact_email="cio@customer.example")
    ok = services.ticket_open(contract=contract, actor=partner_admin, title="ok", priority=Priority.P1, at=T0)
    services.ticket_transition(ticket=ok, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0)
    services.ticket_transition(
        ticket=ok, to_status=TicketStatus.RESOLVED, actor=partner_admin, at=T0 + timedelta(hours=1)
    )
    services.ticket_open(contract=contract, actor=partner_admin, title="late", priority=Priority.P1, at=T0)
    tickets_flag_breaches(now=T0 + timedelta(hours=5))
    return contract


def test_report_figures(contract):
    report = service_report(customer=contract.customer, partner=contract.partner, month=MARCH)
    assert (report.opened, report.resolved) == (2, 1)
    assert (report.response_met, report.response_total, report.resolution_met, report.resolution_total) == (1, 2, 1, 2)
    assert report.response_pct == Decimal("50.0")
    assert report.credits == {"RUB": Decimal("11000.00")}  # two breaches at 5 %, one P1 hour of downtime at 1 %


def test_reports_are_e_mailed_once_to_the_customer_contact(contract, partner_admin):
    _link, _token = links.customer_link_issue(
        customer=contract.customer, partner=contract.partner, actor=partner_admin, email="ops@customer.example"
    )
    assert service_reports_send(month=MARCH) == 1
    assert service_reports_send(month=MARCH) == 0
    [message] = mail.outbox
    assert message.to == ["ops@customer.example"]
    assert "Tickets opened: 2" in message.body and "Answered within SLA: 50" in message.body
    assert "11,000" in message.body
    assert ServiceReport.objects.get().sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_each_report_once(postgres_only, contract):
    barrier = threading.Barrier(2)

    def work():
        try:
            barrier.wait()
            service_reports_send(month=MARCH)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(mail.outbox) == 1 and ServiceReport.objects.count() == 1


def test_the_status_page_shows_this_months_report(client, contract, partner_admin):
    _link, token = links.customer_link_issue(customer=contract.customer, partner=contract.partner, actor=partner_admin)
    page = client.get(reverse("delivery:status_page", args=[token])).content.decode()
    assert 'id="service-report"' in page and "Answered within SLA" in page


def test_the_monthly_statement_lists_penalties_and_credits_with_their_tickets(client_for, contract, partner_admin):
    page = client_for(partner_admin).get(reverse("kpi:statement"), {"month": "2026-03"}).content.decode()
    late = contract.tickets.get(title="late")
    assert f"Service SLA breach: ticket #{late.pk}" in page
    assert 'id="service-credits"' in page and f"#{late.pk} late" in page
