"""Idempotency-Key, ETag / If-Match, problem+json errors and per-key throttling."""

import pytest

from leads.models import Lead
from prm.api_auth import ApiKeyRateThrottle
from prm.models import IdempotencyRecord
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def _create_body(n=1):
    return {"title": f"From CRM {n}", "customer": {"name": "Acme", "tax_id": "7711000000"}, "value": "10.00"}


def test_idempotent_retry_replays_the_first_response(api, key_a, partner):
    client = api(key_a)
    first = client.post("/api/v1/leads/", _create_body(), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == 201
    again = client.post("/api/v1/leads/", _create_body(), format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.filter(partner=partner, title="From CRM 1").count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_422(api, key_a):
    client = api(key_a)
    client.post("/api/v1/leads/", _create_body(1), format="json", HTTP_IDEMPOTENCY_KEY="abc-2")
    response = client.post("/api/v1/leads/", _create_body(2), format="json", HTTP_IDEMPOTENCY_KEY="abc-2")
    assert response.status_code == 422
    assert response["Content-Type"].startswith(PROBLEM)
    assert response.json()["title"] == "Unprocessable Content" or response.json()["status"] == 422


def test_idempotency_keys_are_per_api_key(api, key_a, key_b):
    assert api(key_a).post("/api/v1/leads/", _create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert api(key_b).post("/api/v1/leads/", _create_body(), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201


def test_bulk_upsert_replay_does_not_write_again(api, key_a):
    client = api(key_a)
    body = {"items": [{"source_system": "s", "external_id": "1", "title": "t", "customer": {"name": "c"}}]}
    first = client.post("/api/v1/leads/bulk-upsert/", body, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    again = client.post("/api/v1/leads/bulk-upsert/", body, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert first.json()["results"][0]["status"] == again.json()["results"][0]["status"] == "created"
    without_key = client.post("/api/v1/leads/bulk-upsert/", body, format="json")
    assert without_key.json()["results"][0]["status"] == "unchanged"


def test_old_idempotency_records_are_purged(api, key_a):
    from datetime import timedelta

    from django.utils import timezone

    from prm.api_auth import idempotency_records_purge

    api(key_a).post("/api/v1/leads/", _create_body(), format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert idempotency_records_purge() == 0
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_records_purge() == 1


def test_etag_and_if_match(api, key_a, partner):
    lead = LeadFactory(partner=partner)
    client = api(key_a)
    read = client.get(f"/api/v1/leads/{lead.pk}/")
    etag = read["ETag"]
    assert etag.startswith('"')
    ok = client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "v2"}, format="json", HTTP_IF_MATCH=etag)
    assert ok.status_code == 200 and ok["ETag"] != etag
    stale = client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "v3"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale["Content-Type"].startswith(PROBLEM)
    lead.refresh_from_db()
    assert lead.title == "v2"
    assert (
        client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "v4"}, format="json", HTTP_IF_MATCH=ok["ETag"]).status_code
        == 200
    )
    assert client.get(f"/api/v1/leads/{lead.pk}/")["ETag"] == client.get(f"/api/v1/leads/{lead.pk}/")["ETag"]


def test_stage_moves_are_validated(api, key_a, partner):
    lead = LeadFactory(partner=partner, stage="registered")
    client = api(key_a)
    assert client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "qualified"}, format="json").status_code == 200
    back = client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "offered"}, format="json")
    assert back.status_code == 400 and "stage" in back.json()["errors"]
    lost = client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "lost"}, format="json")
    assert lost.status_code == 400 and "lost_reason" in lost.json()["errors"]
    # The same pipeline rule as in the portal: won only from proposal or negotiation.
    early = client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "won"}, format="json")
    assert early.status_code == 400 and "stage" in early.json()["errors"]
    assert client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "proposal"}, format="json").status_code == 200
    won = client.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "won"}, format="json")
    assert won.status_code == 200 and won.json()["won_at"]
    # The stage is not writable through PATCH.
    client.patch(f"/api/v1/leads/{lead.pk}/", {"stage": "lost"}, format="json")
    lead.refresh_from_db()
    assert lead.stage == "won"


def test_problem_shapes(api, key_a, partner):
    client = api(key_a)
    bad = client.post("/api/v1/leads/", {"title": "", "customer": {}}, format="json")
    assert bad.status_code == 400 and bad["Content-Type"].startswith(PROBLEM)
    body = bad.json()
    assert {"type", "title", "status", "detail", "errors", "instance"} <= set(body)
    assert "title" in body["errors"] and "customer" in body["errors"]
    missing = client.get("/api/v1/leads/999999/")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    media = client.post("/api/v1/leads/", "x=1", content_type="text/plain")
    assert media.status_code == 415 and media["Content-Type"].startswith(PROBLEM)
    not_allowed = client.delete(f"/api/v1/leads/{LeadFactory(partner=partner).pk}/")
    assert not_allowed.status_code == 405


def test_throttled_per_key_with_retry_after(api, key_a, key_b, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    client = api(key_a)
    assert [client.get("/api/v1/tiers/").status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/api/v1/tiers/")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert limited["Content-Type"].startswith(PROBLEM)
    assert api(key_b).get("/api/v1/tiers/").status_code == 200  # another key has its own budget


def test_the_documented_rate_holds_under_concurrency(redis_url, settings, key_a, monkeypatch):
    """1,200 requests a minute per key (settings), counted atomically in Redis: 16 threads asking 1,600 times in
    all are let through exactly 1,200 times, and request 1,201 is a 429 problem+json with Retry-After."""
    import threading

    from rest_framework.test import APIClient

    from prm.api_auth import api_key_authenticate

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"] == "1200/min"
    key = api_key_authenticate(raw=key_a)
    fixed_now = 1_800_000_000.0  # one minute's window, however slow the machine

    class Request:
        auth = key

    allowed = []
    barrier = threading.Barrier(16)

    def ask():
        throttle = ApiKeyRateThrottle()
        throttle.timer = lambda: fixed_now
        barrier.wait()
        allowed.append(sum(throttle.allow_request(Request, None) for _ in range(100)))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 1200

    monkeypatch.setattr(ApiKeyRateThrottle, "timer", staticmethod(lambda: fixed_now + 1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_a}")
    response = client.get("/api/v1/tiers/")
    assert response.status_code == 429 and response["Content-Type"].startswith(PROBLEM)
    assert 0 < int(response["Retry-After"]) <= 60
