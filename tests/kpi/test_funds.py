import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from kpi.funds import services
from kpi.funds.models import Allocation, Budget, FundClaim, FundRequest
from kpi.funds.selectors import approval_queue, fund_roi
from kpi.models import CommissionEntry, EntryKind
from leads.models import Stage
from prm.models import AuditEvent, Notification, NotificationKind, Role
from tests.leads.factories import LeadFactory
from tests.prm.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()
PDF = b"%PDF-1.4 proof of the event"


def pdf(name="proof.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.fixture
def budget(channel_manager):
    return services.budget_create(
        actor=channel_manager,
        name="Q budget",
        period_start=TODAY - datetime.timedelta(days=30),
        period_end=TODAY + datetime.timedelta(days=60),
        amount=Decimal("100000"),
        currency="RUB",
    )


@pytest.fixture
def allocation(budget, partner, channel_manager):
    return services.allocation_set(budget=budget, partner=partner, amount=Decimal("50000"), actor=channel_manager)


def submit(actor, allocation, **kw):
    fields = {
        "activity_type": "webinar",
        "title": "Security webinar",
        "starts_on": TODAY,
        "ends_on": TODAY + datetime.timedelta(days=1),
        "planned_cost": Decimal("30000"),
        "requested_amount": Decimal("20000"),
        "expected_leads": 10,
        "expected_pipeline": Decimal("1000000"),
    }
    fields.update(kw)
    return services.fund_request_submit(actor=actor, allocation=allocation, **fields)


def test_full_cycle_budget_to_reimbursement(allocation, partner_admin, channel_manager, budget):
    request = submit(partner_admin, allocation)
    assert request.decision_due_at > timezone.now()
    assert Notification.objects.filter(kind=NotificationKind.REVIEW_QUEUE).exists()
    request = services.fund_request_decide(
        actor=channel_manager, request=request, approve=True, approved_amount=Decimal("15000")
    )
    allocation.refresh_from_db()
    assert (request.status, allocation.committed, allocation.available) == (
        "approved",
        Decimal("15000"),
        Decimal("35000"),
    )
    claim = services.fund_claim_submit(actor=partner_admin, request=request, amount=Decimal("14000"), proof=pdf())
    claim = services.fund_claim_decide(actor=channel_manager, claim=claim, approve=True)
    entry = CommissionEntry.objects.get(kind=EntryKind.REIMBURSEMENT)
    assert (entry.partner_id, entry.amount, entry.fund_claim_id, entry.statement_period) == (
        allocation.partner_id,
        Decimal("14000.00"),
        claim.pk,
        timezone.localdate().replace(day=1),  # nothing closed: the month it is booked in
    )
    with pytest.raises(ValidationError):  # deciding twice changes nothing
        services.fund_claim_decide(actor=channel_manager, claim=claim, approve=True)
    assert CommissionEntry.objects.filter(kind=EntryKind.REIMBURSEMENT).count() == 1
    assert AuditEvent.objects.filter(action__startswith="mdf.").count() >= 5


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"requested_amount": Decimal("-5")}, "requested_amount"),
        ({"requested_amount": Decimal("40000")}, "requested_amount"),  # above the planned cost
        ({"planned_cost": Decimal("90000"), "requested_amount": Decimal("60000")}, "requested_amount"),  # balance
        ({"starts_on": TODAY - datetime.timedelta(days=90)}, "starts_on"),  # outside the fund period
        ({"ends_on": TODAY + datetime.timedelta(days=200)}, "ends_on"),
        ({"ends_on": TODAY - datetime.timedelta(days=1)}, "ends_on"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(allocation, partner_admin, fields, error):
    with pytest.raises(ValidationError) as exc:
        submit(partner_admin, allocation, **fields)
    assert error in exc.value.message_dict
    assert not FundRequest.objects.exists()


def test_another_partners_allocation_or_request_is_refused(
    allocation, other_partner_rep, partner_admin, channel_manager
):
    with pytest.raises(PermissionDenied):
        submit(other_partner_rep, allocation)
    request = submit(partner_admin, allocation)
    services.fund_request_decide(actor=channel_manager, request=request, approve=True)
    with pytest.raises(PermissionDenied):
        services.fund_claim_submit(actor=other_partner_rep, request=request, amount=Decimal("10"), proof=pdf())
    with pytest.raises(PermissionDenied):
        services.fund_request_decide(actor=partner_admin, request=request, approve=True)


def test_claim_above_the_approved_amount_or_without_a_document_is_refused(allocation, partner_admin, channel_manager):
    request = services.fund_request_decide(
        actor=channel_manager, request=submit(partner_admin, allocation), approve=True
    )
    with pytest.raises(ValidationError) as exc:
        services.fund_claim_submit(actor=partner_admin, request=request, amount=Decimal("20000.01"), proof=pdf())
    assert "amount" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.fund_claim_submit(
            actor=partner_admin, request=request, amount=Decimal("100"), proof=pdf("x.exe", b"MZ\x90\x00")
        )
    assert "proof" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:  # a renamed script is not a PDF
        services.fund_claim_submit(
            actor=partner_admin, request=request, amount=Decimal("100"), proof=pdf("x.pdf", b"#!/bin/sh\n")
        )
    assert "proof" in exc.value.message_dict
    assert not FundClaim.objects.exists()


def test_database_refuses_overcommitting_and_double_reimbursement(allocation, partner_admin, channel_manager):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.filter(pk=allocation.pk).update(committed=Decimal("50000.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.filter(pk=allocation.budget_id).update(allocated=Decimal("100000.01"))
    request = services.fund_request_decide(
        actor=channel_manager, request=submit(partner_admin, allocation), approve=True
    )
    claim = services.fund_claim_submit(actor=partner_admin, request=request, amount=Decimal("100"), proof=pdf())
    with pytest.raises(IntegrityError), transaction.atomic():
        FundClaim.objects.filter(pk=claim.pk).update(approved_amount=Decimal("100.01"))
    services.fund_claim_decide(actor=channel_manager, claim=claim, approve=True)
    entry = CommissionEntry.objects.get(fund_claim=claim)
    with pytest.raises(IntegrityError), transaction.atomic():
        CommissionEntry.objects.create(
            partner_id=entry.partner_id,
            kind=EntryKind.REIMBURSEMENT,
            entry_date=TODAY,
            amount=1,
            currency="RUB",
            amount_reporting=1,
            description="again",
            source_key="again",
            fund_claim=claim,
        )


def test_allocation_limits_and_rule(budget, partner, other_partner, channel_manager, tiers):
    with pytest.raises(ValidationError) as exc:
        services.allocation_set(budget=budget, partner=partner, amount=Decimal("100000.01"), actor=channel_manager)
    assert "amount" in exc.value.message_dict
    other_partner.tier = tiers["gold"]
    other_partner.save()
    assert (
        services.allocations_by_rule(budget=budget, actor=channel_manager, amount_each=Decimal("1000"), min_tier_rank=2)
        == 1
    )
    budget.refresh_from_db()
    assert budget.allocated == Decimal("1000")
    with pytest.raises(ValidationError):
        services.allocations_by_rule(budget=budget, actor=channel_manager, amount_each=Decimal("99999"))


def test_escalation_and_expiry(allocation, partner_admin, channel_manager):
    lead = UserFactory(role=Role.CHANNEL_MANAGER, is_channel_lead=True)
    request = submit(partner_admin, allocation)
    later = request.decision_due_at + datetime.timedelta(minutes=1)
    assert approval_queue(now=later)["requests"][0].overdue
    assert services.funds_escalate(now=later) == 1
    assert services.funds_escalate(now=later) == 0
    assert Notification.objects.filter(user=lead, kind=NotificationKind.ESCALATION).count() == 1
    budget = allocation.budget
    assert services.budgets_expire(today=budget.period_end + datetime.timedelta(days=1)) == 1
    assert services.budgets_expire(today=budget.period_end + datetime.timedelta(days=1)) == 0
    allocation.refresh_from_db()
    request.refresh_from_db()
    assert (allocation.expired_amount, request.status) == (Decimal("50000.00"), "expired")


def test_roi_per_activity_converts_currencies(allocation, partner, partner_admin, channel_manager):
    from tests.kpi.factories import ExchangeRateFactory

    ExchangeRateFactory(currency="USD", valid_from=TODAY - datetime.timedelta(days=5), rate=Decimal("90"))
    request = services.fund_request_decide(
        actor=channel_manager, request=submit(partner_admin, allocation), approve=True
    )
    won = LeadFactory(partner=partner, stage=Stage.WON, won_at=timezone.now(), value=Decimal("100"), currency="USD")
    open_deal = LeadFactory(partner=partner, stage=Stage.PROPOSAL, value=Decimal("5000"))
    for deal in (won, open_deal):
        services.lead_fund_link(actor=partner_admin, lead=deal, fund_request=request)
    claim = services.fund_claim_submit(actor=partner_admin, request=request, amount=Decimal("1000"), proof=pdf())
    services.fund_claim_decide(actor=channel_manager, claim=claim, approve=True)
    [row] = fund_roi(group_by="request")
    assert (row["won"], row["pipeline"], row["spent"], row["deals"], row["roi"]) == (
        Decimal("9000"),
        Decimal("5000"),
        Decimal("1000"),
        2,
        Decimal("9.00"),
    )


def test_portal_journey_and_form_errors(client_for, allocation, partner_admin, channel_manager):
    client = client_for(partner_admin)
    page = client.get(reverse("kpi:funds:home")).content.decode()
    assert "50000" in page
    bad = client.post(
        reverse("kpi:funds:request_create"),
        {
            "allocation": allocation.pk,
            "activity_type": "event",
            "title": "Expo",
            "starts_on": (TODAY - datetime.timedelta(days=100)).isoformat(),
            "ends_on": TODAY.isoformat(),
            "planned_cost": "1000",
            "requested_amount": "500",
            "expected_leads": "3",
            "expected_pipeline": "0",
        },
    )
    assert bad.status_code == 400 and "The fund period is" in bad.content.decode()
    assert not FundRequest.objects.exists()
    ok = client.post(
        reverse("kpi:funds:request_create"),
        {
            "allocation": allocation.pk,
            "activity_type": "event",
            "title": "Expo",
            "starts_on": TODAY.isoformat(),
            "ends_on": TODAY.isoformat(),
            "planned_cost": "1000",
            "requested_amount": "500",
            "expected_leads": "3",
            "expected_pipeline": "0",
        },
    )
    assert ok.status_code == 302
    request = FundRequest.objects.get()
    cm = client_for(channel_manager)
    assert "Expo" in cm.get(reverse("kpi:funds:home")).content.decode()
    url = reverse("kpi:funds:request_detail", args=[request.pk])
    assert cm.post(url, {"action": "decide_request", "decision": "approve"}).status_code == 302
    client = client_for(partner_admin)
    too_much = client.post(url, {"action": "claim", "amount": "600", "proof": pdf(), "leads_generated": "1"})
    assert too_much.status_code == 400 and not FundClaim.objects.exists()
    assert (
        client.post(url, {"action": "claim", "amount": "400", "proof": pdf(), "leads_generated": "1"}).status_code
        == 302
    )
    cm = client_for(channel_manager)
    assert cm.post(url, {"action": "decide_claim", "decision": "approve"}).status_code == 302
    assert CommissionEntry.objects.get(kind=EntryKind.REIMBURSEMENT).amount == Decimal("400.00")
    proof = client_for(partner_admin).get(reverse("kpi:funds:claim_proof", args=[FundClaim.objects.get().pk]))
    assert proof.status_code == 200


def test_other_partner_cannot_see_a_request(client_for, allocation, partner_admin, other_partner_rep):
    request = submit(partner_admin, allocation)
    client = client_for(other_partner_rep)
    assert client.get(reverse("kpi:funds:request_detail", args=[request.pk])).status_code == 404
    assert (
        client.post(
            reverse("kpi:funds:request_detail", args=[request.pk]), {"action": "claim", "amount": "1"}
        ).status_code
        == 404
    )
