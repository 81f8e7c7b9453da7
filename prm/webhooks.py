"""Webhooks: subscriptions per API key, `webhook_emit` for features to call, signed delivery from Celery.

Each delivery is POSTed with `X-PRM-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
subscription's secret, plus `X-PRM-Event` and `X-PRM-Delivery`. Non-2xx answers and network errors are
retried with exponential back-off (Celery autoretry, up to 8 retries); every attempt is logged on the row.

Webhooks reach only public addresses: the URL's host is resolved and refused if any answer is loopback, private,
link-local (cloud metadata), shared, multicast, reserved or unspecified, when the subscription is saved and again
at every delivery, which then connects to the very address it checked (no second lookup to rebind) and never
follows redirects. PRM_WEBHOOK_ALLOWED_NETWORKS lists networks an operator allows although not public.
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .api_auth import KeyState, api_key_state
from .models import ApiKey, DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription
from .services import audit_record

MAX_RETRIES = 8
TIMEOUT_SECONDS = 10


class DeliveryFailed(Exception):
    pass


class UnsafeTarget(Exception):
    """The URL is not http(s), does not resolve, or resolves to an address webhooks must not reach."""


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in ipaddress.ip_network(net) for net in settings.PRM_WEBHOOK_ALLOWED_NETWORKS):
        return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local)


def webhook_target_resolve(url: str) -> tuple[str, int, str]:
    """(host, port, the one checked address to connect to) for `url`, or UnsafeTarget."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("only http and https URLs with a host name")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        answers = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise UnsafeTarget(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = list(dict.fromkeys(answer[4][0] for answer in answers))
    refused = [a for a in addresses if not address_is_public(a)]
    if not addresses or refused:
        raise UnsafeTarget(f"{parts.hostname} resolves to a non-public address ({', '.join(refused)})")
    return parts.hostname, port, addresses[0]


def webhook_url_validate(url: str) -> None:
    try:
        webhook_target_resolve(url)
    except UnsafeTarget as exc:
        raise ValidationError(
            {"url": [_("Webhooks can only be sent to public internet addresses: %(reason)s.") % {"reason": exc}]}
        ) from None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS answers now; Host stays the URL's."""

    def __init__(self, host, port, *, address, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, **kwargs):
        super().__init__(host, port, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # the certificate is the host's


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_subscribe(*, api_key: ApiKey, url: str, events: list[str], actor) -> tuple[WebhookSubscription, str]:
    """Returns the subscription and its signing secret (shown to the user once)."""
    unknown = set(events) - set(WebhookEvent.values)
    if unknown or not events:
        raise ValidationError({"events": [f"Choose from {', '.join(WebhookEvent.values)}."]})
    webhook_url_validate(url)
    secret = secrets.token_hex(32)
    with transaction.atomic():
        sub = WebhookSubscription(api_key=api_key, url=url, events=sorted(set(events)), secret=secret)
        sub.full_clean()
        sub.save()
        audit_record(
            actor=actor, action="webhook.subscribed", target=api_key, partner=api_key.partner, data={"url": url}
        )
    return sub, secret


def webhook_unsubscribe(*, subscription: WebhookSubscription, actor) -> None:
    """Disable; deliveries still pending (queued or waiting for a retry) are cancelled and never sent."""
    with transaction.atomic():
        subscription.active = False
        subscription.save(update_fields=["active"])
        cancelled = subscription.deliveries.filter(status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.CANCELLED, last_error="subscription disabled"
        )
        audit_record(
            actor=actor,
            action="webhook.unsubscribed",
            target=subscription.api_key,
            data={"url": subscription.url, "cancelled_deliveries": cancelled},
        )


def webhook_emit(*, event: str, partner, payload: dict) -> list[WebhookDelivery]:
    """Queue `event` for every live subscription that may see `partner`'s data (its own keys and vendor keys).

    Call inside the transaction that made the change: deliveries are only sent after it commits.
    """
    return webhook_emit_many(event=event, items=[(getattr(partner, "pk", partner), payload)])


def webhook_subscriptions_any_sql() -> str:
    """A statement (or a part of a caller's UNION) giving 1 when any subscription is active, else 0: for a hot
    path that reads it with its other inputs and passes it to webhook_emit_many as `any_active`."""
    return (
        f"SELECT CASE WHEN EXISTS (SELECT 1 FROM {WebhookSubscription._meta.db_table} WHERE active) THEN 1 ELSE 0 END"
    )


def webhook_emit_many(
    *, event: str, items: list[tuple[int, dict | Callable[[], dict]]], any_active: bool | None = None
) -> list[WebhookDelivery]:
    """webhook_emit for many partners at once (the nightly tier run): one subscription query in all. A payload may
    be given as a function that makes it, called only when someone subscribes (the tier run's reasons are worded
    for the payload: most installations have no subscriber). `any_active`: whether any subscription is active, as
    the caller read it in this transaction (webhook_subscriptions_any_sql), else asked here."""
    if not items:
        return []
    if any_active is None:
        with connection.cursor() as cursor:
            cursor.execute(webhook_subscriptions_any_sql())
            any_active = bool(cursor.fetchone()[0])
    if not any_active:  # the common case, for a tenth of the cost
        return []
    now = timezone.now()
    partner_ids = {partner_id for partner_id, _payload in items}
    subs = [
        s
        for s in WebhookSubscription.objects.filter(active=True, api_key__revoked_at__isnull=True)
        .filter(Q(api_key__expires_at__isnull=True) | Q(api_key__expires_at__gt=now))
        .filter(Q(api_key__partner__isnull=True) | Q(api_key__partner_id__in=partner_ids))
        .select_related("api_key__partner", "api_key__created_by__partner")
        # A key disabled by the access rule (suspended partner, deactivated owner) gets no events either.
        if event in s.events and api_key_state(key=s.api_key, now=now) == KeyState.ACTIVE
    ]
    if not subs:
        return []
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription=s,
                event=event,
                payload={
                    "event": event,
                    "partner": partner_id,
                    "data": json.loads(json.dumps(body() if callable(body) else body, cls=DjangoJSONEncoder)),
                },
            )
            for partner_id, body in items
            for s in subs
            if s.api_key.partner_id in (None, partner_id)
        ]
    )
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: [webhook_deliver_task.delay(pk) for pk in ids])
    return deliveries


