"""The partner's CRM answers offers through /api/v1/offers/ with the portal's services: the same outcome whatever
the door (issue 20, 9)."""

import pytest
from django.urls import reverse

from leads.models import Offer, OfferStatus, Stage
from leads.services import routing
from prm.models import Role
from tests.leads.routing_factories import region, routing_partner, vendor_lead
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db
DOORS = ["portal", "api"]


@pytest.fixture
def offered(make_key):
    """A vendor lead routed to the only partner of its region; that partner's admin, key and the offer."""
    area = region("msk")
    partner = routing_partner(regions=[area], name="Alpha Integrator")
    admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=partner)
    lead = vendor_lead(region=area)
    routing.lead_route(lead=lead)
    return {"offer": Offer.objects.get(lead=lead), "user": admin, "key": make_key(admin)[1], "lead": lead}


def _answer(door, verb, offered, client, api, **body):
    offer = offered["offer"]
    if door == "portal":
        client.force_login(offered["user"])
        return client.post(reverse(f"leads:offer_{verb}", args=[offer.pk]), body)
    return api(offered["key"]).post(f"/api/v1/offers/{offer.pk}/{verb}/", body, format="json")


@pytest.mark.parametrize("door", DOORS)
def test_accepting_an_offer_makes_the_same_deal_whatever_the_door(door, offered, client, api):
    _answer(door, "accept", offered, client, api)
    offer, lead = Offer.objects.get(pk=offered["offer"].pk), offered["lead"]
    lead.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTED and offer.responded_by == offered["user"]
    assert lead.partner == offered["offer"].partner and lead.owner == offered["user"]
    assert lead.stage not in (Stage.NEW, Stage.OFFERED, Stage.QUEUE)


@pytest.mark.parametrize("door", DOORS)
def test_declining_an_offer_needs_a_reason_and_reroutes_whatever_the_door(door, offered, client, api):
    without = _answer(door, "decline", offered, client, api, reason="")
    assert without.status_code in (200, 400)  # the form again, or a 400 naming the field
    assert Offer.objects.get(pk=offered["offer"].pk).status == OfferStatus.PENDING
    _answer(door, "decline", offered, client, api, reason="No engineers free this month")
    offer = Offer.objects.get(pk=offered["offer"].pk)
    assert offer.status == OfferStatus.DECLINED and offer.reason == "No engineers free this month"


def test_the_api_lists_pending_offers_and_honours_if_match_and_idempotency(offered, api):
    client = api(offered["key"])
    pending = client.get("/api/v1/offers/", {"status": "pending"}).json()["results"]
    assert [o["id"] for o in pending] == [offered["offer"].pk]
    assert pending[0]["deadline"] and pending[0]["title"] == offered["lead"].title
    url = f"/api/v1/offers/{offered['offer'].pk}/"
    etag = client.get(url)["ETag"]
    assert client.post(url + "accept/", HTTP_IF_MATCH='"stale"').status_code == 412
    first = client.post(url + "accept/", HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="acc-1")
    again = client.post(url + "accept/", HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="acc-1")
    assert first.status_code == again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == OfferStatus.ACCEPTED
    late = client.post(url + "decline/", {"reason": "changed my mind"}, format="json")
    assert late.status_code == 400 and late["Content-Type"] == "application/problem+json"
    assert client.get("/api/v1/offers/", {"status": "pending"}).json()["results"] == []


def test_offer_expired_and_withdrawn_reach_the_partners_crm(offered, channel_manager):
    from datetime import timedelta

    from leads.services import offers
    from prm.models import ApiKey, WebhookDelivery, WebhookSubscription

    key = ApiKey.objects.get(partner=offered["offer"].partner)
    sub = WebhookSubscription.objects.create(
        api_key=key, url="https://crm.example/hook", events=["offer.expired", "offer.withdrawn"], secret="s"
    )
    offers.offer_withdraw(offer=offered["offer"], actor=channel_manager, reason="Direct deal")
    assert WebhookDelivery.objects.get(subscription=sub).payload["data"] == {
        "offer": offered["offer"].pk,
        "lead": offered["lead"].pk,
    }
    routing.lead_route(lead=offered["lead"])
    again = Offer.objects.get(lead=offered["lead"], status=OfferStatus.PENDING)
    assert offers.offers_expire(now=again.deadline + timedelta(seconds=1)) == 1
    events = sorted(WebhookDelivery.objects.filter(subscription=sub).values_list("event", flat=True))
    assert events == ["offer.expired", "offer.withdrawn"]
