from celery import shared_task


@shared_task
def offers_expire() -> int:
    """Every minute: expire offers past their acceptance deadline and re-route their leads."""
    from leads.services.routing import offers_expire as expire_due

    return expire_due()


@shared_task
def protections_expire() -> int:
    """Ends protection windows that ran out and warns 7 days ahead; safe to run on several workers at once."""
    from leads.services.registration import protections_expire as expire

    return expire()
