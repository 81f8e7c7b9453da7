"""Reads for channel conflict: availability log, disputes (scoped), reclaim lists and KPI counts."""

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from leads.models import Activity, AvailabilityCheck, Dispute, DisputeStatus, LeadReclaim, Registration
from prm.permissions import is_vendor, scope_for


def availability_check_list(*, filters: dict | None = None) -> QuerySet[AvailabilityCheck]:
    """Vendor-only log of availability checks, newest first."""
    filters = filters or {}
    qs = AvailabilityCheck.objects.select_related("user", "partner")
    if partner := filters.get("partner"):
        qs = qs.filter(partner_id=partner) if str(partner).isdigit() else qs.none()
    if result := filters.get("result"):
        qs = qs.filter(result=result)
    if q := filters.get("q"):
        qs = qs.filter(name__icontains=q) | qs.filter(tax_id=q) | qs.filter(domain=q)
    return qs.order_by("-at", "-id")


def dispute_list(*, viewer, filters: dict | None = None) -> QuerySet[Dispute]:
    """Partner staff: their own partner's disputes. Vendor staff: all, open ones by deadline first."""
    filters = filters or {}
    qs = scope_for(Dispute.objects.select_related("partner", "registration__lead", "opened_by"), viewer).annotate(
        overdue=ExpressionWrapper(Q(status=DisputeStatus.OPEN, due_at__lte=timezone.now()), output_field=BooleanField())
    )
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if is_vendor(viewer):
        return qs.order_by("-status", "due_at", "id")  # "open" sorts after "decided": -status puts it first
    return qs.order_by("-created_at", "-id")


def dispute_get(*, viewer, pk: int) -> Dispute:
    """Raises Dispute.DoesNotExist for another partner's dispute (the view answers 404)."""
    return dispute_list(viewer=viewer).get(pk=pk)


def dispute_is_overdue(dispute: Dispute) -> bool:
    return dispute.status == DisputeStatus.OPEN and dispute.due_at <= timezone.now()


def _side(registration: Registration | None) -> dict | None:
    if registration is None:
        return None
    activities = list(
        Activity.objects.filter(lead_id=registration.lead_id).select_related("user").order_by("occurred_at")[:200]
    )
    return {"registration": registration, "lead": registration.lead, "activities": activities}


def dispute_sides(*, dispute: Dispute, viewer) -> dict:
    """The disputer's side for everyone allowed to see the dispute; the holder's side for vendor staff only."""
    regs = Registration.objects.select_related("lead__customer", "partner", "submitted_by")
    own = regs.filter(pk=dispute.registration_id).first() if dispute.registration_id else None
    held = None
    if is_vendor(viewer) and dispute.held_registration_id:
        held = regs.filter(pk=dispute.held_registration_id).first()
    return {"own": _side(own), "held": _side(held)}


def reclaim_list(*, filters: dict | None = None) -> QuerySet[LeadReclaim]:
    """Vendor-only: flagged (open), reclaimed or cleared flags, newest first."""
    filters = filters or {}
    qs = LeadReclaim.objects.select_related("lead", "partner")
    state = filters.get("state")
    if state == "flagged":
        qs = qs.filter(cleared_at__isnull=True, reclaimed_at__isnull=True)
    elif state == "reclaimed":
        qs = qs.filter(reclaimed_at__isnull=False)
    elif state == "cleared":
        qs = qs.filter(cleared_at__isnull=False)
    if partner := filters.get("partner"):
        qs = qs.filter(partner_id=partner) if str(partner).isdigit() else qs.none()
    return qs.order_by("-flagged_at", "-id")
