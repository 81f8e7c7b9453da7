"""The one base every /api/v1/ endpoint uses: key authentication, scopes, throttling, partner scoping in the
queryset, stable cursor pagination, `updated_since`, ETag / If-Match, Idempotency-Key and problem+json errors.

Tenancy is enforced here once: `get_queryset()` passes the view's `base_queryset()` through
`prm.permissions.scope_for` — the predicate the portal's selectors use — with the key's viewer, so lists, details,
custom actions and the change feed only ever see what the key's partner may see in the portal (another partner's
object answers 404). Vendor keys see all. A subclass cannot override `get_queryset` (the class statement raises):
it overrides `base_queryset` instead, and the base always scopes.
"""

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime

import django_filters
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_str
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.pagination import BasePagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from .api import PROBLEM_JSON
from .api_auth import ApiKeyAuthentication, ApiKeyRateThrottle, HasScope
from .models import ApiKey, IdempotencyRecord
from .permissions import scope_for

# Resource name (= scope name = URL prefix) -> viewset of every syncable resource. The core defines the registry;
# the composition package (portal.api_urls) fills it, so the change feed and tombstones never import an app.
SYNC_RESOURCES: dict[str, type] = {}

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The object changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


class IdempotencyMismatch(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used with a different request."
    default_code = "idempotency_key_reused"


class IdempotencyInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."
    default_code = "idempotency_in_progress"


def to_utc(value: datetime, *, name: str) -> datetime:
    """PostgreSQL accepts offsets up to ±15:59 only; ISO 8601 allows more. UTC is always safe."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise exceptions.ValidationError({name: ["Out of range."]}) from None


def etag_for(obj, field: str = "updated_at") -> str:
    stamp = getattr(obj, field)
    return '"' + hashlib.sha256(f"{obj._meta.label}:{obj.pk}:{stamp.timestamp():.6f}".encode()).hexdigest()[:32] + '"'


def query_int(params, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """A whole-number query parameter within [minimum, maximum]; anything else is a 400 naming it."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise exceptions.ValidationError({name: ["A whole number."]}) from None
    if not minimum <= value <= maximum:
        raise exceptions.ValidationError({name: [f"Between {minimum} and {maximum}."]})
    return value


class SyncCursorPagination(BasePagination):
    """Keyset pages ordered by (sync field, id), a unique order whose values a row keeps while it is unchanged.

    The cursor is the last row's (sync field, id): the next page is everything strictly after it, so following
    `next` always ends, whatever the number of rows sharing one timestamp (a bulk upsert gives thousands the
    same `updated_at`). A row that changes during a walk moves to the end: nothing is skipped.
    """

    page_size = 100
    max_page_size = 1000
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.field = getattr(view, "sync_field", "updated_at")
        size = query_int(request.query_params, "page_size", default=self.page_size, minimum=1, maximum=self.max_page_size)
        qs = queryset.order_by(self.field, "id")
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            at, pk = self.decode(raw)
            f = self.field
            qs = qs.filter(Q(**{f"{f}__gte": at}), Q(**{f"{f}__gt": at}) | Q(**{f: at, "id__gt": pk}))
        rows = list(qs[: size + 1])
        self.has_next = len(rows) > size
        self.page = rows[:size]
        return self.page

    def encode(self, row) -> str:
        return base64.urlsafe_b64encode(json.dumps([getattr(row, self.field).isoformat(), row.pk]).encode()).decode()

    def decode(self, raw: str) -> tuple[datetime, int]:
        try:
            stamp, pk = json.loads(base64.urlsafe_b64decode(raw.encode()))
            at = datetime.fromisoformat(stamp)
            if at.tzinfo is None or not isinstance(pk, int) or not 0 <= pk < 2**63:
                raise ValueError
            return at.astimezone(UTC), pk
        except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeError):
            raise exceptions.ValidationError({self.cursor_query_param: ["Not a cursor returned by this list."]}) from None

    def get_next_link(self):
        if not self.has_next:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self.encode(self.page[-1]))

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": None, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri", "description": "Always null."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "cursor", "required": False, "in": "query", "schema": {"type": "string"}},
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "description": f"1-{self.max_page_size}, default {self.page_size}.",
                "schema": {"type": "integer"},
            },
        ]


class SyncFilterSet(django_filters.FilterSet):
    """Every list takes `updated_since` (inclusive, ISO 8601): a client re-reads what changed since its last sync."""

    updated_since = django_filters.IsoDateTimeFilter(method="filter_updated_since")

    def filter_updated_since(self, queryset, name, value):
        field = getattr(self.request and self.request.parser_context.get("view"), "sync_field", "updated_at")
        return queryset.filter(**{f"{field}__gte": to_utc(value, name="updated_since")})


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    errors = serializers.DictField(
        child=serializers.JSONField(), required=False, help_text="Field name → list of messages (400 only)."
    )


