"""Incremental sync: the change feed `/api/v1/changes/`, which cannot skip a change.

Every write to a syncable table — whatever made it: a service's save(), a bulk upsert's one statement, a
background job's UPDATE, a cascade delete — inserts a `prm.Change` row from a database trigger, in the writing
transaction. Positions are given to those rows later, by one assigner at a time (`changes_assign_positions`,
run by every feed request): it numbers, after the largest position so far, the rows committed by then. A
transaction that commits later is numbered later, so a client that stores the last position it read and asks
for what follows never misses a change, however long a writer's transaction ran.

A page shows each changed object once, as its resource endpoint shows it now (scoped by the same querysets),
or as a tombstone (`"op": "delete"`, `"data": null`).
"""

import base64
import binascii
import json
from datetime import timedelta

from celery import shared_task
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from .api_base import SYNC_RESOURCES, ProblemAutoSchema, ScopedViewSet, query_int
from .models import Change
from .permissions import ScopedQuerySet

_ASSIGNER_LOCK = 0x5052_4D43  # "PRMC": the advisory lock that makes one assigner at a time
_ASSIGN_BATCH = 50_000
_OWN_ROWS = ScopedQuerySet.of_partner


def _partner_column(model) -> str | None:
    if model._meta.label == "partners.Partner":
        return "id"
    try:
        return model._meta.get_field("partner").column
    except Exception:  # noqa: BLE001 — FieldDoesNotExist: the vendor's catalogue (tiers, courses, customers)
        return None


def triggers_install(*, using: str = "default", **_kwargs) -> None:
    """(Re)create the triggers that record every write to each syncable table (run after every migrate)."""
    conn = transaction.get_connection(using)
    table_of = {}
    for resource, viewset in SYNC_RESOURCES.items():
        model = viewset.queryset.model
        table_of[resource] = (model._meta.db_table, _partner_column(model))
    qn = conn.ops.quote_name
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            # Statement triggers with transition tables: a bulk statement of 5,000 rows adds one INSERT … SELECT.
            cursor.execute(
                """
                CREATE OR REPLACE FUNCTION prm_change_record() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF to_regclass('prm_change') IS NULL THEN  -- migrated back before the feed: nothing to record
                    RETURN NULL;
                  END IF;
                  IF TG_OP = 'DELETE' THEN
                    EXECUTE format('INSERT INTO prm_change (resource, object_id, partner_id, op, at) '
                                   'SELECT %L, id, %s, ''d'', now() FROM old_rows', TG_ARGV[0], TG_ARGV[1]);
                  ELSE
                    EXECUTE format('INSERT INTO prm_change (resource, object_id, partner_id, op, at) '
                                   'SELECT %L, id, %s, ''u'', now() FROM new_rows', TG_ARGV[0], TG_ARGV[1]);
                  END IF;
                  RETURN NULL;
                END $$
                """
            )
            for resource, (table, partner) in table_of.items():
                args = f"'{resource}', '{partner or 'NULL'}'"
                for event, ref in (("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "NEW TABLE AS new_rows"),
                                   ("DELETE", "OLD TABLE AS old_rows")):  # fmt: skip
                    name = qn(f"prm_change_{event.lower()}")
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {qn(table)}")
                    cursor.execute(
                        f"CREATE TRIGGER {name} AFTER {event} ON {qn(table)} REFERENCING {ref} "
                        f"FOR EACH STATEMENT EXECUTE FUNCTION prm_change_record({args})"
                    )
        else:  # SQLite: row triggers
            now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
            for resource, (table, partner) in table_of.items():
                for event, row, op in (("INSERT", "NEW", "u"), ("UPDATE", "NEW", "u"), ("DELETE", "OLD", "d")):
                    name = qn(f"prm_change_{event.lower()}_{table}")
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                    cursor.execute(
                        f"CREATE TRIGGER {name} AFTER {event} ON {qn(table)} BEGIN "
                        f"INSERT INTO prm_change (resource, object_id, partner_id, op, at) VALUES "
                        f"('{resource}', {row}.id, {f'{row}.{partner}' if partner else 'NULL'}, '{op}', {now}); END"
                    )


def changes_assign_positions(*, batch: int | None = _ASSIGN_BATCH) -> None:
    """Number the committed changes that have no position yet (at most `batch` of them; None: all), after every
    position given so far.

    One assigner at a time (a transaction-scoped advisory lock): it sees every change committed before it took
    the lock, and the next one sees every change committed before it, so positions follow commit order.
    """
    if not Change.objects.filter(position__isnull=True).exists():
        return
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ASSIGNER_LOCK])
            cursor.execute(
                """
                WITH base AS (SELECT coalesce(max(position), 0) AS p FROM prm_change),
                     todo AS (SELECT id, row_number() OVER (ORDER BY id) AS n
                              FROM prm_change WHERE position IS NULL ORDER BY id LIMIT %s)
                UPDATE prm_change c SET position = base.p + todo.n FROM base, todo WHERE c.id = todo.id
                """,
                [batch],  # LIMIT NULL: all
            )
        else:  # SQLite has one writer at a time: ids already follow commit order
            cursor.execute("UPDATE prm_change SET position = id WHERE position IS NULL")


