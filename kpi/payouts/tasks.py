from celery import shared_task


@shared_task
def statements_close() -> int:
    """Monthly: close the previous month's statements (single-flight, idempotent)."""
    from .services import statements_close_due

    return statements_close_due()
