from celery import shared_task


@shared_task
def funds_escalate() -> int:
    from .services import funds_escalate as escalate

    return escalate()


@shared_task
def allocations_expire() -> int:
    """Nightly: budgets whose period is over expire their unused balances."""
    from .services import budgets_expire

    return budgets_expire()
