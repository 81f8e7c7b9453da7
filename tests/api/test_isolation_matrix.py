"""Tenant isolation matrix, API-key rows: every /api/v1/ endpoint × every kind of foreign key × partner B's objects.

The endpoints come from the URL conf (route + HTTP method → viewset action), so a new endpoint or action is in
the matrix the moment it is mounted; one without a rule below fails `test_every_api_endpoint_has_a_rule`.
Partner B is a reseller under a distributor. Its keys' neighbours — another partner, B's own distributor, a
sibling reseller — hold keys with every read and write scope, and a client without a key tries too: lists and
the change feed never show B's ids or the marker, B's object URLs answer 404 (401 without a key), writes aimed
at B are refused or land on the caller's own partner, and B's rows are byte-for-byte unchanged afterwards.
The vendor key sees B's rows, which guards the matrix itself.
"""

import hashlib
import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from leads.models import Activity, Dispute, Lead, ServiceContract, Ticket
from partners.enablement.models import PartnerRequest
from partners.models import PartnerContact, ProgramModel
from portal.api_urls import SYNC_RESOURCES
from prm.api_auth import ALL_SCOPES
from prm.models import Role
from tests.api.factories import partner_objects
from tests.partners.factories import PartnerFactory, TierFactory
from tests.prm.factories import PartnerUserFactory
from tests.test_isolation import LEAK_MARKER
from tests.training.factories import CourseFactory
from training.models import CourseStatus

pytestmark = pytest.mark.django_db

CATALOGUES = {"tiers", "courses"}  # the vendor's catalogues: every key reads them, nobody owns them
PK = "(?P<pk>[^/]+)"
# Models holding rows a foreign write could create for B: their count of B's rows must not move.
OWNED_MODELS = (Lead, Activity, PartnerContact, Ticket, ServiceContract, Dispute, PartnerRequest)


def api_endpoints() -> list[tuple[str, str, str, str, bool]]:
    """(route, resource, method, action, detail) for every method of every /api/v1/ URL in the URL conf."""
    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
                cls = entry.callback.cls
                resource = cls.resource or cls.__name__
                for method, action in entry.callback.actions.items():
                    found.append((route, resource, method, action, PK in route))

    walk(get_resolver().url_patterns, "")
    return found


def _path(route: str, pk=None) -> str:
    path = route.replace(PK, str(pk)) if pk is not None else route
    return "/" + path.replace("^", "").replace("$", "")


# --- the world -------------------------------------------------------------------------------------------------


@pytest.fixture
def world(make_key, vendor_admin):
    distributor = PartnerFactory(name="Delta Distribution", program_model=ProgramModel.DISTRIBUTOR)
    b = PartnerFactory(name=f"{LEAK_MARKER} Reseller", program_model=ProgramModel.RESELLER, parent=distributor)
    sibling = PartnerFactory(name="Rho Reseller", program_model=ProgramModel.RESELLER, parent=distributor)
    other = PartnerFactory(name="Alpha Integrator")
    objects = partner_objects(b)
    _mark(objects)
    own = partner_objects(other)  # the intruder's own rows, so its lists are not trivially empty

    def key_of(partner):
        admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=partner)
        return make_key(admin, scopes=ALL_SCOPES)[1]

    keys = {
        "other partner": key_of(other),
        "B's distributor": key_of(distributor),
        "sibling reseller": key_of(sibling),
        "no key": None,
    }
    catalogue = {"tiers": TierFactory(), "courses": CourseFactory(status=CourseStatus.PUBLISHED)}
    return {
        "b": b,
        "objects": objects,
        "catalogue": catalogue,
        "own": own,
        "keys": keys,
        "vendor": make_key(vendor_admin)[1],
    }


