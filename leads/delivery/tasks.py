from celery import shared_task


@shared_task
def tickets_flag_breaches() -> dict:
    """Every minute: flag service-ticket clocks approaching and passing breach, book penalties and credits once,
    flag late implementation milestones."""
    from .breaches import tickets_flag_breaches as flag

    return flag()


@shared_task
def checkins_create() -> dict:
    """Daily: create the check-ins due 30/90/180 days after go-live and e-mail their one-time links."""
    from .checkins import checkins_create_due, checkins_invite_pending

    return {"created": checkins_create_due(), "invited": checkins_invite_pending()}


@shared_task
def service_reports_send() -> int:
    """Monthly: e-mail last month's service report to each customer's contact, once."""
    from .reports import service_reports_send as send

    return send()
