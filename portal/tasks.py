from celery import shared_task


@shared_task
def history_prune() -> dict:
    """Daily: delete history older than its retention age (portal.retention)."""
    from portal.retention import history_prune as prune

    return prune()


@shared_task
def vendor_home_summary_refresh() -> bool:
    """Every half minute (with the default 60 s freshness): the channel dashboard's and the KPI page's shared
    figures recounted when they would turn stale before the next run."""
    from kpi.selectors import network_dashboard_refresh
    from portal.selectors import vendor_home_summary_refresh as refresh

    network_dashboard_refresh()
    return refresh()