class ProblemAutoSchema(AutoSchema):
    """Documents the problem+json errors every operation can answer, and the headers the base honours."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["401", "403", "406", "429"]
        if self.method in UNSAFE_METHODS or self._is_list_view() or self.method == "GET":
            codes.append("400")
        if "{" in self.path or self._is_list_view():
            codes.append("404")  # lists: an invalid cursor
        if self.method in UNSAFE_METHODS:
            codes += ["409", "415", "422"]
        if self.method in ("PUT", "PATCH", "DELETE"):
            codes.append("412")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ProblemSerializer, code, media_types=[PROBLEM_JSON])
        return responses

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if self.method in UNSAFE_METHODS:
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description="Retries with the same key and body replay the first response for 24 h.",
                )
            )
        if self.method in ("PUT", "PATCH", "DELETE") and "{" in self.path:
            params.append(
                OpenApiParameter(
                    "If-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description="The ETag you read; 412 when the object changed since.",
                )
            )
        return params


class ScopedViewSet(viewsets.GenericViewSet):
    """Base of every /api/v1/ endpoint.

    Subclasses set `resource` (the scope name), `queryset`, `serializer_class` and `filterset_class`, and may
    override `base_queryset()` (joins, annotations); which rows a partner sees is the model queryset's
    `of_partner` (see `prm.permissions.scope_for`), the same rule the portal applies.
    """

    resource: str = ""
    sync_field = "updated_at"
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = SyncCursorPagination
    schema = ProblemAutoSchema()
    filterset_class = None
    # Any path segment reaches the view, so a malformed id is a problem+json 404, not Django's HTML page.
    lookup_value_regex = "[^/]+"
    action_scopes: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__qualname__} overrides get_queryset(), which would bypass partner scoping: override "
                "base_queryset() instead (the base scopes what it returns)."
            )

    # --- tenancy -----------------------------------------------------------------------------------------------

    @property
    def api_key(self) -> ApiKey | None:
        return self.request.auth if isinstance(getattr(self.request, "auth", None), ApiKey) else None

    @property
    def key_partner_id(self) -> int | None:
        return self.api_key.partner_id if self.api_key else None

    def base_queryset(self):
        """The rows before scoping; override for joins and annotations, never for visibility."""
        return self.queryset.all()

    def get_queryset(self):
        qs = self.base_queryset()
        if getattr(self, "swagger_fake_view", False):
            return qs.none()
        return scope_for(qs, self.request.user)

    # --- ETag / If-Match -----------------------------------------------------------------------------------------

    def get_object(self):
        obj = super().get_object()
        if self.request.method in ("PUT", "PATCH", "DELETE") or (self.request.method == "POST" and self.detail):
            if_match = self.request.headers.get("If-Match")
            if if_match and if_match.strip() != "*" and etag_for(obj, self.sync_field) not in _etags(if_match):
                raise PreconditionFailed()
        self._etag_object = obj
        return obj

    # --- Idempotency-Key ---------------------------------------------------------------------------------------

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency = None
        idem_key = request.headers.get("Idempotency-Key")
        if not idem_key or request.method not in UNSAFE_METHODS or self.api_key is None:
            return
        if len(idem_key) > 255:
            raise exceptions.ValidationError({"Idempotency-Key": ["At most 255 characters."]})
        body = request._request.body
        fingerprint = hashlib.sha256(
            b"\n".join([request.method.encode(), request.get_full_path().encode(), body])
        ).hexdigest()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(api_key=self.api_key, key=idem_key, fingerprint=fingerprint)
        except IntegrityError:
            record = IdempotencyRecord.objects.get(api_key=self.api_key, key=idem_key)
            if record.fingerprint != fingerprint:
                raise IdempotencyMismatch() from None
            if record.status_code is None:
                raise IdempotencyInProgress() from None
            headers = dict(record.response_headers)
            content_type = headers.pop("content_type", None)
            replay = Response(
                record.response_body, status=record.status_code, headers=headers, content_type=content_type
            )
            replay["Idempotent-Replayed"] = "true"
            setattr(self, request.method.lower(), lambda *a, **k: replay)
            return
        self._idempotency = record

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        obj = getattr(self, "_etag_object", None)
        if obj is not None and response.status_code == 200 and request.method != "DELETE":
            response["ETag"] = etag_for(obj, self.sync_field)
        record = getattr(self, "_idempotency", None)
        if record is not None:
            if response.status_code >= 500:
                # A server error is not an answer: let the client retry with the same key.
                IdempotencyRecord.objects.filter(pk=record.pk).delete()
            else:
                body = None
                if getattr(response, "data", None) is not None:
                    body = json.loads(JSONRenderer().render(response.data))
                headers = {h: response[h] for h in ("ETag", "Location") if h in response}
                if getattr(response, "content_type", None):
                    headers["content_type"] = response.content_type
                IdempotencyRecord.objects.filter(pk=record.pk).update(
                    status_code=response.status_code, response_body=body, response_headers=headers
                )
        return response


def _etags(header: str) -> set[str]:
    return {force_str(t).strip().removeprefix("W/") for t in header.split(",")}


class ReadOnlyScopedViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Resources whose writes belong to portal workflows (tiers, KPI snapshots, commission entries, ...)."""
