"""Every bad input is a 4xx problem+json (or a form error in the browser), never a 500; a 5xx never leaves an
Idempotency-Key locked. Issue 20 (4)."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from leads.models import Lead
from leads.services import sync
from prm.models import IdempotencyRecord

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def _problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    return body


def _item(**extra):
    return {"source_system": "crm", "external_id": "X-1", "title": "Deal", "customer": {"name": "Acme"}} | extra


@pytest.mark.parametrize("url", ["/api/v1/leads/", "/api/v1/leads/bulk-upsert/", "/api/v1/activities/"])
@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
def test_deeply_nested_json_is_a_400(url, depth, api, key_a):
    body = "[" * depth + "]" * depth
    _problem(api(key_a).post(url, body, content_type="application/json"), 400)


@pytest.mark.parametrize("field", ["title", "notes", "external_id", "contact_name"])
def test_a_lone_surrogate_in_a_bulk_item_is_a_400_naming_the_field(field, api, key_a, partner):
    items = [_item(external_id="ok"), _item(external_id="bad") | {field: "SURROGATE"}]
    raw = json.dumps({"items": items}).replace('"SURROGATE"', '"x\\udfffy"')  # JSON text with the escape
    problem = _problem(api(key_a).post("/api/v1/leads/bulk-upsert/", raw, content_type="application/json"), 400)
    assert f"items.1.{field}" in problem["errors"]
    assert not Lead.objects.filter(partner=partner, source_system="crm").exists()  # nothing reached the COPY


def test_a_lone_surrogate_in_a_single_create_and_a_key_is_a_400(api, key_a):
    client = api(key_a)
    problem = _problem(
        client.post(
            "/api/v1/leads/", '{"title": "\\ud800", "customer": {"name": "A"}}', content_type="application/json"
        ),
        400,
    )
    assert "title" in problem["errors"]
    _problem(client.post("/api/v1/leads/", '{"\\udc00": 1}', content_type="application/json"), 400)
    # A proper pair (an emoji written as two escapes) is text.
    ok = client.post(
        "/api/v1/leads/", '{"title": "\\ud83d\\ude00", "customer": {"name": "A"}}', content_type="application/json"
    )
    assert ok.status_code == 201 and ok.json()["title"] == "\N{GRINNING FACE}"


def test_a_body_over_the_limit_is_a_413(api, key_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    items = [_item(external_id=f"x{i}") for i in range(200)]
    client = api(key_a)
    _problem(client.post("/api/v1/leads/bulk-upsert/", {"items": items}, format="json"), 413)
    _problem(
        client.post("/api/v1/leads/bulk-upsert/", {"items": items}, format="json", HTTP_IDEMPOTENCY_KEY="big-1"), 413
    )
    assert not IdempotencyRecord.objects.exists()


def test_malformed_json_and_unknown_media_are_4xx(api, key_a):
    client = api(key_a)
    _problem(client.post("/api/v1/leads/", '{"title": ', content_type="application/json"), 400)
    _problem(client.post("/api/v1/leads/", b"\xff\xfe\x00", content_type="application/json"), 400)
    _problem(client.post("/api/v1/leads/", "x", content_type="application/x-unknown"), 415)


@pytest.mark.parametrize("length", [2_000, 60_000])
def test_an_over_long_authorization_header_is_a_401_problem(length, key_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + "x" * length)
    _problem(client.get("/api/v1/leads/"), 401)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/changes/?limit=-5", "limit"),
        ("/api/v1/changes/?limit=abc", "limit"),
        ("/api/v1/changes/?limit=0", "limit"),
        ("/api/v1/changes/?limit=1001", "limit"),
        ("/api/v1/changes/?since=garbage!", "since"),
        ("/api/v1/changes/?since=eyJwIjogLTF9", "since"),  # {"p": -1}
        ("/api/v1/leads/?page_size=abc", "page_size"),
        ("/api/v1/leads/?page_size=-5", "page_size"),
        ("/api/v1/activities/?cursor=%00", "cursor"),
        ("/api/v1/leads/?updated_since=yesterday", "updated_since"),
    ],
)
def test_garbage_numbers_and_cursors_are_400_naming_the_parameter(url, name, api, key_a):
    assert name in _problem(api(key_a).get(url), 400)["errors"]


def test_a_server_error_releases_the_idempotency_key(api, key_a, partner, monkeypatch):
    real = sync.lead_create_from_api

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(sync, "lead_create_from_api", broken)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_a}")
    body = {"title": "Retry me", "customer": {"name": "Acme"}}
    failed = client.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert failed.status_code == 500
    assert not IdempotencyRecord.objects.filter(key="retry-1").exists()
    monkeypatch.setattr(sync, "lead_create_from_api", real)
    retried = client.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Lead.objects.filter(partner=partner, title="Retry me").count() == 1


def test_a_key_left_running_by_a_dead_process_is_free_after_the_lease(api, key_a, partner):
    from prm.models import ApiKey

    client = api(key_a)
    body = {"title": "Orphan", "customer": {"name": "Acme"}}
    key = ApiKey.objects.get()
    record = IdempotencyRecord.objects.create(api_key=key, key="orphan-1", fingerprint="x")
    response = client.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="orphan-1")
    assert response.status_code == 422  # another request's key (the fingerprint differs)
    IdempotencyRecord.objects.filter(pk=record.pk).delete()
    client.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="orphan-2")
    IdempotencyRecord.objects.filter(key="orphan-2").update(status_code=None, response_body=None)
    _problem(client.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="orphan-2"), 409)
    IdempotencyRecord.objects.filter(key="orphan-2").update(created_at=timezone.now() - timedelta(minutes=11))
    assert client.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="orphan-2").status_code == 201


# --- the portal's doors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "2026-13", "garbage"])
def test_the_statement_of_an_impossible_month_is_not_a_500(month, client_for, partner_admin):
    response = client_for(partner_admin).get(reverse("kpi:statement"), {"month": month})
    assert response.status_code in (200, 404)
    csv = client_for(partner_admin).get(reverse("kpi:statement"), {"month": month, "format": "csv"})
    assert csv.status_code in (200, 404)


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 40, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"title,customer,kind,region\n\x00\x01,\x02,x,y\n"],
)
def test_a_binary_csv_upload_is_a_form_error(content, client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("leads:lead_import"), {"file": SimpleUploadedFile("leads.csv", content, content_type="text/csv")}
    )
    assert response.status_code == 400  # the form again, with the error on the file field
    assert "not a CSV text file" in response.content.decode()
