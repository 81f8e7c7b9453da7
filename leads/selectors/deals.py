"""Reads for step 4, deals worked: the pipeline lists, one deal and its timeline."""

from django.db.models import Q, QuerySet

from leads.models import (
    CLOSED_STAGES,
    OPEN_STAGES,
    Lead,
    RegistrationStatus,
)
from prm.permissions import is_vendor, scope_for
from prm.texts import render


def deal_list(*, viewer, filters: dict | None = None) -> QuerySet[Lead]:
    """Deals the viewer may see: vendor staff all, partner staff their own partner's and those they co-sell."""
    filters = filters or {}
    qs = scope_for(Lead.objects.select_related("customer", "partner", "owner", "registration"), viewer)
    if stage := filters.get("stage"):
        qs = qs.filter(stage=stage)
    if (state := filters.get("state")) in ("open", "closed"):
        qs = qs.filter(stage__in=OPEN_STAGES if state == "open" else CLOSED_STAGES)
    if q := filters.get("q"):
        qs = qs.filter(Q(title__icontains=q) | Q(customer__name__icontains=q))
    return qs.order_by("-created_at", "-id")


def deal_get(*, viewer, pk: int) -> Lead:
    return deal_list(viewer=viewer).get(pk=pk)


def deal_timeline(*, lead: Lead, viewer) -> list[dict]:
    """Activities, recorded changes and registration decisions of one deal, newest first."""
    from prm.services import audit_trail

    items = [
        {
            "at": a.occurred_at,
            "type": "activity",
            "title": f"{a.get_kind_display()}: {a.subject}",
            "actor": a.user,
            "detail": a.notes,
        }
        for a in lead.activities.select_related("user")[:200]
    ]
    items += [
        {"at": e.at, "type": "change", "title": e.action_display, "actor": e.actor, "detail": e.reason_display}
        for e in audit_trail(target=lead)
    ]
    registration = getattr(lead, "registration", None)
    if registration is not None:
        decided = {f"registration.{s}" for s in RegistrationStatus.values}
        items += [
            {"at": e.at, "type": "change", "title": e.action_display, "actor": e.actor, "detail": e.reason_display}
            for e in audit_trail(target=registration)
            if e.action not in decided
        ]
        items += [
            {
                "at": d.at,
                "type": "decision",
                "title": f"{d.get_status_display()} ({d.rule})",
                "actor": d.actor,
                "detail": render(d.reason),
                "matches": d.matches if is_vendor(viewer) else [],
            }
            for d in registration.decisions.select_related("actor")
        ]
    return sorted(items, key=lambda i: i["at"], reverse=True)
