import datetime

from celery import shared_task


@shared_task
def nightly_run(date: str | None = None) -> dict | None:
    """KPIs, commission ledger and tier evaluation for `date` (ISO; default yesterday in the vendor's zone)."""
    from .services.nightly import nightly_default_date
    from .services.nightly import nightly_run as run_nightly

    on = datetime.date.fromisoformat(date) if date else nightly_default_date()
    run = run_nightly(on=on)
    return {"date": on.isoformat(), "status": run.status, "counts": run.counts} if run else None