def _mark(objects: dict) -> None:
    """Put the marker into B's text fields, so a leak shows even where ids are not compared."""
    objects["contacts"].name = f"{LEAK_MARKER} Contact"
    objects["customers"].name = f"{LEAK_MARKER} Customer"
    objects["leads"].title, objects["leads"].notes = f"{LEAK_MARKER} deal", f"{LEAK_MARKER} notes"
    objects["registrations"].decision_reason = f"{LEAK_MARKER} approved"
    objects["activities"].subject = f"{LEAK_MARKER} call"
    objects["tier_changes"].reason = f"{LEAK_MARKER} reason"
    objects["commission_entries"].description = f"{LEAK_MARKER} commission"
    objects["tickets"].title = f"{LEAK_MARKER} ticket"
    objects["service_contracts"].number = f"{LEAK_MARKER}-SC"
    objects["implementations"].signed_off_by = f"{LEAK_MARKER} signer"
    objects["checkins"].comment = f"{LEAK_MARKER} check-in comment"
    objects["mdf_requests"].title = f"{LEAK_MARKER} webinar"
    objects["mdf_claims"].notes = f"{LEAK_MARKER} proof notes"
    objects["statements"].payment_reference = f"{LEAK_MARKER}-PAY"
    objects["disputes"].description = f"{LEAK_MARKER} dispute"
    objects["vendor_requests"].subject = f"{LEAK_MARKER} request"
    for name in (
        "contacts",
        "customers",
        "leads",
        "registrations",
        "activities",
        "tier_changes",
        "commission_entries",
        "tickets",
        "service_contracts",
        "implementations",
        "checkins",
        "mdf_requests",
        "mdf_claims",
        "statements",
        "disputes",
        "vendor_requests",
    ):
        objects[name].save()


def _fingerprint(world) -> str:
    digest = hashlib.sha256()
    for resource, obj in sorted(world["objects"].items()):
        row = type(obj).objects.filter(pk=obj.pk).values().first()
        digest.update(repr((resource, obj.pk, sorted((row or {}).items()))).encode())
    for model in OWNED_MODELS:
        digest.update(repr((model.__name__, model.objects.filter(partner=world["b"]).count())).encode())
    return digest.hexdigest()


# --- rules: one per (resource, action); generic actions share one ------------------------------------------------


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _denied(response, label, what):
    """Without a key: 401 (or 403); with a foreign key: 404, the same answer as for an id that does not exist."""
    expected = (401, 403) if label == "no key" else (404,)
    assert response.status_code in expected, f"{label} {what} -> {response.status_code}"
    assert LEAK_MARKER.encode() not in _body(response), f"{label} {what} shows the marker"


def rule_list(client, label, world, route, resource, method):
    b_obj = world["objects"].get(resource)
    next_url, ids = _path(route), set()
    while next_url:
        response = client.get(next_url)
        if label == "no key":
            return _denied(response, label, f"GET {next_url}")
        assert response.status_code == 200, f"{label} GET {next_url} -> {response.status_code}"
        assert resource in CATALOGUES or LEAK_MARKER.encode() not in response.content, f"{label} GET {next_url}"
        body = response.json()
        ids |= {row["id"] for row in body["results"]}
        next_url = body["next"]
    if resource not in CATALOGUES:
        assert b_obj.pk not in ids, f"{label} lists B's {resource}"


def rule_detail(client, label, world, route, resource, method):
    if resource in CATALOGUES:
        response = client.get(_path(route, world["catalogue"][resource].pk))
        assert response.status_code == (401 if label == "no key" else 200), (label, route)
        return
    path = _path(route, world["objects"][resource].pk)
    body = {"title": "taken", "name": "taken", "subject": "taken", "stage": "won", "lost_reason": "taken"}
    response = getattr(client, method)(path, body, format="json") if method != "get" else client.get(path)
    _denied(response, label, f"{method.upper()} {path}")


