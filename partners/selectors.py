from django.db.models import Count, Q, QuerySet

from prm.permissions import is_vendor

from .models import Partner


def partner_list(*, viewer, filters: dict | None = None) -> QuerySet[Partner]:
    """The directory. Vendor staff see every partner; partner staff only their own company."""
    filters = filters or {}
    qs = Partner.objects.select_related("tier", "account_manager", "home_region").annotate(
        staff_count=Count("staff", distinct=True)
    )
    if not is_vendor(viewer):
        qs = qs.filter(pk=viewer.partner_id)
    if q := filters.get("q"):
        qs = qs.filter(Q(name__icontains=q) | Q(legal_name__icontains=q) | Q(tax_id__icontains=q))
    for field in ("status", "program_model", "partner_type"):
        if value := filters.get(field):
            qs = qs.filter(**{field: value})
    if tier := filters.get("tier"):
        qs = qs.filter(tier__code=tier)
    if region := filters.get("region"):
        qs = qs.filter(regions__code=region)
    if competency := filters.get("competency"):
        qs = qs.filter(competencies__code=competency)
    return qs.order_by("name")


def partner_get(*, viewer, pk: int) -> Partner:
    return partner_list(viewer=viewer).prefetch_related("regions", "competencies", "contacts", "staff").get(pk=pk)
