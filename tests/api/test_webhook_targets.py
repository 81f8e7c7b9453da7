"""Webhooks reach only public addresses, at save time and at delivery (DNS rebinding), never follow redirects, and
disabling one cancels what is still pending (issue 20, SSRF). No traffic leaves 127.0.0.1: DNS is faked."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery.exceptions import Retry
from django.core.exceptions import ValidationError

from prm.models import DeliveryStatus, WebhookDelivery
from prm.webhooks import webhook_deliver_task, webhook_emit, webhook_subscribe, webhook_unsubscribe

pytestmark = pytest.mark.django_db

REFUSED = [
    "127.0.0.1",  # loopback
    "::1",
    "10.1.2.3",  # private
    "172.16.0.5",
    "192.168.1.10",
    "169.254.169.254",  # link-local: cloud metadata
    "fd00:ec2::254",  # unique-local (metadata over IPv6)
    "100.64.0.1",  # shared address space
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "0.0.0.0",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
]


@pytest.fixture
def dns(monkeypatch, _webhooks_stay_on_this_machine, settings):
    """`dns["crm.example"] = "10.0.0.1"` makes the next look-up answer that address."""
    settings.PRM_WEBHOOK_ALLOWED_NETWORKS = []
    return _webhooks_stay_on_this_machine


@pytest.fixture
def key(partner_admin, make_key):
    return make_key(partner_admin)[0]


@pytest.mark.parametrize("address", REFUSED)
def test_subscription_to_a_non_public_address_is_refused(dns, key, partner_admin, address):
    dns["crm.example"] = address
    with pytest.raises(ValidationError) as exc:
        webhook_subscribe(api_key=key, url="https://crm.example/hook", events=["lead.offered"], actor=partner_admin)
    assert "url" in exc.value.message_dict


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/", "http://[::1]/", "http://169.254.169.254/latest/"])
def test_literal_addresses_are_refused_too(dns, key, partner_admin, url):
    with pytest.raises(ValidationError):
        webhook_subscribe(api_key=key, url=url, events=["lead.offered"], actor=partner_admin)


def test_the_portal_form_shows_the_refusal(dns, client_for, partner_admin, key):
    dns["crm.example"] = "10.0.0.7"
    response = client_for(partner_admin).post(
        f"/settings/api-keys/{key.pk}/", {"url": "https://crm.example/hook", "events": ["lead.offered"]}
    )
    assert response.status_code == 200
    assert "public internet addresses" in response.content.decode()
    assert not key.webhooks.exists()


def test_a_public_answer_is_accepted(dns, key, partner_admin):
    sub, _secret = webhook_subscribe(
        api_key=key, url="https://crm.example/hook", events=["lead.offered"], actor=partner_admin
    )
    assert sub.pk


def test_delivery_checks_again_and_refuses_a_rebound_name(dns, key, partner_admin, partner, monkeypatch):
    webhook_subscribe(api_key=key, url="https://crm.example/hook", events=["lead.offered"], actor=partner_admin)
    dns["crm.example"] = "169.254.169.254"  # the name now points at the metadata service
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("must not connect"))
    (delivery,) = webhook_emit(event="lead.offered", partner=partner, payload={})
    webhook_deliver_task.apply(args=[delivery.pk], throw=True)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and "refused" in delivery.last_error


@pytest.fixture
def local_server():
    """127.0.0.1 server answering 302 to the metadata address on /redirect and 204 elsewhere."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers["Host"]))
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            else:
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, seen
    server.shutdown()
    server.server_close()


def test_delivery_connects_to_the_checked_address_and_keeps_the_host_name(
    dns, key, partner_admin, partner, local_server, settings
):
    port, seen = local_server
    settings.PRM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    dns["crm.example"] = "127.0.0.1"
    webhook_subscribe(api_key=key, url=f"http://crm.example:{port}/hook", events=["lead.offered"], actor=partner_admin)
    (delivery,) = webhook_emit(event="lead.offered", partner=partner, payload={})
    webhook_deliver_task.apply(args=[delivery.pk], throw=True)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert seen == [("/hook", f"crm.example:{port}")]


def test_redirects_are_not_followed(dns, key, partner_admin, partner, local_server, settings):
    port, seen = local_server
    settings.PRM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    webhook_subscribe(
        api_key=key, url=f"http://127.0.0.1:{port}/redirect", events=["lead.offered"], actor=partner_admin
    )
    (delivery,) = webhook_emit(event="lead.offered", partner=partner, payload={})
    with pytest.raises(Retry):
        webhook_deliver_task.apply(args=[delivery.pk], throw=True)
    delivery.refresh_from_db()
    assert len(seen) == 1 and delivery.last_status_code == 302 and delivery.last_error == "HTTP 302"
    assert delivery.status == DeliveryStatus.PENDING  # retried later against the same URL, never the Location


def test_disabling_cancels_pending_deliveries_and_queued_retries(dns, key, partner_admin, partner, monkeypatch):
    sub, _secret = webhook_subscribe(
        api_key=key, url="https://crm.example/hook", events=["lead.offered"], actor=partner_admin
    )
    (queued,) = webhook_emit(event="lead.offered", partner=partner, payload={})
    webhook_unsubscribe(subscription=sub, actor=partner_admin)
    queued.refresh_from_db()
    assert queued.status == DeliveryStatus.CANCELLED

    # A retry already in the broker when the webhook was disabled finds it cancelled and sends nothing.
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("must not connect"))
    assert webhook_deliver_task.apply(args=[queued.pk], throw=True).get() == DeliveryStatus.CANCELLED
    assert WebhookDelivery.objects.get(pk=queued.pk).attempts == 0


def test_a_suspended_partners_keys_get_no_webhook_events(dns, key, partner_admin, partner):
    from partners.models import Partner, PartnerStatus

    webhook_subscribe(api_key=key, url="https://crm.example/hook", events=["lead.offered"], actor=partner_admin)
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.SUSPENDED)
    assert webhook_emit(event="lead.offered", partner=partner, payload={}) == []
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.ACTIVE)
    assert len(webhook_emit(event="lead.offered", partner=partner, payload={})) == 1
