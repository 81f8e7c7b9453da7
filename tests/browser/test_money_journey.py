"""Browser journey of the money cycle: the channel manager allocates MDF → the partner requests → approved → the
partner claims with a proof file → the claim is approved → the reimbursement is on the partner's statement → the
month is closed, approved and paid; then a won deal is reversed → the clawback is on the next statement.

Months pass by moving Django's clock (`django.utils.timezone.now`) forward: a month can only be closed after it
has ended. Each step asserts what the user on that side sees."""

import datetime
import re

import pytest
from django.utils import timezone

from kpi.models import CommissionEntry, EntryKind, Statement, StatementStatus
from kpi.services.ledger import commission_accrue
from leads.models import Stage
from partners.models import AgreementStatus, PartnerStatus
from prm.models import Role
from tests.browser.conftest import login
from tests.leads.factories import LeadFactory
from tests.partners.factories import AgreementFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4\n% webinar attendance report\n"


def text(page, selector="body") -> str:
    """The page's text with non-breaking spaces as spaces (money is formatted with them)."""
    return page.inner_text(selector).replace("\xa0", " ")


def see(page, message: str):
    page.wait_for_selector(f".alert:has-text('{message}')")


@pytest.fixture
def clock(monkeypatch):
    """`clock.forward(days)` moves the server's clock (and every `timezone.localdate()`) forward."""
    real_now = timezone.now

    class Clock:
        offset = datetime.timedelta(0)

        def forward(self, days: int):
            self.offset += datetime.timedelta(days=days)

    c = Clock()
    monkeypatch.setattr(timezone, "now", lambda: real_now() + c.offset)
    return c