def rule_create(client, label, world, route, resource, method):
    b, objects = world["b"], world["objects"]
    bodies = {
        "leads": {"title": "taken", "customer": {"name": "Fresh Co"}, "partner": b.pk},
        "contacts": {"partner": b.pk, "role": "sales", "name": "taken", "email": "taken@example.com"},
        "activities": {
            "lead": objects["leads"].pk,
            "kind": "call",
            "occurred_at": "2026-01-01T10:00:00Z",
            "subject": "taken",
        },
        "tickets": {"contract": objects["service_contracts"].pk, "title": "taken", "priority": "p1"},
        "service_contracts": {"customer": objects["customers"].pk, "partner": b.pk, "starts_on": "2026-01-01"},
        "mdf_requests": {
            "allocation": objects["mdf_requests"].allocation_id,
            "activity_type": "event",
            "title": "taken",
            "starts_on": "2026-01-01",
            "ends_on": "2026-01-01",
            "planned_cost": "10.00",
            "requested_amount": "5.00",
        },
        "mdf_claims": {"request": objects["mdf_requests"].pk, "amount": "1.00"},
        # B's registration is "does not exist" for anyone else: refused, never a dispute on B's deal.
        "disputes": {
            "registration": objects["registrations"].pk,
            "first_contact_date": "2026-01-01",
            "description": "taken",
        },
        "vendor_requests": {"category": "technical", "subject": "taken", "body": "taken"},
    }
    response = client.post(_path(route), bodies[resource], format="json")
    if label == "no key":
        return _denied(response, label, f"POST {route}")
    # Refused, or written for the caller's own partner (contacts ignore a partner named by a partner key).
    assert response.status_code in (201, 400), f"{label} POST {route} -> {response.status_code}"
    if response.status_code == 201:
        assert response.json().get("partner") != b.pk, f"{label} created {resource} for B"