def webhook_deliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """One attempt. Raises DeliveryFailed (after logging it) so the task retries with back-off."""
    if delivery.status != DeliveryStatus.PENDING:
        return delivery
    sub = delivery.subscription
    if not sub.active:  # disabled after it was queued
        delivery.status, delivery.last_error = DeliveryStatus.CANCELLED, "subscription disabled"
        delivery.save(update_fields=["status", "last_error"])
        return delivery
    body = json.dumps({"id": delivery.pk, **delivery.payload}, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "prm-webhooks/1",
        "X-PRM-Event": delivery.event,
        "X-PRM-Delivery": str(delivery.pk),
        "X-PRM-Signature": webhook_sign(secret=sub.secret, timestamp=timestamp, body=body),
    }
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    error = ""
    try:
        host, port, address = webhook_target_resolve(sub.url)
    except UnsafeTarget as exc:  # e.g. DNS now answers a private address: never retried
        delivery.status, delivery.last_status_code = DeliveryStatus.FAILED, None
        delivery.last_error = f"refused: {exc}"[:500]
        delivery.save()
        return delivery
    parts = urlsplit(sub.url)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=address, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = connection.getresponse()
        delivery.last_status_code = response.status
        if not 200 <= response.status < 300:  # redirects included: they are not followed
            error = f"HTTP {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        delivery.last_status_code = None
        error = str(exc)[:500] or exc.__class__.__name__
    finally:
        connection.close()
    if error:
        delivery.last_error = error
        delivery.status = DeliveryStatus.PENDING if delivery.attempts <= MAX_RETRIES else DeliveryStatus.FAILED
    else:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = timezone.now()
        delivery.last_error = ""
    delivery.save()
    if error and delivery.status == DeliveryStatus.PENDING:
        raise DeliveryFailed(error)
    return delivery


@shared_task(
    autoretry_for=(DeliveryFailed,),
    retry_backoff=True,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def webhook_deliver_task(delivery_id: int) -> str:
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"
    return webhook_deliver(delivery=delivery).status


def webhook_deliveries_for(*, api_key: ApiKey, limit: int = 200):
    return (
        WebhookDelivery.objects.filter(subscription__api_key=api_key)
        .select_related("subscription")
        .order_by("-created_at", "-id")[:limit]
    )
