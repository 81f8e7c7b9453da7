from celery import shared_task


@shared_task
def offers_expire() -> int:
    """Every minute: expire offers past their acceptance deadline and re-route their leads."""
    from leads.services.offers import offers_expire as expire_due

    return expire_due()


@shared_task
def protections_expire() -> int:
    """Ends protection windows that ran out and warns 7 days ahead; safe to run on several workers at once."""
    from leads.services.registration import protections_expire as expire

    return expire()


@shared_task
def disputes_escalate() -> int:
    """Every 5 minutes: escalate disputes past their decision deadline to channel leads, once each."""
    from leads.services.conflict import disputes_escalate as escalate

    return escalate()


@shared_task
def registrations_escalate() -> int:
    """Every 5 minutes: escalate registrations past their review deadline to channel leads, once each."""
    from leads.services.registration import registrations_escalate as escalate

    return escalate()


@shared_task
def leads_reclaim() -> dict:
    """Every 15 minutes: flag untouched leads, clear worked ones, reclaim those past the grace period."""
    from leads.services.conflict import leads_reclaim as reclaim

    return reclaim()


@shared_task
def leads_route_new() -> int:
    """Every minute: route leads left in stage NEW (e.g. an import whose batch failed), 500 per transaction."""
    from leads.services.routing import leads_route_new as route_new

    return route_new()


@shared_task
def registrations_check_task(lead_ids: list[int] | None = None, submitted_by_id: int | None = None) -> int:
    """Right after a partner's CRM created deals through the API, and every 5 minutes for any left over: register
    and decide them by the deal-registration rules."""
    from leads.services.registration import registrations_check

    return registrations_check(lead_ids=lead_ids, submitted_by_id=submitted_by_id)


@shared_task
def lead_import_run_task(*, import_id: int) -> int:
    """Import one uploaded CSV file; a duplicate of the task finds it claimed and does nothing."""
    from leads.services.intake import lead_import_run

    job = lead_import_run(import_id=import_id)
    return job.rows_created if job else 0
