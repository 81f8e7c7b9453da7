"""A database that says "not now" (lock table full, deadlock victim, serialization failure) gives the client a
503 problem+json with Retry-After, never a 500; nothing was written, so retrying is safe."""

import pytest
from django.db import OperationalError
from rest_framework.test import APIRequestFactory

from prm.api import PROBLEM_JSON, exception_handler


class _PgError(Exception):
    def __init__(self, pgcode):
        super().__init__("database error")
        self.pgcode = pgcode


def _raised(pgcode):
    try:
        try:
            raise _PgError(pgcode)
        except _PgError as cause:
            raise OperationalError("out of shared memory") from cause
    except OperationalError as exc:
        return exc


@pytest.mark.parametrize("pgcode", ["53200", "53100", "40P01", "40001", "55P03"])
def test_busy_database_is_a_503_with_retry_after(pgcode):
    request = APIRequestFactory().post("/api/v1/leads/bulk/")
    response = exception_handler(_raised(pgcode), {"request": request})
    assert response.status_code == 503
    assert response.content_type == PROBLEM_JSON
    assert response["Retry-After"] == "5"
    assert response.data["status"] == 503 and "Retry" in response.data["detail"]


def test_other_database_errors_are_not_hidden():
    assert exception_handler(_raised("42P01"), {"request": APIRequestFactory().get("/")}) is None
