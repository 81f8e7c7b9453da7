"""Browser journey: the customer cancels an on-site ticket on its status page before any field partner accepted the
visit; the field partner's offer disappears and its inbox says why, in the reader's language."""

import pytest

from leads.delivery import links, services
from leads.delivery.dispatch import ticket_dispatch
from leads.delivery.models import TicketKind
from partners.models import PartnerType, ProgramModel
from prm.models import Role
from tests.browser.conftest import login
from tests.conftest import with_totp
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import CustomerFactory
from tests.partners.factories import PartnerFactory, RegionFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_cancels_and_the_field_partner_sees_the_offer_withdrawn(page, browser, live_server, partner_admin):
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
    contract = ServiceContractFactory(partner=partner_admin.partner, customer=customer, onsite_included=True)
    ticket = services.ticket_open(
        contract=contract, actor=partner_admin, title="Mount the kiosks", kind=TicketKind.ONSITE
    )
    ticket_dispatch(ticket=ticket, actor=partner_admin)
    _link, token = links.customer_link_issue(customer=customer, partner=partner_admin.partner, actor=partner_admin)

    subcontractor = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 900}).new_page()
    login(subcontractor, field_admin.email)
    from django.urls import reverse

    from leads.models import Offer

    accept_form = (
        f"form[action='{reverse('leads:offer_accept', args=[Offer.objects.get(lead__dispatch__ticket=ticket).pk])}']"
    )
    subcontractor.goto("/deals/offers/")
    assert "Mount the kiosks" in subcontractor.inner_text("body")
    assert subcontractor.locator(accept_form).count() == 1

    # The customer, no account: cancels the ticket it no longer needs.
    page.goto(f"/delivery/status/{token}/")
    page.get_by_role("button", name="I no longer need this: cancel the ticket").click()
    page.wait_for_load_state("networkidle")
    body = page.inner_text("body")
    assert f"Your ticket #{ticket.pk} is cancelled." in body and "No open tickets." in body

    subcontractor.goto("/deals/offers/")
    assert subcontractor.locator(accept_form).count() == 0
    subcontractor.goto("/notifications/")
    inbox = subcontractor.inner_text("body")
    assert "Offer withdrawn: On-site visit: Mount the kiosks" in inbox
    assert "The customer's ticket was cancelled: the visit is no longer needed." in inbox
    # The same message for a reader who switched to Russian.
    subcontractor.context.add_cookies([{"name": "django_language", "value": "ru", "url": live_server.url}])
    subcontractor.goto("/notifications/")
    inbox = subcontractor.inner_text("body")
    assert "Предложение отозвано" in inbox and "Обращение клиента отменено: выезд больше не нужен." in inbox
