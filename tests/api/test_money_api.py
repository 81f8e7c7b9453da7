"""MDF requests and claims through the API (partner keys create, vendor keys decide), statements for partner keys,
and the money webhooks."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from kpi.funds import services
from kpi.funds.models import FundClaim, FundRequest
from kpi.models import CommissionEntry, Statement
from kpi.payouts.services import statement_approve, statement_pay
from prm.models import WebhookDelivery
from prm.webhooks import webhook_subscribe

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def allocation(partner, channel_manager):
    budget = services.budget_create(
        actor=channel_manager,
        name="API budget",
        period_start=TODAY - datetime.timedelta(days=10),
        period_end=TODAY + datetime.timedelta(days=50),
        amount=Decimal("10000"),
        currency="RUB",
    )
    return services.allocation_set(budget=budget, partner=partner, amount=Decimal("5000"), actor=channel_manager)


def body(allocation, **kw):
    data = {
        "allocation": allocation.pk,
        "activity_type": "event",
        "title": "Expo",
        "starts_on": TODAY.isoformat(),
        "ends_on": TODAY.isoformat(),
        "planned_cost": "3000.00",
        "requested_amount": "2000.00",
        "expected_leads": 5,
        "expected_pipeline": "100000.00",
    }
    data.update(kw)
    return data


def test_partner_creates_vendor_decides_claim_reimbursed(api, key_a, vendor_key, allocation, make_key, vendor_admin):
    sub_key, _raw = make_key(vendor_admin)
    webhook_subscribe(
        api_key=sub_key,
        url="http://127.0.0.1:9/hook",
        events=["mdf.request_decided", "mdf.claim_decided", "statement.approved", "statement.paid"],
        actor=vendor_admin,
    )
    partner = api(key_a)
    created = partner.post("/api/v1/mdf-requests/", body(allocation), format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert partner.post(f"/api/v1/mdf-requests/{pk}/decide/", {"decision": "approve"}, format="json").status_code == 403
    vendor = api(vendor_key)
    decided = vendor.post(
        f"/api/v1/mdf-requests/{pk}/decide/", {"decision": "approve", "approved_amount": "1500"}, format="json"
    )
    assert decided.status_code == 200 and decided.json()["approved_amount"] == "1500.00"
    again = vendor.post(f"/api/v1/mdf-requests/{pk}/decide/", {"decision": "approve"}, format="json")
    assert again.status_code == 400 and again["Content-Type"].startswith("application/problem+json")
    too_much = partner.post(
        "/api/v1/mdf-claims/",
        {"request": pk, "amount": "1500.01", "proof": SimpleUploadedFile("p.pdf", b"%PDF-1.4 x")},
        format="multipart",
    )
    assert too_much.status_code == 400 and "amount" in too_much.json()["errors"]
    not_a_document = partner.post(
        "/api/v1/mdf-claims/",
        {"request": pk, "amount": "100", "proof": SimpleUploadedFile("p.pdf", b"<script>")},
        format="multipart",
    )
    assert not_a_document.status_code == 400 and "proof" in not_a_document.json()["errors"]
    assert not FundClaim.objects.exists()
    claim = partner.post(
        "/api/v1/mdf-claims/",
        {"request": pk, "amount": "1400", "proof": SimpleUploadedFile("p.pdf", b"%PDF-1.4 x")},
        format="multipart",
    )
    assert claim.status_code == 201, claim.content
    cid = claim.json()["id"]
    assert vendor.post(f"/api/v1/mdf-claims/{cid}/decide/", {"decision": "approve"}, format="json").status_code == 200
    assert CommissionEntry.objects.get(fund_claim_id=cid).amount == Decimal("1400.00")
    events = set(WebhookDelivery.objects.values_list("event", flat=True))
    assert events == {"mdf.request_decided", "mdf.claim_decided"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"requested_amount": "-1.00"}, "requested_amount"),
        ({"starts_on": (TODAY - datetime.timedelta(days=40)).isoformat()}, "starts_on"),
        ({"requested_amount": "9000.00", "planned_cost": "9000.00"}, "requested_amount"),
    ],
)
def test_bad_requests_answer_400_and_change_nothing(api, key_a, allocation, change, field):
    response = api(key_a).post("/api/v1/mdf-requests/", body(allocation, **change), format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not FundRequest.objects.exists()


def test_another_partners_allocation_is_not_found(api, key_b, allocation):
    response = api(key_b).post("/api/v1/mdf-requests/", body(allocation), format="json")
    assert response.status_code == 400 and "allocation" in response.json()["errors"]
    assert not FundRequest.objects.exists()


def test_statements_readable_by_their_partner_only(api, key_a, key_b, partner, channel_manager, make_key, vendor_admin):
    statement = Statement.objects.create(
        partner=partner, period=datetime.date(2026, 10, 1), closed_at=timezone.now(), hold_days=14
    )
    statement = statement_approve(statement=statement, actor=channel_manager)
    statement_pay(statement=statement, actor=channel_manager, payment_reference="PAY-1")
    rows = api(key_a).get("/api/v1/statements/").json()["results"]
    assert [(r["id"], r["status"], r["payment_reference"], r["hold_days"]) for r in rows] == [
        (statement.pk, "paid", "PAY-1", 14)
    ]
    assert api(key_b).get(f"/api/v1/statements/{statement.pk}/").status_code == 404
    assert api(key_a).post("/api/v1/statements/", {}, format="json").status_code == 405
