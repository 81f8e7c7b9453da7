"""Incremental sync: tombstones for deletions and the change feed `/api/v1/changes/`.

The feed merges every readable resource's rows and tombstones in (timestamp, resource, id) order; the cursor
is the last position returned, so a client that follows `next` sees every create, update and delete once,
scoped exactly like the resource endpoints (it reuses their querysets).
"""

import base64
import binascii
import json
from datetime import UTC, datetime

from django.db.models import Q
from django.db.models.signals import post_delete
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from .api_base import SYNC_RESOURCES, ProblemAutoSchema, ScopedViewSet
from .models import Tombstone


def tombstones_record(*, resource: str, objects) -> None:
    """Called by delete services before deleting; the post_delete receiver covers every other path."""
    now = timezone.now()
    Tombstone.objects.bulk_create(
        [
            Tombstone(resource=resource, object_id=obj.pk, partner_id=_partner_id(obj), deleted_at=now)
            for obj in objects
        ],
        ignore_conflicts=True,
    )


def _partner_id(obj) -> int | None:
    if obj._meta.label == "partners.Partner":
        return obj.pk
    return getattr(obj, "partner_id", None)


def _on_delete(sender, instance, **kwargs):
    # Infrastructure, not business logic: whatever deleted the row, mirrors must hear about it.
    tombstones_record(resource=_RESOURCE_BY_MODEL[sender], objects=[instance])


_RESOURCE_BY_MODEL: dict = {}


def connect_receivers() -> None:
    for resource, viewset in SYNC_RESOURCES.items():
        model = viewset.queryset.model
        _RESOURCE_BY_MODEL[model] = resource
        post_delete.connect(_on_delete, sender=model, dispatch_uid=f"tombstone:{resource}")


# --- the feed ------------------------------------------------------------------------------------------------


def _encode(position: tuple[datetime, str, int]) -> str:
    t, r, i = position
    return base64.urlsafe_b64encode(json.dumps([t.isoformat(), r, i]).encode()).decode()


def _decode(cursor: str) -> tuple[datetime, str, int]:
    try:
        t, r, i = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        at = datetime.fromisoformat(t)
        if at.tzinfo is None or not -(2**63) < int(i) < 2**63:
            raise ValueError
        return at.astimezone(UTC), str(r), int(i)
    except (ValueError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError):
        raise exceptions.ValidationError({"since": ["Not a cursor returned by this endpoint."]}) from None


def _after(position, *, time_field: str, resource: str | None, resource_field: str | None, id_field: str) -> Q:
    """Rows strictly after `position` in (time, resource, id) order."""
    t, r, i = position
    later = Q(**{f"{time_field}__gt": t})
    same_time = Q(**{time_field: t})
    if resource_field:  # tombstones: resource is a column
        return later | (
            same_time & (Q(**{f"{resource_field}__gt": r}) | Q(**{resource_field: r, f"{id_field}__gt": i}))
        )
    if resource > r:
        return later | same_time
    if resource == r:
        return later | (same_time & Q(**{f"{id_field}__gt": i}))
    return later


class ChangeSerializer(serializers.Serializer):
    resource = serializers.CharField()
    id = serializers.IntegerField()
    op = serializers.ChoiceField(choices=["upsert", "delete"])
    at = serializers.DateTimeField()
    data = serializers.JSONField(allow_null=True, help_text="The object as its resource endpoint returns it.")


class ChangePageSerializer(serializers.Serializer):
    results = ChangeSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `since` to continue.")
    has_more = serializers.BooleanField()


class _OnePageSchema(ProblemAutoSchema):
    def _is_list_view(self, serializer=None):
        return False  # one page object, not an array of them


class ChangeFeedViewSet(ScopedViewSet):
    """Everything readable that changed after `since`, deletions included, oldest first."""

    resource = None  # per-resource scopes are applied to each stream
    pagination_class = None
    queryset = Tombstone.objects.none()  # for schema generation only; list() reads every resource
    schema = _OnePageSchema()

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.STR, description="`next_cursor` of the previous page."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-1000, default 500."),
        ],
        responses=ChangePageSerializer,
    )
    def list(self, request):
        since = request.query_params.get("since")
        position = _decode(since) if since else (datetime(1970, 1, 1, tzinfo=UTC), "", 0)
        try:
            limit = min(max(int(request.query_params.get("limit", 500)), 1), 1000)
        except ValueError:
            raise exceptions.ValidationError({"limit": ["A whole number."]}) from None
        key = self.api_key
        readable = {r: v for r, v in SYNC_RESOURCES.items() if f"{r}:read" in key.scopes}
        entries = []
        for resource, viewset_class in readable.items():
            view = viewset_class(request=request, format_kwarg=None, action="list", kwargs={}, args=())
            field = view.sync_field
            qs = view.get_queryset().filter(
                _after(position, time_field=field, resource=resource, resource_field=None, id_field="id")
            )
            rows = qs.order_by(field, "id")[: limit + 1]
            entries += [(getattr(row, field), resource, row.pk, "upsert", row) for row in rows]
        tombstones = Tombstone.objects.filter(resource__in=list(readable)).filter(
            _after(position, time_field="deleted_at", resource=None, resource_field="resource", id_field="object_id")
        )
        if key.partner_id is not None:
            tombstones = tombstones.filter(Q(partner_id=key.partner_id) | Q(partner_id__isnull=True))
        for stone in tombstones.order_by("deleted_at", "resource", "object_id")[: limit + 1]:
            entries.append((stone.deleted_at, stone.resource, stone.object_id, "delete", None))
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        page, has_more = entries[:limit], len(entries) > limit
        # Serialize only what made the page: up to `limit` rows of each resource were read to merge them.
        data = {}
        for resource, viewset_class in readable.items():
            rows = [e[4] for e in page if e[1] == resource and e[3] == "upsert"]
            if rows:
                items = viewset_class.serializer_class(rows, many=True, context={"request": request}).data
                data.update({(resource, row.pk): item for row, item in zip(rows, items)})
        page = [(t, r, i, op, data.get((r, i))) for t, r, i, op, _row in page]
        results = [{"resource": r, "id": i, "op": op, "at": t, "data": d} for t, r, i, op, d in page]
        next_cursor = _encode(page[-1][:3]) if page else since
        return Response(
            ChangePageSerializer({"results": results, "next_cursor": next_cursor, "has_more": has_more}).data
        )
