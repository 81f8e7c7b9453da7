"""Webhooks delivered to a real local HTTP receiver, signed, retried with back-off."""

import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from celery.exceptions import Retry

from prm.models import DeliveryStatus, WebhookDelivery
from prm.webhooks import (
    MAX_RETRIES,
    DeliveryFailed,
    webhook_deliver_task,
    webhook_emit,
    webhook_sign,
    webhook_subscribe,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 (random port) that records requests; `fail_first` answers 500 that often."""
    state = {"requests": [], "fail_first": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["requests"].append((self.headers, body))
            failing = len(state["requests"]) <= state["fail_first"]
            self.send_response(500 if failing else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/hook"
    yield state
    server.shutdown()
    server.server_close()


def _verify(secret: str, headers: dict, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in headers["X-PRM-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def subscription(partner_admin, make_key, receiver):
    key, _raw = make_key(partner_admin)
    return webhook_subscribe(api_key=key, url=receiver["url"], events=["lead.offered"], actor=partner_admin)


def test_delivery_reaches_the_receiver_with_a_valid_signature(
    receiver, subscription, partner, django_capture_on_commit_callbacks
):
    sub, secret = subscription
    with django_capture_on_commit_callbacks(execute=True):
        deliveries = webhook_emit(event="lead.offered", partner=partner, payload={"lead": 42})
    assert len(deliveries) == 1
    headers, body = receiver["requests"][0]
    assert _verify(secret, headers, body)
    assert not _verify("wrong-secret", headers, body)
    assert headers["X-PRM-Event"] == "lead.offered"
    assert json.loads(body)["data"] == {"lead": 42}
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1 and delivery.last_status_code == 204


def _run_like_a_worker(delivery_id):
    """Eager Celery raises Retry instead of re-queueing; a worker would run the task again after the back-off."""
    try:
        webhook_deliver_task.apply(args=[delivery_id], throw=True)
    except Retry:
        return "retry"
    return "done"


def test_failed_deliveries_are_retried_with_backoff_then_logged(receiver, subscription, partner):
    assert webhook_deliver_task.autoretry_for == (DeliveryFailed,)
    assert webhook_deliver_task.retry_backoff and webhook_deliver_task.max_retries == MAX_RETRIES
    receiver["fail_first"] = 2
    (delivery,) = webhook_emit(event="lead.offered", partner=partner, payload={"lead": 1})
    assert [_run_like_a_worker(delivery.pk) for _ in range(3)] == ["retry", "retry", "done"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 3 and len(receiver["requests"]) == 3
    assert delivery.last_status_code == 204 and delivery.delivered_at is not None


def test_gives_up_after_max_retries(receiver, subscription, partner):
    receiver["fail_first"] = 100
    (delivery,) = webhook_emit(event="lead.offered", partner=partner, payload={})
    results = [_run_like_a_worker(delivery.pk) for _ in range(MAX_RETRIES + 1)]
    assert results == ["retry"] * MAX_RETRIES + ["done"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == MAX_RETRIES + 1 and delivery.last_error == "HTTP 500"


def test_events_reach_only_subscribers_allowed_to_see_the_partner(
    receiver, subscription, other_partner, vendor_admin, make_key, partner
):
    assert webhook_emit(event="lead.offered", partner=other_partner, payload={}) == []  # A's key, B's event
    assert webhook_emit(event="tier.changed", partner=partner, payload={}) == []  # not subscribed
    vendor_key, _ = make_key(vendor_admin)
    webhook_subscribe(api_key=vendor_key, url=receiver["url"], events=["lead.offered"], actor=vendor_admin)
    assert len(webhook_emit(event="lead.offered", partner=other_partner, payload={})) == 1


def test_delivery_log_page(client_for, partner_admin, subscription, partner, receiver):
    sub, _secret = subscription
    receiver["fail_first"] = 100
    (delivery,) = webhook_emit(event="lead.offered", partner=partner, payload={})
    for _ in range(MAX_RETRIES + 1):
        _run_like_a_worker(delivery.pk)
    page = client_for(partner_admin).get(f"/settings/api-keys/{sub.api_key_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "HTTP 500" in html and receiver["url"] in html and str(MAX_RETRIES + 1) in html


def test_the_verification_snippet_in_the_docs_accepts_our_signature_only():
    """docs/api-client.md tells integrators how to verify deliveries; it must keep matching webhook_sign."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "api-client.md").read_text()
    namespace = {}
    exec(re.search(r"```python\n(.*?)```", docs, re.S).group(1), namespace)  # noqa: S102 (our own docs)
    valid = namespace["prm_signature_valid"]
    body = json.dumps({"id": 7, "event": "lead.offered", "partner": 1, "data": {}}, separators=(",", ":")).encode()
    now = int(time.time())
    header = webhook_sign(secret="s3cret", timestamp=now, body=body)
    assert valid("s3cret", header, body)
    assert not valid("s3cret", header, body.replace(b"7", b"8"))
    assert not valid("another-secret", header, body)
    assert not valid("s3cret", webhook_sign(secret="s3cret", timestamp=now - 3600, body=body), body)
    assert not valid("s3cret", "garbage", body)