CHANGE_RETENTION = timedelta(days=30)


def changes_purge(*, older_than: timedelta = CHANGE_RETENTION) -> int:
    """Forget numbered changes older than the retention (one DELETE); a mirror idle longer reloads in full."""
    deleted, _by_model = Change.objects.filter(position__isnull=False, at__lt=timezone.now() - older_than).delete()
    return deleted


@shared_task
def changes_purge_task() -> int:
    return changes_purge()


# --- the feed ------------------------------------------------------------------------------------------------


def _encode(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode()


def _decode(cursor: str) -> int:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))["p"]
        if not isinstance(position, int) or not 0 <= position < 2**63:
            raise ValueError
        return position
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
        raise exceptions.ValidationError({"since": ["Not a cursor returned by this endpoint."]}) from None


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
    """Everything readable that changed after `since`, deletions included, in commit order."""

    resource = None  # per-resource scopes are applied to each stream
    pagination_class = None
    queryset = Change.objects.none()  # for schema generation only; list() reads every resource
    schema = _OnePageSchema()

    def _partner_changes(self, request, readable, partner_id: int) -> Q:
        """A partner's changes: its own rows, the vendor's catalogue, and other partners' rows it may read (the
        deals it co-sells and their activities), found through the resources' scoped querysets."""
        q = Q(partner_id=partner_id) | Q(partner_id__isnull=True)
        for resource, viewset_class in readable.items():
            if _partner_column(viewset_class.queryset.model) in (None, "id"):
                continue
            if getattr(type(viewset_class.queryset), "of_partner", _OWN_ROWS) is _OWN_ROWS:
                continue  # the partner reads its own rows only (scope_for's default): none of another partner's
            view = viewset_class(request=request, format_kwarg=None, action="list", kwargs={}, args=())
            shared = list(view.get_queryset().exclude(partner_id=partner_id).values_list("pk", flat=True)[:10_000])
            if shared:
                q |= Q(resource=resource, object_id__in=shared)
        return q

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.STR, description="`next_cursor` of the previous page."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-1000, default 500."),
        ],
        responses=ChangePageSerializer,
    )
    def list(self, request):
        since = request.query_params.get("since")
        after = _decode(since) if since else 0
        limit = query_int(request.query_params, "limit", default=500, minimum=1, maximum=1000)
        changes_assign_positions()
        key = self.api_key
        readable = {r: v for r, v in SYNC_RESOURCES.items() if f"{r}:read" in key.scopes}
        changes = Change.objects.filter(position__gt=after, resource__in=list(readable))
        if key.partner_id is not None:
            changes = changes.filter(self._partner_changes(request, readable, key.partner_id))
        scanned = list(
            changes.order_by("position").values_list("position", "resource", "object_id", "op", "at")[: limit + 1]
        )
        has_more = len(scanned) > limit
        scanned = scanned[:limit]
        latest = {}  # (resource, id) -> (op, at): an object changed twice in the page is shown once, as it is now
        for _position, resource, object_id, op, at in scanned:
            latest.pop((resource, object_id), None)
            latest[(resource, object_id)] = (op, at)
        data = {}
        for resource, viewset_class in readable.items():
            ids = [i for (r, i), (op, _at) in latest.items() if r == resource and op == "u"]
            if not ids:
                continue
            view = viewset_class(request=request, format_kwarg=None, action="list", kwargs={}, args=())
            rows = list(view.get_queryset().filter(pk__in=ids))
            items = viewset_class.serializer_class(rows, many=True, context={"request": request}).data
            data.update({(resource, row.pk): item for row, item in zip(rows, items)})
        results = []
        for (resource, object_id), (op, at) in latest.items():
            if op == "d":
                results.append({"resource": resource, "id": object_id, "op": "delete", "at": at, "data": None})
            elif (
                resource,
                object_id,
            ) in data:  # else: not readable by this key, or deleted since (a tombstone follows)
                item = data[(resource, object_id)]
                results.append({"resource": resource, "id": object_id, "op": "upsert", "at": at, "data": item})
        next_cursor = _encode(scanned[-1][0]) if scanned else (since or _encode(0))
        return Response(
            ChangePageSerializer({"results": results, "next_cursor": next_cursor, "has_more": has_more}).data
        )
