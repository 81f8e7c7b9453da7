"""How long work waits: one ageing measure for every queue shown on the cockpits (core: any queryset)."""

from datetime import timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone


def queue_ageing(qs: QuerySet, field: str) -> dict:
    """How many rows wait in a queue and how long: the oldest, and how many are over one and three days old."""
    now = timezone.now()
    return qs.order_by().aggregate(
        count=Count("pk"),
        oldest=Min(field),
        over_1d=Count("pk", filter=Q(**{f"{field}__lt": now - timedelta(days=1)})),
        over_3d=Count("pk", filter=Q(**{f"{field}__lt": now - timedelta(days=3)})),
    )
