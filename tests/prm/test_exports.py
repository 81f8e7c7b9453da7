import csv
import io
from decimal import Decimal

import openpyxl
import pytest

from prm.exports import safe_cell, table_download


@pytest.mark.parametrize(
    ("raw", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Plain text", "Plain text"),
        (Decimal("-200.00"), Decimal("-200.00")),
    ],
)
def test_safe_cell(raw, written):
    assert safe_cell(raw) == written


def test_csv_and_xlsx_never_hold_a_formula():
    rows = [["=1+1", Decimal("-5.00")]]
    response = table_download(headers=["Text", "Amount"], rows=rows, filename="x", fmt="csv")
    assert list(csv.reader(io.StringIO(response.content.decode())))[1] == ["'=1+1", "-5.00"]
    response = table_download(headers=["Text", "Amount"], rows=rows, filename="x", fmt="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet["A2"].value == "'=1+1" and sheet["A2"].data_type == "s"
    assert response["Content-Disposition"] == 'attachment; filename="x.xlsx"'
