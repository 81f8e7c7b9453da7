"""CSV downloads: every export writes through `csv_response`, so no cell can run as a spreadsheet formula."""

import csv
from collections.abc import Iterable

from django.http import HttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value):
    """Text starting like a formula (= + - @ tab CR) gets a leading single quote (OWASP CSV injection); numbers,
    dates and empty cells are kept, so a negative amount stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_response(*, filename: str, header: list, rows: Iterable[Iterable]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([csv_safe_cell(str(cell)) for cell in header])
    writer.writerows([csv_safe_cell(cell) for cell in row] for row in rows)
    return response
