"""One error shape for the whole API: RFC 9457 problem details, with field messages for validation errors."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_JSON = "application/problem+json"
# PostgreSQL errors that say "not now" rather than "wrong": insufficient resources (class 53, e.g. the shared lock
# table full while large batches run at once: "out of shared memory"), a deadlock victim, a serialization failure,
# a lock wait timeout. The transaction was rolled back, so nothing was written: the client may retry.
RETRYABLE_PGCODES = ("40P01", "40001", "55P03")
RETRY_AFTER_SECONDS = 5


def _retryable(exc: OperationalError) -> bool:
    code = getattr(exc.__cause__, "pgcode", None) or ""
    return code.startswith("53") or code in RETRYABLE_PGCODES


def _django_validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": list(exc.messages)}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, IntegrityError):
        # A database constraint caught a conflict the service could not see (a race): a clean 409, never a 500.
        exc = exceptions.APIException(detail="The change conflicts with existing data.", code="conflict")
        exc.status_code = status.HTTP_409_CONFLICT
    elif isinstance(exc, OperationalError) and _retryable(exc):
        exc = exceptions.Throttled(wait=RETRY_AFTER_SECONDS, detail="The server is busy; nothing was changed. Retry.")
        exc.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = exceptions.APIException(detail="The request body is too large.", code="payload_too_large")
        exc.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, SuspiciousOperation):  # too many form fields, a malformed multipart body, ...
        exc = exceptions.ParseError(str(exc) or "The request could not be read.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    problem = {
        "type": "about:blank",
        "title": _title(response.status_code),
        "status": response.status_code,
    }
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        problem["detail"] = "Some fields are invalid."
        problem["errors"] = data if isinstance(data, dict) else {"non_field_errors": data}
    elif isinstance(data, dict) and "detail" in data:
        problem["detail"] = str(data["detail"])
    else:
        problem["detail"] = str(data)
    request = context.get("request")
    if request is not None:
        problem["instance"] = request.path
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
    return Response(problem, status=response.status_code, headers=headers, content_type=PROBLEM_JSON)


def _title(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"
