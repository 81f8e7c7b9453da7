"""Bulk upsert of leads and activities by (partner, source_system, external_id)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Activity, Customer, Lead, LeadSource, Stage
from leads.services.deals import deal_allowed_moves
from tests.leads.factories import CustomerFactory, LeadFactory, valid_inn

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/bulk-upsert/"


def _lead(n, **extra):
    return {
        "source_system": "hubspot",
        "external_id": f"deal-{n}",
        "title": f"Deal {n}",
        "customer": {"name": f"Acme {n % 3}", "tax_id": valid_inn(n % 3)},
        "value": "1000.50",
        "currency": "RUB",
        **extra,
    }


def _post(client, items, url=URL):
    response = client.post(url, {"items": items}, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


def test_mixed_batch_reports_each_item_and_keeps_the_good_ones(api, key_a, partner):
    client = api(key_a)
    first = _post(client, [_lead(1), _lead(2), _lead(3)])
    assert [r["status"] for r in first] == ["created"] * 3
    created_ids = [r["id"] for r in first]
    assert set(Lead.objects.filter(partner=partner).values_list("id", flat=True)) == set(created_ids)

    second = _post(
        client,
        [
            _lead(1),  # unchanged
            _lead(2, title="Deal 2 renamed", value="2000"),  # updated
            _lead(4),  # created
            {"source_system": "hubspot", "external_id": "deal-5", "title": "", "customer": {"name": "X"}},
            _lead(6, value="-1", contact_email="nope", expected_close="31.12.2026"),
            _lead(4),  # duplicate key in the same request
            "not an object",
        ],
    )
    assert [r["status"] for r in second] == ["unchanged", "updated", "created", "error", "error", "error", "error"]
    assert second[0]["id"] == created_ids[0] and second[1]["id"] == created_ids[1]
    assert second[3]["errors"] == {"title": ["This field is required."]}
    assert set(second[4]["errors"]) == {"value", "contact_email", "expected_close"}
    assert "external_id" in second[5]["errors"]
    assert [r["index"] for r in second] == list(range(7))
    renamed = Lead.objects.get(pk=created_ids[1])
    assert renamed.title == "Deal 2 renamed" and renamed.value == Decimal("2000")
    assert Lead.objects.filter(partner=partner).count() == 4
    new = Lead.objects.get(pk=second[2]["id"])
    # A partner's own new deal is a deal registration, not a protected deal (see test_registration_via_api.py).
    assert new.source == LeadSource.PARTNER_REGISTRATION and new.stage == Stage.REGISTERED and new.partner == partner
    assert deal_allowed_moves(lead=new) == []  # until its registration is checked


def test_customers_are_resolved_by_tax_id_then_name_in_bulk(api, key_a, django_assert_max_num_queries):
    existing = CustomerFactory(name="Known", tax_id="7700990003")
    items = [
        _lead(1, customer={"name": "Whatever", "tax_id": "7700990003"}),
        _lead(2, customer={"name": "Brand  New, LLC"}),
        _lead(3, customer={"name": "brand new llc"}),
    ]
    results = _post(api(key_a), items)
    leads = {lead.pk: lead for lead in Lead.objects.filter(pk__in=[r["id"] for r in results])}
    assert leads[results[0]["id"]].customer_id == existing.pk
    assert leads[results[1]["id"]].customer_id == leads[results[2]["id"]].customer_id
    assert Customer.objects.filter(normalized_name="brand new").count() == 1


def test_query_count_does_not_grow_with_the_batch(api, key_a):
    client = api(key_a)
    for items in ([_lead(n) for n in range(10)], [_lead(n, title=f"v2 {n}") for n in range(300)]):
        with CaptureQueriesContext(connection) as context:
            _post(client, items)
        assert _statements(context) <= 20


def _statements(context) -> int:
    """Statements sent, an insert SQLite splits into several (999 parameters at most) counted once."""
    sqls = [q["sql"] for q in context.captured_queries]
    return sum(1 for i, sql in enumerate(sqls) if not (i and sql.startswith("INSERT") and sql[:40] == sqls[i - 1][:40]))


def test_a_partner_can_never_touch_another_partners_rows(api, key_a, key_b, partner, other_partner):
    theirs = LeadFactory(partner=other_partner, source_system="hubspot", external_id="deal-1", title="Theirs")
    results = _post(api(key_a), [_lead(1, title="Mine"), _lead(2, partner=other_partner.pk)])
    assert results[0]["status"] == "created" and results[0]["id"] != theirs.pk
    assert results[1]["status"] == "error" and "partner" in results[1]["errors"]
    theirs.refresh_from_db()
    assert theirs.title == "Theirs" and theirs.partner == other_partner
    assert Lead.objects.get(pk=results[0]["id"]).partner == partner


def test_vendor_key_upserts_for_any_partner_or_unassigned(api, vendor_key, partner):
    results = _post(api(vendor_key), [_lead(1, partner=partner.pk), _lead(2), _lead(3, partner=999999)])
    assert [r["status"] for r in results] == ["created", "created", "error"]
    assert Lead.objects.get(pk=results[0]["id"]).partner == partner
    unassigned = Lead.objects.get(pk=results[1]["id"])
    assert unassigned.partner is None and unassigned.stage == Stage.NEW


def test_batch_limit_and_shape(api, key_a):
    client = api(key_a)
    response = client.post(URL, {"items": [{}] * 5001}, format="json")
    assert response.status_code == 400 and "items" in response.json()["errors"]
    assert client.post(URL, {"nope": 1}, format="json").status_code == 400


def test_activities_bulk_upsert(api, key_a, partner, other_partner):
    mine = LeadFactory(partner=partner, source_system="hubspot", external_id="deal-9")
    theirs = LeadFactory(partner=other_partner)
    client = api(key_a)
    item = {
        "source_system": "hubspot",
        "external_id": "call-1",
        "lead_ref": {"source_system": "hubspot", "external_id": "deal-9"},
        "kind": "call",
        "occurred_at": "2026-03-01T10:00:00+03:00",
        "subject": "Intro call",
    }
    url = "/api/v1/activities/bulk-upsert/"
    first = _post(client, [item, {**item, "external_id": "call-2", "lead_ref": None, "lead": theirs.pk}], url)
    assert [r["status"] for r in first] == ["created", "error"]
    assert "lead" in first[1]["errors"]
    second = _post(client, [item, {**item, "external_id": "call-3", "occurred_at": "bad"}], url)
    assert [r["status"] for r in second] == ["unchanged", "error"]
    third = _post(client, [{**item, "subject": "Intro call (notes)"}], url)
    assert third[0]["status"] == "updated" and third[0]["id"] == first[0]["id"]
    activity = Activity.objects.get(pk=first[0]["id"])
    assert activity.partner == partner and activity.subject == "Intro call (notes)"
    mine.refresh_from_db()
    assert mine.last_activity_at == activity.occurred_at
    assert not Activity.objects.filter(lead=theirs).exists()


def test_awkward_text_round_trips_and_unchanged_stays_unchanged(api, key_a):
    """PostgreSQL writes through COPY (CSV): quotes, separators, newlines, backslashes and blanks must survive."""
    awkward = 'Line 1\nline 2, "quoted"\t\\N \\. ; Ромашка'
    item = _lead(1, notes=awkward, contact_name="", products="a,b", expected_close=None, value=0)
    client = api(key_a)
    [first] = _post(client, [item])
    lead = Lead.objects.get(pk=first["id"])
    assert lead.notes == awkward and lead.contact_name == "" and lead.products == "a,b"
    assert lead.expected_close is None and lead.value == Decimal("0")
    [again] = _post(client, [item])
    assert again == {**first, "status": "unchanged"}
