from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from . import services

BEAT_TICK_KEY = "prm:beat:last_tick"


@shared_task
def ping() -> str:
    return "pong"


@shared_task
def heartbeat() -> str:
    """Sent by beat every minute and run by a worker: /healthz shows that both are alive."""
    now = timezone.now().isoformat()
    cache.set(BEAT_TICK_KEY, now, timeout=None)
    return now


@shared_task
def notification_emails_send_pending() -> int:
    return services.notification_emails_send_pending()


@shared_task
def notification_digests_send() -> int:
    return services.notification_digests_send()
