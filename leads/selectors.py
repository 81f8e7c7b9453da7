from django.db.models import QuerySet

from prm.permissions import scope_for

from .models import Lead


def deal_list(*, viewer, filters: dict | None = None) -> QuerySet[Lead]:
    filters = filters or {}
    qs = scope_for(Lead.objects.select_related("customer", "partner", "owner"), viewer)
    if stage := filters.get("stage"):
        qs = qs.filter(stage=stage)
    if q := filters.get("q"):
        qs = qs.filter(title__icontains=q) | qs.filter(customer__name__icontains=q)
    return qs.order_by("-created_at", "-id")


def deal_get(*, viewer, pk: int) -> Lead:
    return deal_list(viewer=viewer).get(pk=pk)
