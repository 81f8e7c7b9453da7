"""Browser journey, continued: an on-site ticket far from the partner's engineers is dispatched to a field partner,
who accepts the work order; the breach costs the responsible partner a penalty on its statement, and the nightly
run explains the tier warning it causes on the scorecard."""

from datetime import timedelta

import pytest
from django.utils import timezone

from kpi.services.nightly import nightly_run
from leads.delivery import services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.models import Priority, TicketKind
from leads.models import Stage
from partners.models import Metric, PartnerType, ProgramModel, TierRequirement
from prm.models import Role
from tests.browser.conftest import login
from tests.conftest import with_totp
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import CustomerFactory, LeadFactory
from tests.partners.factories import PartnerFactory, RegionFactory, TierFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dispatch_breach_penalty_and_tier_explained(page, browser, live_server, shot, partner_admin):
    partner = partner_admin.partner
    entry = TierFactory(name="Registered", rank=0)
    gold = TierFactory(name="Gold", rank=1)
    TierRequirement.objects.create(tier=gold, metric=Metric.SLA_RESOLUTION, threshold=90)
    partner.tier = gold
    partner.save(update_fields=["tier"])
    assert entry.pk

    far = RegionFactory(name="Kamchatka")
    field = PartnerFactory(
        name="Kamchatka Field Service",
        program_model=ProgramModel.FULL_CYCLE,
        partner_type=PartnerType.OPERATIONAL,
        home_region=far,
        regions=[far],
    )
    field_admin = with_totp(PartnerUserFactory(partner=field, role=Role.PARTNER_ADMIN, email="admin@field.example"))
    customer = CustomerFactory(region=far, name="Far Retail")
    LeadFactory(partner=partner, customer=customer, stage=Stage.WON, won_at=timezone.now())
    contract = ServiceContractFactory(partner=partner, customer=customer, onsite_included=True)
    start = timezone.now() - timedelta(hours=1)
    ticket = services.ticket_open(
        contract=contract,
        actor=partner_admin,
        title="Mount the kiosks",
        kind=TicketKind.ONSITE,
        priority=Priority.P2,
        at=start,
    )

    login(page, partner_admin.email)
    page.goto(f"/delivery/tickets/{ticket.pk}/")
    page.get_by_role("button", name="Dispatch to a field partner").click()
    page.wait_for_load_state("networkidle")
    card = page.inner_text("#dispatch")
    assert "not accepted yet" in card and "Acceptance deadline" in card

    subcontractor = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 900}).new_page()
    login(subcontractor, field_admin.email)
    subcontractor.goto("/deals/offers/")
    assert "On-site visit: Mount the kiosks" in subcontractor.inner_text("body")
    subcontractor.get_by_role("button", name="Accept").first.click()
    subcontractor.wait_for_load_state("networkidle")
    assert subcontractor.goto(f"/delivery/tickets/{ticket.pk}/").status == 404  # the work order only

    page.reload()
    card = page.inner_text("#dispatch")
    assert "Kamchatka Field Service" in card and "Visit (first contact) due" in card
    shot("after-sale-dispatch", for_docs=False)

    tickets_flag_breaches(now=start + timedelta(days=30))
    page.goto("/kpi/statement/")
    assert f"Service SLA breach: ticket #{ticket.pk}" in page.inner_text("body")

    nightly_run(on=timezone.localdate())
    page.goto("/kpi/scorecard/")
    body = page.inner_text("body")
    assert "Service tickets resolved within SLA" in body
    history = page.locator("table").last
    history.locator("summary").first.click()
    assert "Warning: requirements not met" in history.inner_text(), history.inner_text()
    assert "Service tickets resolved within SLA, %: 0 / 90 ✗" in history.inner_text()
    shot("after-sale-scorecard", for_docs=False)
