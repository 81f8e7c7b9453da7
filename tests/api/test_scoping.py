"""Tenancy: every endpoint goes through the one scoped base, and partner A never sees or reaches B's rows."""

import pytest
from django.urls import get_resolver

from portal.api_urls import SYNC_RESOURCES, router
from prm.api_base import ScopedViewSet

pytestmark = pytest.mark.django_db

CATALOGUES = {"tiers", "courses"}  # vendor catalogues every key reads; no partner data
PREFIX = {
    "kpi_snapshots": "kpi-snapshots",
    "tier_changes": "tier-changes",
    "commission_entries": "commission-entries",
    "service_contracts": "service-contracts",
    "mdf_requests": "mdf-requests",
    "mdf_claims": "mdf-claims",
    "vendor_requests": "vendor-requests",
}


def _api_views():
    """Every view class mounted under /api/v1/, found by walking the URL conf (not the router's own list)."""
    found = set()

    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, route)
            elif route.startswith("api/v1/"):
                found.add((route, getattr(p.callback, "cls", None)))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_endpoint_uses_the_scoped_base():
    views = _api_views()
    assert len(views) >= 2 * len(SYNC_RESOURCES)
    offenders = [route for route, cls in views if cls is None or not issubclass(cls, ScopedViewSet)]
    assert not offenders


def test_every_resource_states_what_a_partner_sees_on_its_model():
    """One predicate (`scope_for`): a model either has a `partner` column or its queryset says what a partner sees."""
    from prm.permissions import CatalogueQuerySet, ScopedQuerySet

    for resource, viewset in SYNC_RESOURCES.items():
        qs = viewset.queryset
        if resource in CATALOGUES:
            assert isinstance(qs, ScopedQuerySet) and type(qs).of_partner is not ScopedQuerySet.of_partner, resource
            if resource == "tiers":
                assert isinstance(qs, CatalogueQuerySet)
        elif not isinstance(qs, ScopedQuerySet) or type(qs).of_partner is ScopedQuerySet.of_partner:
            assert any(f.name == "partner" for f in qs.model._meta.get_fields()), resource


def test_a_viewset_cannot_override_get_queryset():
    with pytest.raises(TypeError, match="base_queryset"):

        class Leaky(ScopedViewSet):
            def get_queryset(self):
                return []

    for _route, cls in _api_views():
        assert all("get_queryset" not in vars(k) for k in cls.__mro__[: cls.__mro__.index(ScopedViewSet)]), cls


def test_the_isolation_test_below_covers_every_registered_resource(two_partner_data):
    registered = {viewset.resource for _prefix, viewset, _basename in router.registry if viewset.resource}
    assert registered - CATALOGUES == set(two_partner_data["a"])


def test_partner_key_sees_only_its_own_rows_and_gets_404_for_the_other_partners(api, key_a, two_partner_data):
    client = api(key_a)
    for resource, own in two_partner_data["a"].items():
        other = two_partner_data["b"][resource]
        url = f"/api/v1/{PREFIX.get(resource, resource)}/"
        ids = _all_ids(client, url)
        assert own.pk in ids, resource
        assert other.pk not in ids, resource
        assert client.get(f"{url}{own.pk}/").status_code == 200, resource
        response = client.get(f"{url}{other.pk}/")
        assert response.status_code == 404, resource
        assert response["Content-Type"].startswith("application/problem+json")


def test_partner_key_cannot_write_to_the_other_partners_objects(api, key_a, two_partner_data):
    client = api(key_a)
    b = two_partner_data["b"]
    assert client.patch(f"/api/v1/leads/{b['leads'].pk}/", {"title": "x"}, format="json").status_code == 404
    assert (
        client.post(f"/api/v1/leads/{b['leads'].pk}/stage/", {"stage": "qualified"}, format="json").status_code == 404
    )
    assert client.patch(f"/api/v1/contacts/{b['contacts'].pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.delete(f"/api/v1/contacts/{b['contacts'].pk}/").status_code == 404
    assert client.delete(f"/api/v1/activities/{b['activities'].pk}/").status_code == 404
    # Not even as the target of an activity: another partner's lead "does not exist".
    response = client.post(
        "/api/v1/activities/",
        {"lead": b["leads"].pk, "kind": "call", "occurred_at": "2026-01-01T10:00:00Z", "subject": "x"},
        format="json",
    )
    assert response.status_code == 400 and "lead" in response.json()["errors"]
    b["leads"].refresh_from_db()
    assert b["leads"].title != "x"


def test_vendor_key_sees_everyones_rows(api, vendor_key, two_partner_data):
    client = api(vendor_key)
    for resource in two_partner_data["a"]:
        ids = _all_ids(client, f"/api/v1/{PREFIX.get(resource, resource)}/")
        assert {two_partner_data["a"][resource].pk, two_partner_data["b"][resource].pk} <= ids, resource


def test_change_feed_is_scoped_too(api, key_a, two_partner_data):
    feed = api(key_a).get("/api/v1/changes/?limit=1000").json()["results"]
    seen = {(c["resource"], c["id"]) for c in feed}
    for resource, obj in two_partner_data["b"].items():
        assert (resource, obj.pk) not in seen or resource in CATALOGUES
    for resource, obj in two_partner_data["a"].items():
        assert (resource, obj.pk) in seen


def _all_ids(client, url) -> set[int]:
    ids, next_url = set(), url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, (url, response.content[:300])
        body = response.json()
        ids |= {row["id"] for row in body["results"]}
        next_url = body["next"]
    return ids