def test_money_journey(page, browser, live_server, shot, channel_manager, partner, clock, settings):
    settings.SESSION_COOKIE_AGE = 365 * 24 * 3600  # both users stay signed in while months pass
    partner_admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=partner, email="money@alpha.example")
    partner.status = PartnerStatus.ACTIVE
    partner.save()
    AgreementFactory(partner=partner, status=AgreementStatus.SIGNED, commission_rate_override="0.1000")
    deal = LeadFactory(
        partner=partner, stage=Stage.WON, won_at=timezone.now(), value=100000, title="Retail chain licences"
    )
    commission_accrue(on=timezone.localdate())  # the nightly run: 10 % of 100,000
    today = timezone.localdate()
    month_end = (today.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)
    this_month = today.strftime("%Y-%m")

    cm = page
    partner_page = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900}).new_page()
    partner_page.set_default_timeout(15_000)
    login(cm, channel_manager.email)
    login(partner_page, partner_admin.email)

    # 1. The channel manager creates a budget and allocates 100,000 of it to the partner.
    cm.goto("/kpi/funds/")
    cm.fill("#id_name", "MDF this quarter")
    cm.fill("#id_period_start", today.replace(day=1).isoformat())
    cm.fill("#id_period_end", (month_end + datetime.timedelta(days=31)).isoformat())
    cm.fill("#id_amount", "500000")
    cm.get_by_role("button", name="Create budget").click()
    see(cm, "Budget created.")
    cm.get_by_role("link", name="MDF this quarter").click()
    cm.select_option("#id_partner", label=partner.name)
    cm.fill("#id_amount", "100000")
    cm.get_by_role("button", name="Allocate", exact=True).click()
    see(cm, "Allocated.")
    assert partner.name in text(cm, "table") and "RUB 100,000.00" in text(cm, "table")

    # 2. The partner sees its balance and asks for funds for a webinar.
    partner_page.goto("/kpi/funds/")
    assert "Available: RUB 100,000.00" in text(partner_page)
    partner_page.select_option("#id_allocation", index=1)
    partner_page.select_option("#id_activity_type", "webinar")
    partner_page.fill("#id_title", "Security webinar")
    partner_page.fill("#id_starts_on", today.isoformat())
    partner_page.fill("#id_ends_on", today.isoformat())
    partner_page.fill("#id_planned_cost", "60000")
    partner_page.fill("#id_requested_amount", "30000")
    partner_page.fill("#id_expected_leads", "10")
    partner_page.fill("#id_expected_pipeline", "600000")
    partner_page.get_by_role("button", name="Send request").click()
    see(partner_page, "Request sent to the vendor.")
    assert "Waiting for decision" in text(partner_page, "table")

    # 3. The channel manager finds it in the approval queue and approves it.
    cm.goto("/kpi/funds/")
    cm.get_by_role("link", name="Request: Security webinar").click()
    cm.select_option("#id_decision", "approve")
    cm.get_by_role("button", name="Decide", exact=True).click()
    see(cm, "Saved.")
    assert "Approved" in text(cm, "h1")

    # 4. The partner claims the costs: a file that is not a document is refused, a PDF report is accepted.
    partner_page.goto("/kpi/funds/")
    partner_page.get_by_role("link", name="Security webinar").click()
    partner_page.fill("#id_amount", "28500")
    partner_page.fill("#id_leads_generated", "9")
    partner_page.set_input_files("#id_proof", {"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"hi"})
    partner_page.get_by_role("button", name="Send claim").click()
    assert "The file is not a real pdf document." in text(partner_page)
    partner_page.fill("#id_amount", "28500")
    partner_page.set_input_files(
        "#id_proof", {"name": "webinar-report.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    partner_page.get_by_role("button", name="Send claim").click()
    see(partner_page, "Saved.")
    assert re.search(r"Claim\s+Waiting for decision", text(partner_page))

    # 5. The channel manager approves the claim: it is reimbursed through the ledger.
    cm.goto("/kpi/funds/")
    cm.get_by_role("link", name="Claim: Security webinar").click()
    cm.select_option("#id_decision", "approve")
    cm.get_by_role("button", name="Decide the claim").click()
    see(cm, "Saved.")
    assert "Approved and reimbursed" in text(cm) and "reimbursed RUB 28,500.00" in text(cm)

    # 6. The partner sees the reimbursement and the deal's commission in its open period.
    partner_page.goto("/kpi/statements/")
    assert "RUB 38,500.00" in text(partner_page, ".card")
    partner_page.get_by_role("link", name="2 entries").click()
    body = text(partner_page)
    assert "MDF reimbursement" in body and "28,500.00" in body and "Retail chain licences" in body
    # Each entry says which month's statement will pay it (no holding period here: this month's).
    assert partner_page.locator("[data-payable]").all_inner_texts() == [today.strftime("%B %Y")] * 2
    shot("money-01-open-period", for_docs=False)

    # 7. The month ends. The channel manager closes it, reviews the statement, approves and pays it.
    clock.forward(40)
    cm.goto("/kpi/statements/")
    cm.fill("#id_period", this_month)
    cm.get_by_role("button", name="Close the month").click()
    see(cm, "closed: 1 statement created.")
    cm.locator("table a").first.click()
    assert "Closed" in text(cm, "h1")
    assert "28,500.00" in text(cm, "[data-figure=reimbursement]") and "10,000.00" in text(cm, "[data-figure=accrual]")
    assert "RUB 38,500.00" in text(cm, "[data-figure=total]")
    cm.get_by_role("button", name="Approve").click()
    see(cm, "Statement approved.")
    cm.fill("#id_payment_reference", "PAY-2026-0042")
    cm.get_by_role("button", name="Mark paid").click()
    see(cm, "Statement marked paid.")
    assert "Paid" in text(cm, "h1") and "PAY-2026-0042" in text(cm)
    shot("money-02-statement-paid", for_docs=False)

    # 8. The partner sees the month paid, with the reimbursement and the payment reference.
    partner_page.goto("/kpi/statements/")
    row = text(partner_page, "table")
    assert "Paid" in row and "PAY-2026-0042" in row and "RUB 38,500.00" in row
    partner_page.locator("table a").first.click()
    partner_page.locator("[data-figure=reimbursement]").click()
    entries = text(partner_page, "#entries")
    assert "MDF reimbursement" in entries and "Retail chain licences" not in entries

    # 9. The deal is refunded: the channel manager reverses the win; the clawback waits in the open period.
    cm.goto(f"/deals/{deal.pk}/")
    cm.locator("#move-deal button[value=lost]").click()
    cm.fill("input[name=lost_reason]", "Customer refunded")
    cm.locator("#confirm-lost").click()
    cm.wait_for_load_state("networkidle")
    partner_page.goto("/kpi/statements/open/")
    body = text(partner_page)
    assert "Clawback of a reversed deal" in body and "-RUB10,000.00" in body.replace(" ", "")
    paid = Statement.objects.get(partner=partner)
    assert (paid.status, paid.total) == (StatementStatus.PAID, 38500)  # the paid month did not move

    # 10. The next month is closed: the clawback is on that statement.
    clock.forward(31)
    cm.goto("/kpi/statements/")
    next_month = timezone.localdate().replace(day=1) - datetime.timedelta(days=1)
    cm.fill("#id_period", next_month.strftime("%Y-%m"))
    cm.get_by_role("button", name="Close the month").click()
    see(cm, "closed: 1 statement created.")
    partner_page.goto("/kpi/statements/")
    partner_page.get_by_role("link", name=next_month.strftime("%B %Y")).click()
    assert "-10,000.00" in text(partner_page, "[data-figure=clawback]").replace(" ", "").replace("RUB", "")
    assert "Clawback" in text(partner_page, "#entries") and "Retail chain licences" in text(partner_page, "#entries")
    shot("money-03-clawback-next-statement", for_docs=False)
    clawback = CommissionEntry.objects.get(kind=EntryKind.CLAWBACK)
    assert clawback.statement_period == next_month.replace(day=1)
