from celery import shared_task


@shared_task
def history_prune() -> dict:
    """Daily: delete history older than its retention age (portal.retention)."""
    from portal.retention import history_prune as prune

    return prune()
