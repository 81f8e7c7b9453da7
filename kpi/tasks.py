from celery import shared_task


@shared_task
def nightly_run() -> None:
    """KPIs, tier evaluation and the commission ledger (implemented with the KPI issue)."""
