from celery import shared_task


@shared_task
def certifications_remind() -> int:
    """Daily: warn holders and their partner admins 30 and 7 days before a certification expires."""
    from .services import certifications_remind as remind

    return remind()
