# ruff: noqa: F811 - the API fixtures are imported from tests/api/conftest.py
"""Who the customer is: every door that names a customer gives the same answer (issue 16, rule 1).

One parametrized test drives each entry path (portal registration form, API single create, API bulk upsert,
vendor lead form, CSV import, Django admin) with «ООО «Ромашка»»-style spellings and tax ids typed with a
Cyrillic «О» for zero and separators, and asserts one customer with the one key.
"""

import itertools

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from leads.customers import customer_name_key
from leads.models import Customer, Lead
from tests.api.conftest import _fresh_throttle_cache, api, key_a, make_key  # noqa: F401 - fixtures
from tests.leads.routing_factories import region

pytestmark = pytest.mark.django_db

INN = "7707083893"
SPELLINGS = [("ООО «Ромашка»", INN), ('"Romashka" LLC', "77О7 083 893"), ("ромашка, ооо", "RU 7707-083-893")]
_ids = itertools.count(1)


@pytest.fixture
def doors(client_for, api, key_a, partner_rep, other_partner_rep, channel_manager, vendor_admin):
    msk = region("msk")

    def portal_form(name, tax_id):
        # Two partners take turns: the second registration of one customer is a conflict, never a second customer.
        rep = partner_rep if next(_ids) % 2 else other_partner_rep
        data = {
            "customer_name": name,
            "tax_id": tax_id,
            "website": "",
            "contact_name": "Ivan",
            "contact_email": "ivan@gmail.com",
            "title": "ERP",
            "products": "ERP",
            "value": "1000",
            "currency": "RUB",
            "expected_close": "2099-01-01",
        }
        response = client_for(rep).post(reverse("leads:deal_register"), data)
        assert response.status_code == 302, response.context["form"].errors

    def api_single(name, tax_id):
        body = {"title": "From CRM", "customer": {"name": name}}
        if tax_id:
            body["customer"]["tax_id"] = tax_id
        response = api(key_a).post("/api/v1/leads/", body, format="json")
        assert response.status_code == 201, response.content

    def api_bulk(name, tax_id):
        item = {
            "source_system": "crm",
            "external_id": f"x{next(_ids)}",
            "title": "From CRM",
            "customer": {"name": name},
        }
        if tax_id:
            item["customer"]["tax_id"] = tax_id
        response = api(key_a).post("/api/v1/leads/bulk-upsert/", {"items": [item]}, format="json")
        assert response.json()["results"][0]["status"] == "created", response.content

    def vendor_form(name, tax_id):
        data = {"title": "Lead", "customer_name": name, "customer_tax_id": tax_id, "kind": "license"}
        data |= {"region": msk.pk, "currency": "RUB"}
        response = client_for(channel_manager).post(reverse("leads:lead_new"), data)
        assert response.status_code == 302, response.context["form"].errors

    def csv(name, tax_id):
        body = f'title,customer,tax_id,kind,region\nLead,"{name.replace(chr(34), chr(34) * 2)}",{tax_id},license,msk\n'
        upload = SimpleUploadedFile("leads.csv", body.encode(), content_type="text/csv")
        with TestCase.captureOnCommitCallbacks(execute=True):  # the import job runs after the commit
            response = client_for(channel_manager).post(reverse("leads:lead_import"), {"file": upload})
        assert response.status_code == 302
        assert Lead.objects.filter(source="import").exists()

    def admin(name, tax_id):
        data = {"name": name, "country": "RU", "tax_id": tax_id, "domain": "", "size": "", "reserved_reason": ""}
        client_for(vendor_admin).post(reverse("admin:leads_customer_add"), data)

    return {f.__name__: f for f in (portal_form, api_single, api_bulk, vendor_form, csv, admin)}


@pytest.mark.parametrize("door", ["portal_form", "api_single", "api_bulk", "vendor_form", "csv", "admin"])
def test_one_customer_whatever_the_door(door, doors):
    for name, tax_id in SPELLINGS:
        doors[door](name, tax_id)
    # …and the other doors agree with this one.
    for other in doors:
        if other not in (door, "admin"):
            doors[other]("Romashka", INN)
    customer = Customer.objects.get()
    assert (customer.normalized_name, customer.tax_id) == ("romashka", INN)
    assert customer.normalized_name == customer_name_key("ООО «Ромашка»")
    assert customer.name == "ООО «Ромашка»"  # the first spelling names the record


@pytest.mark.parametrize("door", ["api_single", "api_bulk", "vendor_form", "csv", "admin"])
def test_a_name_only_customer_is_found_by_its_key_and_gains_the_tax_id(door, doors):
    doors[door]("ООО «Ромашка»", "")
    doors["portal_form"]("Romashka LLC", INN)
    customer = Customer.objects.get()
    assert (customer.normalized_name, customer.tax_id) == ("romashka", INN)


@pytest.mark.parametrize(
    ("door", "field"),
    [("portal_form", "tax_id"), ("vendor_form", "customer_tax_id"), ("admin", "tax_id")],
)
def test_an_invalid_inn_is_a_form_error(door, field, client_for, partner_rep, channel_manager, vendor_admin):
    msk = region("msk")
    user, url, data = {
        "portal_form": (partner_rep, reverse("leads:deal_register"), {"customer_name": "Romashka"}),
        "vendor_form": (channel_manager, reverse("leads:lead_new"), {"customer_name": "Romashka", "region": msk.pk}),
        "admin": (vendor_admin, reverse("admin:leads_customer_add"), {"name": "Romashka", "country": "RU"}),
    }[door]
    response = client_for(user).post(url, {**data, field: "7707083894"})
    assert response.status_code == 200
    form = response.context["adminform"].form if door == "admin" else response.context["form"]
    assert "check digit" in " ".join(form.errors[field])
    assert not Customer.objects.exists()


@pytest.mark.parametrize("endpoint", ["single", "bulk"])
def test_an_invalid_inn_is_a_400_field_message_in_the_api(endpoint, api, key_a):
    customer = {"name": "Romashka", "tax_id": "7707083894"}
    if endpoint == "single":
        response = api(key_a).post("/api/v1/leads/", {"title": "X", "customer": customer}, format="json")
        assert response.status_code == 400
        assert "check digit" in str(response.json())
        assert "tax_id" in str(response.json())
    else:
        item = {"source_system": "crm", "external_id": "1", "title": "X", "customer": customer}
        result = api(key_a).post("/api/v1/leads/bulk-upsert/", {"items": [item]}, format="json").json()["results"][0]
        assert result["status"] == "error" and "tax_id" in result["errors"]["customer"][0]
    assert not Customer.objects.exists()


def test_the_portal_keeps_the_typed_name_and_says_the_tax_id_matched(doors, client_for, partner_rep):
    existing = Customer.objects.create(name="ООО «Ромашка»", normalized_name="romashka", tax_id=INN)
    client = client_for(partner_rep)
    data = {
        "customer_name": "Romashka Trading",
        "tax_id": INN,
        "contact_name": "Ivan",
        "contact_email": "ivan@gmail.com",
        "title": "ERP",
        "products": "ERP",
        "value": "1000",
        "currency": "RUB",
        "expected_close": "2099-01-01",
    }
    response = client.post(reverse("leads:deal_register"), data)
    lead = Lead.objects.get()
    assert lead.customer == existing and lead.customer_name == "Romashka Trading"
    existing.refresh_from_db()
    assert existing.name == "ООО «Ромашка»"  # the record is not renamed either
    told = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("ООО «Ромашка»" in m and "Romashka Trading" in m for m in told), told
    page = client.get(reverse("leads:deal_detail", args=[lead.pk])).content.decode()
    assert "Romashka Trading" in page
