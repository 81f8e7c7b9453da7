"""Reads for step 2, offers: the partner offer inbox and recently expired offers."""

from django.db.models import QuerySet

from leads.models import Offer, OfferStatus
from prm.permissions import is_vendor, scope_for


def offer_list(*, viewer, filters: dict | None = None) -> QuerySet[Offer]:
    """Offers the viewer may see: partner staff only their own company's, vendor staff all."""
    filters = filters or {}
    qs = scope_for(
        Offer.objects.select_related("lead__customer", "lead__region", "partner").prefetch_related(
            "lead__competencies"
        ),
        viewer,
    )
    status = filters.get("status", OfferStatus.PENDING)
    if status != "all":
        qs = qs.filter(status=status)
    if status == OfferStatus.PENDING:
        return qs.order_by("deadline", "pk")
    return qs.order_by("-offered_at", "-pk")


def offer_get(*, viewer, pk: int) -> Offer:
    return offer_list(viewer=viewer, filters={"status": "all"}).get(pk=pk)


def offers_expired_recent(*, viewer, limit: int = 50) -> QuerySet[Offer]:
    if not is_vendor(viewer):
        return Offer.objects.none()
    return (
        Offer.objects.filter(status=OfferStatus.EXPIRED)
        .select_related("lead", "partner")
        .order_by("-responded_at", "-pk")[:limit]
    )


def offers_waiting(*, viewer, limit: int = 10) -> list[Offer]:
    """The partner's pending offers, the closest deadline first (the cockpit's to-do with a countdown: the lead's
    title and the deadline, so without the competencies the inbox shows)."""
    return list(offer_list(viewer=viewer, filters={"status": OfferStatus.PENDING}).prefetch_related(None)[:limit])
