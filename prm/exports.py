"""Downloads for spreadsheets (CSV, XLSX) with cells a spreadsheet will never run as a formula."""

import tablib
from django.http import HttpResponse

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and Google Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def safe_cell(value):
    """Text that a spreadsheet would evaluate gets a leading quote (OWASP CSV injection); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def table_download(*, headers: list[str], rows, filename: str, fmt: str = "csv") -> HttpResponse:
    """A CSV or XLSX attachment of `rows` under `headers`; every text cell passes through `safe_cell`."""
    if fmt not in CONTENT_TYPES:
        fmt = "csv"
    data = tablib.Dataset(headers=[safe_cell(str(h)) for h in headers])
    for row in rows:
        data.append([safe_cell(cell) if cell is not None else "" for cell in row])
    response = HttpResponse(data.export(fmt), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
