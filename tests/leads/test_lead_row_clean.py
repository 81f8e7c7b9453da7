"""A CSV row is checked by lead_row_clean, the import's fast path, exactly as LeadRowForm checks it: the same cleaned
values and the same per-field messages in the same order (path equivalence, issue 17 item 6 benchmark)."""

from decimal import Decimal

import pytest

from leads.forms.intake import LeadRowForm, lead_row_clean
from leads.services.intake import _row_errors
from tests.leads.routing_factories import competency, region

pytestmark = pytest.mark.django_db

GOOD = {
    "title": "Внедрение ERP",
    "customer": "ООО «Ромашка»",
    "tax_id": "7707083893",
    "domain": "romashka.ru",
    "kind": "license",
    "region": "msk",
    "competencies": "erp; crm",
    "value": "1500000.50",
    "currency": "RUB",
    "contact_name": "Иван Петров",
    "contact_email": "ivan@romashka.ru",
    "contact_phone": "8 495 000-00-00",
    "products": "ERP",
    "external_id": "CRM-1",
}

CASES = {
    "good": {},
    "only required columns": {"only": ["title", "customer", "kind", "region"]},
    "empty title": {"title": ""},
    "long title": {"title": "x" * 201},
    "legal form only": {"customer": "ООО"},
    "bad tax id": {"tax_id": "123"},
    "bad kind": {"kind": "gift"},
    "unknown region": {"region": "mars"},
    "unknown competencies": {"competencies": "erp;zzz;aaa"},
    "negative value": {"value": "-1"},
    "text value": {"value": "lots"},
    "too many decimals": {"value": "1.234"},
    "bad email": {"contact_email": "ivan@"},
    "long currency": {"currency": "RUBL"},
    "many at once": {"title": "", "kind": "x", "region": "", "value": "-5", "contact_email": "no"},
}


@pytest.mark.parametrize("change", CASES.values(), ids=CASES.keys())
def test_row_checked_as_the_form_checks_it(change):
    regions = {"msk": region("msk")}
    known = {c.code: c for c in (competency("erp"), competency("crm"))}
    data = {**GOOD, **{k: v for k, v in change.items() if k != "only"}}
    if "only" in change:
        data = {k: data[k] for k in change["only"]}

    form = LeadRowForm(data=data, regions=regions, competencies=known)
    cleaned, errors = lead_row_clean(data=data, regions=regions, competencies=known)

    assert form.is_valid() == (not errors)
    assert bool(errors) == (bool(change) and "only" not in change)  # every bad case is refused
    assert _row_errors(errors) == _row_errors(form.errors)
    if not errors:
        assert cleaned == form.cleaned_data
    if not change:
        assert cleaned["value"] == Decimal("1500000.50") and cleaned["region"] == regions["msk"]
        assert [c.code for c in cleaned["competencies"]] == ["crm", "erp"]
