"""The breach penalty and the service credit read in the reader's language wherever they are shown (the statement,
the ticket, the customer's status page); penalty lines booked before texts were composed are given the same code
+ parameters by the migration, and a row nobody could match keeps its English description."""

import datetime
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import reverse

from kpi.models import CommissionEntry, EntryKind
from leads.delivery import links, services
from leads.delivery.breaches import penalty_key, tickets_flag_breaches
from leads.delivery.models import ClockKind, Priority, TicketClock
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 7, 0, tzinfo=datetime.UTC)
backfill = importlib.import_module("leads.migrations.0026_checkin_api_work_order_withdraw_after").penalty_texts_backfill


@pytest.fixture
def late(partner_admin):
    contract = ServiceContractFactory(partner=partner_admin.partner, starts_on=datetime.date(2026, 1, 1))
    LeadFactory(partner=partner_admin.partner, customer=contract.customer)
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="Tills", priority=Priority.P1, at=T0)
    tickets_flag_breaches(now=T0 + timedelta(hours=5))
    return ticket


def _in(client, user, lang, url, **params):
    user.language = lang
    user.save(update_fields=["language"])
    client.force_login(user)
    return client.get(url, params, HTTP_ACCEPT_LANGUAGE=lang).content.decode()


def test_statement_lines_read_in_russian_and_english(client, partner_admin, late):
    ru = _in(client, partner_admin, "ru", reverse("kpi:statement"), month="2026-03")
    assert f"Нарушение сервисного SLA: обращение №{late.pk}, Ответ" in ru
    assert f"Сервисный кредит, обращение №{late.pk}: Нарушение SLA, 5" in ru
    en = _in(client, partner_admin, "en", reverse("kpi:statement"), month="2026-03")
    assert f"Service SLA breach: ticket #{late.pk}, Response" in en
    assert f"Service credit, ticket #{late.pk}: SLA breach, 5" in en


def test_ticket_page_and_status_page_show_the_credit_line(client, partner_admin, late):
    from django.utils import timezone

    now = timezone.now()
    fresh = services.ticket_open(
        contract=late.contract, actor=partner_admin, title="Scales", priority=Priority.P1, at=now - timedelta(hours=1)
    )
    tickets_flag_breaches(now=now)  # its response clock: a credit this month
    ru = _in(client, partner_admin, "ru", reverse("delivery:ticket_detail", args=[fresh.pk]))
    assert f"Сервисный кредит, обращение №{fresh.pk}: Нарушение SLA" in ru
    _link, token = links.customer_link_issue(customer=late.customer, partner=late.partner, actor=partner_admin)
    client.logout()
    page = client.get(reverse("delivery:status_page", args=[token]), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert f"Сервисный кредит, обращение №{fresh.pk}: Нарушение SLA" in page
    page = client.get(reverse("delivery:status_page", args=[token]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Service credit, ticket #{fresh.pk}: SLA breach" in page


def test_old_penalty_rows_get_the_code_and_read_in_russian(client, partner_admin, late):
    clock = TicketClock.objects.get(ticket=late, kind=ClockKind.RESPONSE)
    entry = CommissionEntry.objects.get(source_key=penalty_key(clock))
    # As booked before the ledger texts: the English description only.
    CommissionEntry.objects.filter(pk=entry.pk).update(
        text=None, description=f"Service SLA breach: ticket #{late.pk}, response time"
    )
    stranger = CommissionEntry.objects.create(
        partner=late.partner, kind=EntryKind.PENALTY, entry_date=datetime.date(2026, 3, 3), amount=-1,
        currency="RUB", amount_reporting=-1, description="Old manual penalty", source_key="penalty:ticket_clock:x",
    )  # fmt: skip
    assert "response time" in CommissionEntry.objects.get(pk=entry.pk).line  # old rows keep working as they were

    backfill(apps, None)

    entry.refresh_from_db()
    stranger.refresh_from_db()
    assert entry.text["t"] == "Service SLA breach: ticket #%(ticket)s, %(clock)s"
    assert stranger.text is None and stranger.line == "Old manual penalty"
    ru = _in(client, partner_admin, "ru", reverse("kpi:statement"), month="2026-03")
    assert f"Нарушение сервисного SLA: обращение №{late.pk}, Ответ" in ru and "Old manual penalty" in ru
