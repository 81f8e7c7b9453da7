"""Incremental sync: stable cursor pages, updated_since, and the change feed with deletions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Activity, Lead
from prm.models import Change
from tests.leads.factories import ActivityFactory, LeadFactory
from tests.partners.factories import PartnerContactFactory

pytestmark = pytest.mark.django_db


def _walk(client, url):
    rows, next_url = [], url
    while next_url:
        body = client.get(next_url).json()
        rows += body["results"]
        next_url = body["next"]
    return rows


def test_cursor_pages_are_stable_while_rows_change(api, key_a, partner):
    leads = [LeadFactory(partner=partner) for _ in range(7)]
    client = api(key_a)
    first = client.get("/api/v1/leads/?page_size=3").json()
    seen = [r["id"] for r in first["results"]]
    # A row already read changes: it moves to the end, nothing else is skipped or repeated out of order.
    Lead.objects.get(pk=seen[0]).save()
    rest = _walk(client, first["next"])
    rest_ids = [r["id"] for r in rest]
    assert set(seen) | set(rest_ids) == {lead.pk for lead in leads}
    assert rest_ids[-1] == seen[0]
    stamps = [r["updated_at"] for r in first["results"] + rest]
    assert stamps == sorted(stamps)


def test_updated_since_on_every_list(api, key_a, two_partner_data):
    from portal.api_urls import SYNC_RESOURCES
    from tests.api.test_scoping import PREFIX

    client = api(key_a)
    future = (timezone.now() + timedelta(minutes=5)).isoformat()
    past = (timezone.now() - timedelta(minutes=5)).isoformat()
    for resource in SYNC_RESOURCES:
        url = f"/api/v1/{PREFIX.get(resource, resource)}/"
        assert client.get(url, {"updated_since": future}).json()["results"] == [], resource
        if resource in two_partner_data["a"]:
            assert client.get(url, {"updated_since": past}).json()["results"], resource
        assert client.get(url, {"updated_since": "not-a-date"}).status_code == 400


def test_updated_since_returns_only_changed_rows(api, key_a, partner):
    old, changed = LeadFactory(partner=partner), LeadFactory(partner=partner)
    Lead.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    Lead.objects.filter(pk=changed.pk).update(updated_at=timezone.now() - timedelta(days=2))
    since = timezone.now() - timedelta(days=1)
    changed.title = "Renamed"
    changed.save()
    ids = [r["id"] for r in api(key_a).get("/api/v1/leads/", {"updated_since": since.isoformat()}).json()["results"]]
    assert ids == [changed.pk]


def _feed(client, since=None, limit=1000):
    params = {"limit": limit} | ({"since": since} if since else {})
    return client.get("/api/v1/changes/", params).json()


def test_change_feed_mirrors_creates_updates_and_deletes(api, key_a, partner):
    client = api(key_a)
    lead = LeadFactory(partner=partner)
    activity = ActivityFactory(lead=lead)
    contact = PartnerContactFactory(partner=partner)
    page = _feed(client)
    mirror = {(c["resource"], c["id"]): c["data"] for c in page["results"]}
    assert ("leads", lead.pk) in mirror and ("activities", activity.pk) in mirror and ("contacts", contact.pk) in mirror
    cursor = page["next_cursor"]
    assert _feed(client, cursor)["results"] == []

    lead.title = "Changed"
    lead.save()
    assert client.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204
    Activity.objects.filter(pk=activity.pk).delete()  # a portal path: the receiver records the tombstone
    page = _feed(client, cursor)
    ops = [(c["resource"], c["id"], c["op"]) for c in page["results"]]
    assert ops == [
        ("leads", lead.pk, "upsert"),
        ("contacts", contact.pk, "delete"),
        ("activities", activity.pk, "delete"),
    ]
    assert page["results"][0]["data"]["title"] == "Changed"
    assert Change.objects.filter(resource="contacts", object_id=contact.pk, partner_id=partner.pk, op="d").count() == 1


def test_change_feed_pages_through_ties_without_loss(api, key_a, partner):
    leads = [LeadFactory(partner=partner) for _ in range(5)]
    same = timezone.now()
    Lead.objects.filter(pk__in=[x.pk for x in leads]).update(updated_at=same)
    client = api(key_a)
    got, cursor = [], None
    while True:
        page = _feed(client, cursor, limit=2)
        on_page = [(c["resource"], c["id"]) for c in page["results"]]
        assert len(on_page) == len(set(on_page))  # an object changed twice shows once per page, as it is now
        got += on_page
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    lead_ids = [i for r, i in got if r == "leads"]
    assert set(lead_ids) == {x.pk for x in leads}


def test_other_partners_tombstones_are_not_in_my_feed(api, key_a, other_partner):
    contact = PartnerContactFactory(partner=other_partner)
    pk = contact.pk
    contact.delete()
    assert Change.objects.filter(resource="contacts", object_id=pk, partner_id=other_partner.pk, op="d").exists()
    assert not [c for c in _feed(api(key_a))["results"] if c["op"] == "delete"]


def test_change_feed_rejects_a_bad_cursor(api, key_a):
    response = api(key_a).get("/api/v1/changes/", {"since": "garbage!"})
    assert response.status_code == 400
    assert "since" in response.json()["errors"]


def test_change_feed_only_lists_resources_the_key_may_read(api, partner_admin, make_key, partner):
    LeadFactory(partner=partner)
    PartnerContactFactory(partner=partner)
    _key, raw = make_key(partner_admin, scopes=["contacts:read"])
    resources = {c["resource"] for c in _feed(api(raw))["results"]}
    assert resources == {"contacts"}


def test_extreme_offsets_and_tampered_cursors_are_handled(api, key_a):
    import base64
    import json

    client = api(key_a)
    assert client.get("/api/v1/leads/", {"updated_since": "2504-07-16T18:10:10+19:17"}).status_code == 200
    assert client.get("/api/v1/leads/", {"updated_since": "9999-12-31T23:59:59-23:00"}).status_code == 400
    for payload in (["2026-01-01T00:00:00+19:17", "leads", 1], ["2026-01-01T00:00:00", "leads", 1], ["x", "y", "z"]):
        cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        assert client.get("/api/v1/changes/", {"since": cursor}).status_code in (200, 400)


def test_numbered_changes_older_than_the_retention_are_purged(api, key_a, partner):
    from prm.api_changes import changes_assign_positions, changes_purge

    LeadFactory(partner=partner)
    changes_assign_positions()
    Change.objects.update(at=timezone.now() - timedelta(days=31))
    fresh = LeadFactory(partner=partner)
    assert changes_purge() > 0
    assert set(Change.objects.values_list("object_id", flat=True)) >= {fresh.pk}
    assert not Change.objects.filter(at__lt=timezone.now() - timedelta(days=30)).exists()
