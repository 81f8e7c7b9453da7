"""Browser journey after the sale: deal won → implementation with a late milestone → contract → status link →
the customer opens a ticket and signs off go-live → the partner works the ticket → a breach shows on both sides."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.delivery.breaches import tickets_flag_breaches
from leads.models import Stage
from leads.services.deals import deal_stage_change
from tests.browser.conftest import login
from tests.leads.factories import LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_after_sale_journey(page, browser, live_server, shot, partner_admin):
    lead = LeadFactory(
        partner=partner_admin.partner, owner=partner_admin, stage=Stage.NEGOTIATION, title="Retail rollout"
    )
    deal_stage_change(lead=lead, to_stage=Stage.WON, actor=partner_admin)

    login(page, partner_admin.email)
    page.get_by_role("button", name="After sale").or_(page.get_by_role("link", name="After sale")).first.click()
    page.get_by_role("link", name="Implementations").click()
    page.get_by_role("link", name="Retail rollout").click()
    assert "Implementation: Retail rollout" in page.inner_text("h1")

    page.fill("#id_title", "Pilot store")
    page.fill("#id_due_on", (timezone.localdate() - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Add milestone").click()
    page.wait_for_load_state("networkidle")
    assert "late" in page.inner_text(".list-group")

    page.fill("#id_monthly_fee", "100000")
    page.get_by_role("button", name="Add service contract").click()
    page.wait_for_load_state("networkidle")
    assert "No service contract yet." not in page.content()

    page.get_by_role("button", name="Create link").click()
    page.wait_for_load_state("networkidle")
    status_link = page.locator(".alert-success code").inner_text()
    signoff_link = page.locator("code").last.inner_text()
    shot("after-sale-implementation", for_docs=False)

    customer = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    customer.goto(status_link)
    assert "Pilot store" in customer.content() and "late" in customer.content()
    customer.fill("#id_title", "Tills offline")
    customer.select_option("#id_priority", "p1")
    customer.fill("#id_contact_name", "Olga")
    customer.get_by_role("button", name="Open ticket").click()
    customer.wait_for_load_state("networkidle")
    assert "Your ticket is open" in customer.content()
    assert "Tills offline" in customer.inner_text("body") and "due" in customer.inner_text("body")
    shot("after-sale-status-page", for_docs=False)

    customer.goto(signoff_link)
    customer.fill("#id_name", "Ivan Petrov")
    customer.get_by_role("button", name="The system is live — sign off").click()
    assert "Go-live is signed off" in customer.content()

    page.goto("/delivery/tickets/")
    page.get_by_role("link", name="Tills offline").click()
    page.select_option("select[name=status]", "waiting_customer")
    page.get_by_role("button", name="Change status").click()
    page.wait_for_load_state("networkidle")
    assert "paused" in page.inner_text(".clock-resolution")
    page.select_option("select[name=status]", "in_progress")
    page.get_by_role("button", name="Change status").click()
    page.wait_for_load_state("networkidle")

    tickets_flag_breaches(now=timezone.now() + timedelta(days=5))  # business hours: weekends do not count
    page.reload()
    assert "breached" in page.inner_text(".clock-resolution")
    assert "Service credits owed to the customer" in page.content()
    customer.goto(status_link)
    assert "breached" in customer.inner_text("body")
