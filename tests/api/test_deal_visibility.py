"""Rule 6 — who sees a deal: one predicate (`prm.permissions.scope_for` with the lead queryset's `of_partner`),
so the portal, the API and the change feed agree. A co-seller sees the deal everywhere; a stranger nowhere."""

from decimal import Decimal

import pytest
from django.urls import reverse

from leads.models import CoSell
from prm.models import Role
from tests.leads.factories import LeadFactory
from tests.partners.factories import PartnerFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(partner, other_partner):
    """Partner A's deal, co-sold by partner B (other_partner)."""
    lead = LeadFactory(partner=partner, title="Shared firewall rollout")
    CoSell.objects.create(lead=lead, partner=other_partner, share_percent=Decimal("30"))
    return lead


@pytest.fixture
def viewers(other_partner):
    """The co-seller's admin and a stranger's admin (a partner that has nothing to do with the deal)."""
    return {
        "co_seller": PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=other_partner),
        "stranger": PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=PartnerFactory(name="Gamma")),
    }


def _portal_list(user, deal, client_for, api, make_key):
    response = client_for(user).get(reverse("leads:deal_list"))
    assert response.status_code == 200
    return deal.title in response.content.decode()


def _portal_detail(user, deal, client_for, api, make_key):
    response = client_for(user).get(reverse("leads:deal_detail", args=[deal.pk]))
    assert response.status_code in (200, 404)
    return response.status_code == 200 and deal.title in response.content.decode()


def _api_list(user, deal, client_for, api, make_key):
    response = api(make_key(user)[1]).get("/api/v1/leads/")
    assert response.status_code == 200
    return deal.pk in [row["id"] for row in response.json()["results"]]


def _api_detail(user, deal, client_for, api, make_key):
    response = api(make_key(user)[1]).get(f"/api/v1/leads/{deal.pk}/")
    assert response.status_code in (200, 404)
    return response.status_code == 200 and response.json()["id"] == deal.pk


def _change_feed(user, deal, client_for, api, make_key):
    response = api(make_key(user)[1]).get("/api/v1/changes/")
    assert response.status_code == 200
    return any(r["resource"] == "leads" and r["id"] == deal.pk for r in response.json()["results"])


DOORS = {
    "portal_list": _portal_list,
    "portal_detail": _portal_detail,
    "api_list": _api_list,
    "api_detail": _api_detail,
    "change_feed": _change_feed,
}


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("who", "sees"), [("co_seller", True), ("stranger", False)])
def test_who_sees_a_deal_is_the_same_whatever_the_door(door, who, sees, deal, viewers, client_for, api, make_key):
    assert DOORS[door](viewers[who], deal, client_for, api, make_key) is sees


def test_a_co_seller_sees_the_deals_customer_but_cannot_change_the_deal_through_the_api(deal, viewers, api, make_key):
    client = api(make_key(viewers["co_seller"])[1])
    assert deal.customer_id in [row["id"] for row in client.get("/api/v1/customers/").json()["results"]]
    response = client.patch(f"/api/v1/leads/{deal.pk}/", {"title": "mine now"}, format="json")
    assert response.status_code == 403
    assert client.post(f"/api/v1/leads/{deal.pk}/stage/", {"stage": "qualified"}, format="json").status_code == 403