def rule_lead_bulk_upsert(client, label, world, route, resource, method):
    b, lead = world["b"], world["objects"]["leads"]
    same_ref = {"source_system": lead.source_system, "external_id": lead.external_id}
    items = [
        {**same_ref, "title": "taken", "customer": {"name": "Fresh Co"}},  # B's reference, the caller's namespace
        {**same_ref, "title": "taken", "customer": {"name": "Fresh Co"}, "partner": b.pk},
    ]
    response = client.post(_path(route), {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY=f"{label}-leads")
    if label == "no key":
        return _denied(response, label, f"POST {route}")
    assert response.status_code == 200, (label, response.content[:300])
    results = response.json()["results"]
    assert results[0]["id"] != lead.pk and results[1]["status"] == "error", (label, results)


def rule_activity_bulk_upsert(client, label, world, route, resource, method):
    lead = world["objects"]["leads"]
    common = {"occurred_at": "2026-01-01T10:00:00Z", "subject": "taken", "source_system": "crm"}
    items = [
        {**common, "external_id": "by-id", "lead": lead.pk},
        {**common, "external_id": "by-ref", "lead_ref": {"source_system": "other", "external_id": lead.external_id}},
    ]
    response = client.post(_path(route), {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY=f"{label}-acts")
    if label == "no key":
        return _denied(response, label, f"POST {route}")
    assert response.status_code == 200, (label, response.content[:300])
    assert [r["status"] for r in response.json()["results"]] == ["error", "error"], label


def rule_lead_stage(client, label, world, route, resource, method):
    path = _path(route, world["objects"]["leads"].pk)
    _denied(client.post(path, {"stage": "won"}, format="json"), label, f"POST {path}")


def rule_ticket_bulk_upsert(client, label, world, route, resource, method):
    ticket = world["objects"]["tickets"]
    ref = {
        "source_system": ticket.source_system,
        "external_id": ticket.external_id,
        "title": "taken",
        "status": "resolved",
    }
    items = [ref, {**ref, "contract": ticket.contract_id}]
    response = client.post(_path(route), {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY=f"{label}-tickets")
    if label == "no key":
        return _denied(response, label, f"POST {route}")
    assert response.status_code == 200, (label, response.content[:300])
    assert [r["status"] for r in response.json()["results"]] == ["error", "error"], label


def rule_ticket_action(client, label, world, route, resource, method):
    path = _path(route, world["objects"]["tickets"].pk)
    _denied(client.post(path, {"status": "resolved", "priority": "p4"}, format="json"), label, f"POST {path}")


def rule_registration_withdraw(client, label, world, route, resource, method):
    path = _path(route, world["objects"]["registrations"].pk)
    _denied(client.post(path, {"reason": "taken"}, format="json"), label, f"POST {path}")


def rule_post_action(client, label, world, route, resource, method):
    path = _path(route, world["objects"][resource].pk)
    _denied(client.post(path, {"reason": "not ours"}, format="json"), label, f"POST {path}")


def rule_decide(client, label, world, route, resource, method):
    path = _path(route, world["objects"][resource].pk)
    _denied(client.post(path, {"decision": "approve"}, format="json"), label, f"POST {path}")


def rule_changes(client, label, world, route, resource, method):
    response = client.get(_path(route) + "?limit=1000")
    if label == "no key":
        return _denied(response, label, f"GET {route}")
    assert response.status_code == 200
    assert LEAK_MARKER.encode() not in response.content, f"{label} change feed shows the marker"
    seen = {(c["resource"], c["id"]) for c in response.json()["results"]}
    leaked = {(r, o.pk) for r, o in world["objects"].items() if r not in CATALOGUES} & seen
    assert not leaked, f"{label} change feed lists B's {leaked}"


GENERIC_RULES = {
    "list": rule_list,
    "retrieve": rule_detail,
    "update": rule_detail,
    "partial_update": rule_detail,
    "destroy": rule_detail,
    "create": rule_create,
}
CUSTOM_RULES = {
    ("leads", "bulk_upsert"): rule_lead_bulk_upsert,
    ("activities", "bulk_upsert"): rule_activity_bulk_upsert,
    ("leads", "stage"): rule_lead_stage,
    ("registrations", "withdraw"): rule_registration_withdraw,
    ("registrations", "extend"): rule_post_action,
    ("offers", "accept"): rule_post_action,
    ("offers", "decline"): rule_post_action,
    ("tickets", "bulk_upsert"): rule_ticket_bulk_upsert,
    ("tickets", "status"): rule_ticket_action,
    ("tickets", "priority"): rule_ticket_action,
    ("tickets", "dispatch_onsite"): rule_ticket_action,
    ("mdf_requests", "decide"): rule_decide,
    ("mdf_claims", "decide"): rule_decide,
    ("disputes", "decide"): rule_decide,
    ("vendor_requests", "messages"): rule_post_action,
    ("vendor_requests", "status"): rule_decide,
    ("ChangeFeedViewSet", "list"): rule_changes,
}


def rule_for(resource: str, action: str):
    return CUSTOM_RULES.get((resource, action)) or (GENERIC_RULES.get(action) if resource in SYNC_RESOURCES else None)


# --- the tests -------------------------------------------------------------------------------------------------


def test_every_api_endpoint_has_a_rule():
    endpoints = api_endpoints()
    assert len(endpoints) > 2 * len(SYNC_RESOURCES)
    missing = [
        f"{method.upper()} {route} ({action})" for route, r, method, action, _d in endpoints if not rule_for(r, action)
    ]
    assert not missing, "API endpoints without an isolation rule: " + ", ".join(missing)


def test_no_foreign_key_reads_or_writes_partner_bs_objects(api, world):
    before = _fingerprint(world)
    # Writes first, so the reads after them would also show anything a write attached to B.
    endpoints = sorted(api_endpoints(), key=lambda e: e[2] == "get")
    for label, raw in world["keys"].items():
        client = api(raw)
        for route, resource, method, action, _detail in endpoints:
            rule_for(resource, action)(client, label, world, route, resource, method)
            assert _fingerprint(world) == before, f"{label} {method.upper()} {route} changed B's rows"


def test_vendor_key_sees_partner_bs_objects(api, world):
    """Guards the matrix: the marker and B's ids are there for a key that may see them."""
    client = api(world["vendor"])
    for resource, obj in world["objects"].items():
        prefix = re.sub("_", "-", resource)
        ids, next_url = set(), f"/api/v1/{prefix}/"
        while next_url:
            body = client.get(next_url).json()
            ids |= {row["id"] for row in body["results"]}
            next_url = body["next"]
        assert obj.pk in ids, resource
        assert client.get(f"/api/v1/{prefix}/{obj.pk}/").status_code == 200, resource
    feed = client.get("/api/v1/changes/?limit=1000")
    assert LEAK_MARKER.encode() in feed.content
    assert ("leads", world["objects"]["leads"].pk) in {(c["resource"], c["id"]) for c in feed.json()["results"]}
    assert json.loads(client.get(f"/api/v1/leads/{world['objects']['leads'].pk}/").content)["title"].startswith(
        LEAK_MARKER
    )
