from celery import shared_task


@shared_task
def tickets_flag_breaches() -> dict:
    """Every minute: flag service-ticket clocks approaching and passing breach, book penalties and credits once,
    flag late implementation milestones."""
    from .breaches import tickets_flag_breaches as flag

    return flag()
