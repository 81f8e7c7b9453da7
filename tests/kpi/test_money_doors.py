"""Every door to a money rule reaches the same service and the same outcome (portal, API, admin)."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from kpi.funds import services
from kpi.funds.models import FundRequest
from kpi.models import Statement
from prm.api_auth import ALL_SCOPES, api_key_create
from prm.models import AuditEvent

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def allocation(partner, channel_manager):
    budget = services.budget_create(
        actor=channel_manager,
        name="Doors",
        period_start=TODAY,
        period_end=TODAY + datetime.timedelta(days=30),
        amount=Decimal("1000"),
        currency="RUB",
    )
    return services.allocation_set(budget=budget, partner=partner, amount=Decimal("1000"), actor=channel_manager)


FIELDS = {
    "activity_type": "webinar",
    "title": "Webinar",
    "starts_on": TODAY.isoformat(),
    "ends_on": TODAY.isoformat(),
    "planned_cost": "800.00",
    "requested_amount": "600.00",
    "expected_leads": "4",
    "expected_pipeline": "0.00",
}


def _api(user):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(created_by=user, name='k', scopes=list(ALL_SCOPES))[1]}"
    )
    return client


@pytest.mark.parametrize("door", ["portal_form", "api"])
@pytest.mark.parametrize("amount", ["600.00", "1200.00"])
def test_fund_request_same_outcome_whatever_the_door(
    door, amount, client_for, allocation, partner_admin, channel_manager
):
    data = {**FIELDS, "allocation": allocation.pk, "requested_amount": amount, "planned_cost": "2000.00"}
    if door == "portal_form":
        response = client_for(partner_admin).post(reverse("kpi:funds:request_create"), data)
        accepted = response.status_code == 302
    else:
        response = _api(partner_admin).post("/api/v1/mdf-requests/", data, format="json")
        accepted = response.status_code == 201
    assert response.status_code in (302, 201, 400)
    assert accepted == (amount == "600.00")
    assert FundRequest.objects.count() == (1 if accepted else 0)
    if accepted:
        request = FundRequest.objects.get()
        assert (request.requested_amount, request.status, request.partner_id) == (
            Decimal("600.00"),
            "submitted",
            allocation.partner_id,
        )
        assert AuditEvent.objects.filter(action="mdf.request_submitted").count() == 1


@pytest.mark.parametrize("door", ["portal", "admin_action", "service"])
def test_statement_approval_same_outcome_whatever_the_door(door, client, partner, channel_manager, vendor_admin):
    from kpi.payouts.services import statement_approve

    statement = Statement.objects.create(partner=partner, period=datetime.date(2026, 10, 1), closed_at=timezone.now())
    if door == "portal":
        client.force_login(channel_manager)
        client.post(reverse("kpi:payouts:statement_approve", args=[statement.pk]))
    elif door == "admin_action":
        client.force_login(vendor_admin)
        client.post(
            reverse("admin:kpi_statement_changelist"), {"action": "approve", "_selected_action": [statement.pk]}
        )
    else:
        statement_approve(statement=statement, actor=channel_manager)
    statement.refresh_from_db()
    assert statement.status == "approved"
    assert AuditEvent.objects.filter(action="statement.approved", object_id=str(statement.pk)).count() == 1


def test_admin_cannot_type_ledger_entries_or_statement_totals(client, vendor_admin):
    client.force_login(vendor_admin)
    assert client.get(reverse("admin:kpi_commissionentry_add")).status_code == 403
    assert client.get(reverse("admin:kpi_statement_add")).status_code == 403
    assert client.get(reverse("admin:kpi_commissionentry_changelist")).status_code == 200
