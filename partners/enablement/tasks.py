from celery import shared_task

from . import services


@shared_task
def requests_escalate() -> int:
    return services.requests_escalate()
