from celery import shared_task


@shared_task
def certifications_remind() -> int:
    """Warns holders 30 and 7 days before a certification expires (implemented with the training issue)."""
    return 0
