"""Every list pages completely: keyset cursors on (updated_at, id), however many rows share one timestamp.

Issue 20 (1): after one bulk upsert of thousands of leads the old offset cursor repeated one page forever.
"""

from datetime import timedelta

import pytest

from leads.models import Lead
from leads.services import sync
from portal.api_urls import SYNC_RESOURCES
from tests.api.test_scoping import PREFIX

ROWS = 10_500


def _walk(client, url, *, max_pages=100_000, between=None):
    rows, next_url, pages = [], url, 0
    while next_url and pages < max_pages:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        body = response.json()
        rows += body["results"]
        next_url = body["next"]
        pages += 1
        if between:
            between(pages)
    return rows, next_url


def _items(n, *, partner, prefix="p", version=""):
    return [
        {
            "source_system": "crm",
            "external_id": f"{prefix}{i:05d}",
            "title": f"Deal {i}{version}",
            "partner": partner.pk,
            "customer": {"name": f"Customer {i % 50}", "tax_id": ""},
        }
        for i in range(n)
    ]


@pytest.fixture
def ten_thousand_leads(postgres_only, partner, monkeypatch):
    """10,500 leads written by one bulk statement: they all share one updated_at."""
    monkeypatch.setattr(sync, "MAX_BATCH", ROWS)
    results = sync.leads_bulk_upsert(items=_items(ROWS, partner=partner), partner_id=None)
    assert {r.status for r in results} == {"created"}
    assert Lead.objects.filter(partner=partner).values("updated_at").distinct().count() == 1
    return sorted(r.id for r in results)


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [100, 1000])
def test_pages_through_ten_thousand_rows_of_one_bulk_upsert_with_writes_between_pages(
    page_size, ten_thousand_leads, api, key_a, partner
):
    client = api(key_a)
    # From a second before the bulk upsert (all 10,500 share its updated_at), not before "now": on a loaded machine
    # the fixture's transaction may have begun more than a second ago, and PostgreSQL's now() is that moment.
    start = Lead.objects.get(pk=ten_thousand_leads[0]).updated_at - timedelta(seconds=1)
    changed, created = [], []

    def write(page):
        # Between pages: an already-read row and a not-yet-read row change, and a new deal arrives.
        if page % 3 == 0:
            ids = [ten_thousand_leads[(page * 37) % ROWS], ten_thousand_leads[-(page % 50) - 1]]
            for lead in Lead.objects.filter(pk__in=ids):
                lead.title += " (edited)"
                lead.save()
            changed.extend(ids)
            new = sync.leads_bulk_upsert(
                items=_items(1, partner=partner, prefix=f"new{len(created)}-"), partner_id=None
            )
            created.append(new[0].id)

    for url in (f"/api/v1/leads/?page_size={page_size}", f"/api/v1/leads/?page_size={page_size}&updated_since={start}"):
        changed.clear()
        before = Lead.objects.filter(partner=partner).count()
        rows, rest = _walk(client, url.replace("+", "%2B"), between=write, max_pages=ROWS // page_size + 100)
        assert rest is None  # the walk ends (the old offset cursor repeated one page forever)
        ids = [r["id"] for r in rows]
        existing = set(Lead.objects.filter(partner=partner).values_list("id", flat=True))
        assert set(ids) == existing  # nothing skipped, every write between pages included
        assert len(ids) - len(set(ids)) <= len(changed)  # only rows changed during the walk come twice
        keys = [(r["updated_at"], r["id"]) for r in rows]
        assert keys == sorted(keys)
        assert len(existing) == before + len(changed) // 2 > ROWS  # one new deal per two changed rows


@pytest.mark.django_db
def test_page_size_one_walks_a_stretch_of_equal_timestamps_row_by_row(ten_thousand_leads, api, key_a):
    client = api(key_a)
    # Jump into the middle of the 10,500 equal timestamps, then walk 300 pages of one row.
    _rows, middle = _walk(client, "/api/v1/leads/?page_size=1000", max_pages=5)
    client_rows, _next = _walk(client, middle.replace("page_size=1000", "page_size=1"), max_pages=300)
    assert [r["id"] for r in client_rows] == ten_thousand_leads[5000:5300]


@pytest.mark.django_db
def test_every_list_pages_completely_at_page_size_one(api, key_a, two_partner_data):
    client = api(key_a)
    for resource in SYNC_RESOURCES:
        url = f"/api/v1/{PREFIX.get(resource, resource)}/"
        everything = [r["id"] for r in client.get(url, {"page_size": 1000}).json()["results"]]
        one_by_one, _next = _walk(client, url + "?page_size=1")
        assert [r["id"] for r in one_by_one] == everything, resource


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "page_size=abc",
        "page_size=0",
        "page_size=-5",
        "page_size=1001",
        "page_size=1e3",
        "cursor=garbage!",
        "cursor=WzFd",  # base64 of [1]
        "cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgMV0=",  # a naive timestamp
        "cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsICJ4Il0=",  # a non-numeric id
    ],
)
def test_bad_page_parameters_are_400_problems(query, api, key_a):
    response = api(key_a).get(f"/api/v1/leads/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert query.split("=")[0] in response.json()["errors"]
