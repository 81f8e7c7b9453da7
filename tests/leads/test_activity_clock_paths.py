"""Rule 3, when a deal was touched: the portal's activity log, the API's single activity create and the API's bulk
upsert all keep first_contact_at and last_activity_at by one function (leads.services.deals.leads_activity_clock)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Stage
from leads.services.deals import activity_log, leads_activity_clock
from prm.models import Role
from tests.leads.doors import api_client_for
from tests.leads.factories import ActivityFactory, LeadFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db
DOORS = ["portal_form", "api_single", "api_bulk"]


def _log_via(door, *, client, user, lead, at, n=0):
    if door == "portal_form":
        client.force_login(user)
        data = {"kind": "call", "occurred_at": timezone.localtime(at).strftime("%Y-%m-%d %H:%M"), "subject": "Call"}
        response = client.post(reverse("leads:deal_activity", args=[lead.pk]), data)
        assert response.status_code == 302, response.content[:500]
        return
    api = api_client_for(lead.partner)
    item = {"lead": lead.pk, "kind": "call", "occurred_at": at.isoformat(), "subject": "Call"}
    if door == "api_single":
        response = api.post("/api/v1/activities/", item, format="json")
        assert response.status_code == 201, response.content[:500]
    else:
        item.update(source_system="crm", external_id=f"a{n}")
        response = api.post("/api/v1/activities/bulk-upsert/", {"items": [item]}, format="json")
        assert response.json()["results"][0]["status"] == "created", response.content[:500]


@pytest.fixture
def routed_deal(partner):
    now = timezone.now().replace(second=0, microsecond=0)
    return LeadFactory(
        partner=partner, source="vendor", stage=Stage.REGISTERED, offered_at=now - timedelta(hours=3),
        accepted_at=now - timedelta(hours=2), first_contact_due=now + timedelta(hours=6),
    )  # fmt: skip


@pytest.mark.parametrize("door", DOORS)
def test_an_activity_sets_first_contact_and_last_activity_whatever_the_door(door, client, partner_rep, routed_deal):
    now = timezone.now().replace(second=0, microsecond=0)
    first, later = now - timedelta(hours=1), now - timedelta(minutes=10)

    _log_via(door, client=client, user=partner_rep, lead=routed_deal, at=later, n=1)
    lead = Lead.objects.get(pk=routed_deal.pk)
    assert lead.first_contact_at == later and lead.last_activity_at == later

    _log_via(door, client=client, user=partner_rep, lead=routed_deal, at=first, n=2)  # an earlier call, synced late
    lead = Lead.objects.get(pk=routed_deal.pk)
    assert lead.first_contact_at == first and lead.last_activity_at == later
    assert lead.first_contact_at <= lead.first_contact_due  # counts as a first contact in time (KPI, ledger)


def test_deleting_the_first_activity_through_the_api_moves_first_contact(partner, routed_deal):
    now = timezone.now().replace(microsecond=0)
    early = ActivityFactory(lead=routed_deal, occurred_at=now - timedelta(hours=1))
    ActivityFactory(lead=routed_deal, occurred_at=now)
    leads_activity_clock(lead_ids=[routed_deal.pk])
    assert Lead.objects.get(pk=routed_deal.pk).first_contact_at == early.occurred_at
    assert api_client_for(partner).delete(f"/api/v1/activities/{early.pk}/").status_code == 204
    lead = Lead.objects.get(pk=routed_deal.pk)
    assert lead.first_contact_at == now == lead.last_activity_at


def test_activities_of_a_partner_the_lead_was_reclaimed_from_are_no_first_contact(partner, other_partner):
    lead = LeadFactory(partner=other_partner, source="vendor")
    old = ActivityFactory(lead=lead, partner=other_partner, occurred_at=timezone.now() - timedelta(days=40))
    Lead.objects.filter(pk=lead.pk).update(partner=partner, first_contact_at=None)  # reclaimed and re-routed
    rep = PartnerUserFactory(role=Role.PARTNER_SALES, partner=partner)
    at = timezone.now() - timedelta(minutes=5)
    activity_log(lead=lead, user=rep, kind="call", occurred_at=at, subject="Hello")
    lead.refresh_from_db()
    assert lead.first_contact_at == at and at > old.occurred_at
