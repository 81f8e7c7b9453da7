"""Program configuration in the portal (issue 17, item 7): a tier threshold changed by a channel manager, with the
impact computed by the nightly run's own tier rule before saving, and the change audited."""

from decimal import Decimal

import pytest
from django.urls import reverse

from kpi.models import TierChange
from kpi.services.tiers import tier_evaluate, tier_requirement_impact
from partners.models import TierRequirement
from prm.models import AuditEvent
from tests.kpi.test_tiers import put, set_tier
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def network(tiers, day):
    """Three Silver partners at 82, 86 and 90 % acceptance; one Registered partner at 85 %."""
    silvers = [PartnerFactory(name=f"Silver {p}") for p in (82, 86, 90)]
    for partner, pct in zip(silvers, (82, 86, 90)):
        set_tier(partner, tiers["silver"])
        put(partner, day, acceptance=str(pct))
    newcomer = PartnerFactory(name="Newcomer")
    set_tier(newcomer, tiers["registered"])
    put(newcomer, day, acceptance="85")
    return TierRequirement.objects.get(tier=tiers["silver"])


def test_the_preview_is_what_the_nightly_run_then_does(network, day):
    impact = tier_requirement_impact(requirement=network, threshold=Decimal("88"))
    assert impact["now"] == {"promotion": 1}
    assert impact["proposed"] == {"warning": 2}  # 82 and 86 fall short; 85 is no longer enough for the newcomer
    network.threshold = Decimal("88")
    network.save()
    changes = tier_evaluate(on=day)
    assert sorted(c.kind for c in changes) == ["warning", "warning"]
    assert TierChange.objects.count() == 2


def test_channel_manager_previews_then_saves_and_it_is_audited(network, client_for, channel_manager):
    client = client_for(channel_manager)
    page = client.get(reverse("kpi:tier_config"))
    assert page.status_code == 200 and "Silver" in page.content.decode()
    preview = client.post(reverse("kpi:tier_config"), {"requirement": network.pk, "threshold": "88", "preview": "1"})
    html = preview.content.decode()
    assert 'class="impact-warning"><td>Warning: requirements not met</td><td>0</td><td>2</td>' in html
    assert 'class="impact-promotion"><td>Promotion</td><td>1</td><td>0</td>' in html
    network.refresh_from_db()
    assert network.threshold == Decimal("80")  # a preview saves nothing
    saved = client.post(reverse("kpi:tier_config"), {"requirement": network.pk, "threshold": "88", "save": "1"})
    assert saved.status_code == 302
    network.refresh_from_db()
    assert network.threshold == Decimal("88")
    event = AuditEvent.objects.get(action="tier.requirement_changed")
    assert event.actor == channel_manager and event.data["from"] == "80.00" and event.data["to"] == "88"
    history = client.get(reverse("kpi:tier_config")).content.decode()
    assert "Tier requirement changed" in history and f"{network.get_metric_display()}: 80 → 88" in history


def test_bad_threshold_is_a_form_error(network, client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("kpi:tier_config"), {"requirement": network.pk, "threshold": "-1"}
    )
    assert response.status_code == 400


def test_partners_cannot_configure_the_program(client_for, partner_admin):
    assert client_for(partner_admin).get(reverse("kpi:tier_config")).status_code == 403
