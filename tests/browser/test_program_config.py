"""A channel manager changes a tier threshold in the portal: configuration → new threshold → sees the impact
preview → saves → the change is in the audit trail (issue 17, item 7)."""

from decimal import Decimal

import pytest

from partners.models import TierRequirement
from prm.models import AuditEvent, Role
from tests.browser.conftest import login
from tests.kpi.test_tiers import put, set_tier
from tests.partners.factories import PartnerFactory, TierFactory, TierRequirementFactory
from tests.prm.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_channel_manager_previews_and_saves_a_threshold(page, shot):
    import datetime

    day = datetime.date.today()
    TierFactory(code="registered", name="Registered", rank=0, commission_rate=Decimal("0.05"))
    silver = TierFactory(code="silver", name="Silver", rank=1, commission_rate=Decimal("0.10"))
    requirement = TierRequirementFactory(tier=silver, metric="sla_acceptance", threshold=Decimal("80"))
    for pct in (82, 86, 90):
        partner = PartnerFactory(name=f"Partner {pct}")
        set_tier(partner, silver)
        put(partner, day, acceptance=str(pct))
    UserFactory(role=Role.CHANNEL_MANAGER, email="cm@vendor.example")

    login(page, "cm@vendor.example")
    page.goto("/kpi/")
    page.click("text=Program configuration: tiers")
    page.fill("input[name=threshold]", "88")
    page.click("text=Preview the impact")
    preview = page.locator(".impact-preview")
    assert "Impact of" in preview.inner_text()
    assert page.locator(".impact-warning td").nth(2).inner_text() == "2"
    shot("config-tier-preview")
    page.click("text=Save this threshold")
    assert "recorded in the audit trail" in page.inner_text("body")
    requirement.refresh_from_db()
    assert requirement.threshold == Decimal("88")
    assert AuditEvent.objects.filter(action="tier.requirement_changed").count() == 1
    assert TierRequirement.objects.get().threshold == Decimal("88")


def test_channel_manager_previews_and_saves_routing_weights_from_the_menu(page, shot):
    from leads.models import RoutingWeights
    from leads.services.routing import lead_route
    from tests.leads.routing_factories import region, routing_partner, tier_only_weights, vendor_lead

    msk = region("msk")
    tier_only_weights()
    routing_partner(regions=[msk], weight=2)
    routing_partner(regions=[msk], weight=1)
    for _ in range(6):
        lead_route(lead=vendor_lead(region=msk))
    UserFactory(role=Role.CHANNEL_MANAGER, email="cm@vendor.example")

    login(page, "cm@vendor.example")
    page.click("#nav-program-configuration")
    page.click(".dropdown-menu >> text=Routing weights")
    page.fill("input[name=tier_points]", "0")
    page.fill("input[name=sla_points]", "30")
    page.click("text=Preview the impact")
    assert "These weights move ~16.7% of leads to other partners." in page.inner_text(".impact-preview")
    shot("config-routing-preview", focus=".impact-preview")
    page.click("text=Save these weights")
    assert "recorded in the audit trail" in page.inner_text("body")
    assert "Routing weights changed" in page.inner_text(".config-history")
    assert RoutingWeights.objects.get().tier_points == 0
