"""Webhooks: subscriptions per API key, `webhook_emit` for features to call, signed delivery from Celery.

Each delivery is POSTed with `X-PRM-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
subscription's secret, plus `X-PRM-Event` and `X-PRM-Delivery`. Non-2xx answers and network errors are
retried with exponential back-off (Celery autoretry, up to 8 retries); every attempt is logged on the row.
"""

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request

from celery import shared_task
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import ApiKey, DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription
from .services import audit_record

MAX_RETRIES = 8
TIMEOUT_SECONDS = 10


class DeliveryFailed(Exception):
    pass


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_subscribe(*, api_key: ApiKey, url: str, events: list[str], actor) -> tuple[WebhookSubscription, str]:
    """Returns the subscription and its signing secret (shown to the user once)."""
    unknown = set(events) - set(WebhookEvent.values)
    if unknown or not events:
        from django.core.exceptions import ValidationError

        raise ValidationError({"events": [f"Choose from {', '.join(WebhookEvent.values)}."]})
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
    with transaction.atomic():
        subscription.active = False
        subscription.save(update_fields=["active"])
        audit_record(
            actor=actor, action="webhook.unsubscribed", target=subscription.api_key, data={"url": subscription.url}
        )


def webhook_emit(*, event: str, partner, payload: dict) -> list[WebhookDelivery]:
    """Queue `event` for every live subscription that may see `partner`'s data (its own keys and vendor keys).

    Call inside the transaction that made the change: deliveries are only sent after it commits.
    """
    return webhook_emit_many(event=event, items=[(getattr(partner, "pk", partner), payload)])


def webhook_emit_many(*, event: str, items: list[tuple[int, dict]]) -> list[WebhookDelivery]:
    """webhook_emit for many partners at once (the nightly tier run): one subscription query in all."""
    if not items:
        return []
    if not WebhookSubscription.objects.filter(active=True).exists():  # the common case, for a tenth of the cost
        return []
    now = timezone.now()
    partner_ids = {partner_id for partner_id, _payload in items}
    subs = [
        s
        for s in WebhookSubscription.objects.filter(active=True, api_key__revoked_at__isnull=True)
        .filter(Q(api_key__expires_at__isnull=True) | Q(api_key__expires_at__gt=now))
        .filter(Q(api_key__partner__isnull=True) | Q(api_key__partner_id__in=partner_ids))
        .select_related("api_key")
        if event in s.events
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
                    "data": json.loads(json.dumps(body, cls=DjangoJSONEncoder)),
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
    if delivery.status == DeliveryStatus.SUCCEEDED:
        return delivery
    sub = delivery.subscription
    body = json.dumps({"id": delivery.pk, **delivery.payload}, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(
        sub.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "prm-webhooks/1",
            "X-PRM-Event": delivery.event,
            "X-PRM-Delivery": str(delivery.pk),
            "X-PRM-Signature": webhook_sign(secret=sub.secret, timestamp=timestamp, body=body),
        },
    )
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    error = ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (the user's URL)
            delivery.last_status_code = response.status
    except urllib.error.HTTPError as exc:
        delivery.last_status_code = exc.code
        error = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        delivery.last_status_code = None
        error = str(getattr(exc, "reason", exc))[:500]
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
