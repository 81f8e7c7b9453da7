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
import re
from datetime import UTC, datetime, timedelta

import django_filters
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponseNotModified
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import BasePagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
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
        size = query_int(
            request.query_params, "page_size", default=self.page_size, minimum=1, maximum=self.max_page_size
        )
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
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["Not a cursor returned by this list."]}
            ) from None

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


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


MAX_JSON_DEPTH = 32
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class SafeJSONParser(JSONParser):
    """JSON bodies within limits: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, nested at most MAX_JSON_DEPTH
    levels, and text only (a lone surrogate such as "\\udfff" is not a character: it is refused here, with the
    field named, before it reaches a COPY or an INSERT)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            data = json.loads(raw)
        except RecursionError:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        json_check(data, surrogates=bool(_SURROGATE_ESCAPE.search(raw)))
        return data


def json_check(data, *, surrogates: bool = True) -> None:
    """Depth at most MAX_JSON_DEPTH; with `surrogates`, no lone surrogate in any key or string (the path named)."""
    stack = [(data, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            if surrogates and isinstance(value, str) and not _is_text(value):
                raise exceptions.ValidationError(
                    {_path(path): ["Contains a lone surrogate (\\ud800-\\udfff), which is not text."]}
                )
            continue
        if depth > MAX_JSON_DEPTH:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        for k, v in items:
            if surrogates and isinstance(k, str) and not _is_text(k):
                raise exceptions.ValidationError({_path(path): ["A key contains a lone surrogate, which is not text."]})
            if isinstance(v, (dict, list)) or (surrogates and isinstance(v, str)):
                stack.append((v, (*path, k), depth + 1))


def _is_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _path(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "non_field_errors"


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
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]
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

    def key_user(self, *, side: str | None = None):
        """The user a key acts as in the services (its creator, re-assigned or not).

        `side="partner"`: only a partner key whose user works for the key's partner — services that a partner's
        staff call (open a dispute, write to the vendor) take that user; `side="vendor"`: only a vendor-wide key.
        Anything else is a 403 naming what the operation needs.
        """
        key = self.api_key
        user = key.created_by if key else None
        if side == "partner" and (key is None or key.partner_id is None or getattr(user, "partner_id", None)
                                  != key.partner_id):  # fmt: skip
            raise exceptions.PermissionDenied(
                _("Only a partner's key, created by one of its admins, can do this (re-assign the key otherwise).")
            )
        if side == "vendor" and (key is None or key.partner_id is not None):
            raise exceptions.PermissionDenied(_("Only a vendor-wide key can do this."))
        return user

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
        """The object, scoped; for a write, locked until the write commits (the handler runs in one transaction),
        so If-Match is compared with the row as it is written: of two writes with one ETag, one gets 412."""
        queryset = self.filter_queryset(self.get_queryset())
        writing = self.request.method in UNSAFE_METHODS
        if writing:
            queryset = queryset.select_for_update(of=("self",))
        lookup = self.lookup_url_kwarg or self.lookup_field
        obj = get_object_or_404(queryset, **{self.lookup_field: self.kwargs[lookup]})
        self.check_object_permissions(self.request, obj)
        if writing:
            if_match = self.request.headers.get("If-Match")
            if if_match is not None and not etag_matches(if_match, etag_for(obj, self.sync_field), weak=False):
                raise PreconditionFailed()
        self._etag_object = obj
        return obj

    # --- Idempotency-Key ---------------------------------------------------------------------------------------

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency = None
        if request.method in UNSAFE_METHODS:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                raise PayloadTooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
            # The write and its If-Match check in one transaction; an error rolls the whole write back.
            name = request.method.lower()
            handler = getattr(self, name, None)
            if handler is not None:
                setattr(self, name, transaction.atomic(handler))
        self._idempotency_claim(request)

    def _idempotency_claim(self, request):
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
                # Still running — unless its process died: after the lease the key is free to retry.
                stale = timezone.now() - IDEMPOTENCY_LEASE
                taken = IdempotencyRecord.objects.filter(
                    pk=record.pk, status_code__isnull=True, created_at__lt=stale
                ).update(created_at=timezone.now())
                if not taken:
                    raise IdempotencyInProgress() from None
                self._idempotency = record
                return
            headers = dict(record.response_headers)
            content_type = headers.pop("content_type", None)
            replay = Response(
                record.response_body, status=record.status_code, headers=headers, content_type=content_type
            )
            replay["Idempotent-Replayed"] = "true"
            setattr(self, request.method.lower(), lambda *a, **k: replay)
            return
        self._idempotency = record

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except BaseException:
            # A server error is not an answer: the key is released, so a retry really runs again.
            self._idempotency_release()
            raise

    def _idempotency_release(self):
        record = getattr(self, "_idempotency", None)
        if record is not None:
            IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
            self._idempotency = None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        obj = getattr(self, "_etag_object", None)
        if obj is not None and response.status_code == 200 and request.method != "DELETE":
            etag = etag_for(obj, self.sync_field)
            response["ETag"] = etag
            if_none_match = request.headers.get("If-None-Match")
            if request.method in ("GET", "HEAD") and if_none_match and etag_matches(if_none_match, etag, weak=True):
                not_modified = HttpResponseNotModified()
                not_modified["ETag"] = etag
                return not_modified
        record = getattr(self, "_idempotency", None)
        if record is not None:
            if response.status_code >= 500:
                self._idempotency_release()
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


IDEMPOTENCY_LEASE = timedelta(minutes=10)


def etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """RFC 9110: If-Match compares strongly (a weak tag W/"…" never matches), If-None-Match weakly; "*" matches."""
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            if not weak:
                continue
            tag = tag[2:]
        if tag == etag:
            return True
    return False


class ReadOnlyScopedViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Resources whose writes belong to portal workflows (tiers, KPI snapshots, commission entries, ...)."""
