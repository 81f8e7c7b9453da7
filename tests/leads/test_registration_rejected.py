"""A rejected registration closes its deal (stage "rejected"); overturning the rejection reopens it."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from kpi.models import KpiSnapshot
from kpi.services.snapshots import kpi_snapshots_compute
from leads.models import DisputeOutcome, Lead, Registration, RegistrationStatus, Stage
from leads.selectors.deals import deal_list
from leads.services.conflict import dispute_decide, dispute_open
from leads.services.deals import deal_allowed_moves, deal_stage_change
from leads.services.registration import Rule, registration_reject
from portal.partner_selectors import partner_pipeline_summary
from portal.selectors import partner_home_summary, vendor_home_summary
from prm.models import AuditEvent
from tests.leads.factories import CustomerFactory, LeadFactory
from tests.migrating import migrate_latest

pytestmark = pytest.mark.django_db


def assert_closed_as_rejected(reg: Registration) -> Lead:
    lead = Lead.objects.get(pk=reg.lead_id)
    assert lead.stage == Stage.REJECTED
    assert lead.closed_at == reg.decided_at and lead.won_at is None
    assert deal_allowed_moves(lead=lead) == []
    assert AuditEvent.objects.filter(
        action="deal.stage_changed", object_id=str(lead.pk), data__to=Stage.REJECTED
    ).exists()
    return lead


@pytest.mark.parametrize("rule", [Rule.HARD_CONFLICT, Rule.RESERVED])
def test_auto_rejection_closes_the_deal(register, partner, partner_rep, other_partner, other_partner_rep, rule):
    if rule == Rule.HARD_CONFLICT:
        register(other_partner, other_partner_rep, tax_id="7701234567")
    else:
        CustomerFactory(name="Газпром", normalized_name="gazprom", tax_id="7701234567", reserved_for_direct=True)
    reg = register(partner, partner_rep, tax_id="7701234567", title="Second")
    assert reg.status == RegistrationStatus.REJECTED and reg.decision_rule == rule
    assert_closed_as_rejected(reg)


def test_pending_and_approved_registrations_keep_the_deal_open(
    register, partner, partner_rep, other_partner, other_partner_rep
):
    approved = register(partner, partner_rep, name="Romashka Plus", tax_id="7701234567")
    pending = register(other_partner, other_partner_rep, name="Romashka Plus Group", tax_id="7709999999")
    assert pending.status == RegistrationStatus.PENDING_REVIEW
    for reg in (approved, pending):
        reg.lead.refresh_from_db()
        assert reg.lead.stage == Stage.REGISTERED and reg.lead.closed_at is None


def test_manual_rejection_closes_the_deal(
    register, partner, partner_rep, other_partner, other_partner_rep, channel_manager
):
    register(partner, partner_rep, name="Romashka Plus", tax_id="7701234567")
    pending = register(other_partner, other_partner_rep, name="Romashka Plus Group", tax_id="7709999999")
    reg = registration_reject(registration=pending, actor=channel_manager, reason="Same company")
    lead = assert_closed_as_rejected(reg)
    assert AuditEvent.objects.get(action="deal.stage_changed", object_id=str(lead.pk)).actor == channel_manager
    with pytest.raises(ValidationError, match="cannot move"):
        deal_stage_change(lead=lead, to_stage=Stage.LOST, actor=other_partner_rep, lost_reason="x")


def test_dispute_transfer_reopens_the_rejected_deal(
    register, partner, partner_rep, other_partner, other_partner_rep, channel_manager
):
    register(other_partner, other_partner_rep, tax_id="7701234567")
    rejected = register(partner, partner_rep, tax_id="7701234567", title="Ours")
    assert_closed_as_rejected(rejected)
    dispute = dispute_open(
        user=partner_rep,
        registration=rejected,
        first_contact_date=timezone.localdate() - datetime.timedelta(days=30),
        description="We met them first.",
    )
    dispute_decide(dispute=dispute, actor=channel_manager, outcome=DisputeOutcome.TRANSFER, reason="Earlier")
    lead = Lead.objects.get(pk=rejected.lead_id)
    assert lead.stage == Stage.REGISTERED and lead.closed_at is None
    assert Stage.QUALIFIED in deal_allowed_moves(lead=lead)


def test_rejected_deals_do_not_count_as_open(register, partner, partner_rep, other_partner, other_partner_rep):
    register(other_partner, other_partner_rep, tax_id="7701234567")
    open_deal = register(partner, partner_rep, tax_id="7705555555", title="Open")
    rejected = register(partner, partner_rep, tax_id="7701234567", title="Rejected")
    assert rejected.status == RegistrationStatus.REJECTED

    assert partner_home_summary(partner=partner, user=partner_rep)["open_deals"] == 1
    assert vendor_home_summary()["open_deals"] == 2  # the other partner's deal and ours
    pipeline = partner_pipeline_summary(partner=partner)
    assert pipeline["open_count"] == 1 and pipeline["open_value"] == open_deal.lead.value
    # Listed among the closed deals, not the open ones.
    assert list(deal_list(viewer=partner_rep, filters={"state": "open"})) == [open_deal.lead]
    assert list(deal_list(viewer=partner_rep, filters={"state": "closed"})) == [rejected.lead]


def test_deal_pages_show_the_rejection_reason_and_no_moves(client_for, register, partner, partner_rep):
    CustomerFactory(name="Газпром", normalized_name="gazprom", tax_id="7701234567", reserved_for_direct=True)
    reg = register(partner, partner_rep, tax_id="7701234567", title="Named account deal")
    client = client_for(partner_rep)
    listing = client.get(reverse("leads:deal_list"), {"state": "closed"}).content.decode()
    assert "Named account deal" in listing and "Registration rejected" in listing
    assert escape(reg.decision_reason_text) in listing
    detail = client.get(reverse("leads:deal_detail", args=[reg.lead_id]))
    assert detail.context["moves"] == [] and not detail.context["can_cosell"]
    assert escape(reg.decision_reason_text) in detail.content.decode()


def test_rejected_deals_leave_win_rate_and_hygiene_alone(partner):
    now = timezone.now()
    stale = now - datetime.timedelta(days=60)
    LeadFactory(partner=partner, stage=Stage.WON, won_at=now, closed_at=now)
    LeadFactory(partner=partner, stage=Stage.LOST, closed_at=now)
    LeadFactory(partner=partner, stage=Stage.QUALIFIED, last_activity_at=now)
    for _ in range(3):  # closed by rejection, never touched since: would drag hygiene down if counted as open
        LeadFactory(partner=partner, stage=Stage.REJECTED, closed_at=now, last_activity_at=stale)
    Lead.objects.filter(stage=Stage.REJECTED).update(updated_at=stale)
    today = timezone.localdate()
    kpi_snapshots_compute(on=today)
    snap = KpiSnapshot.objects.get(partner=partner, date=today)
    assert snap.win_rate_pct == Decimal("50.00")
    assert snap.hygiene_pct == Decimal("100.00")


def test_a_rejected_deal_must_be_closed():
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(stage=Stage.REJECTED, closed_at=None)


@pytest.mark.django_db(transaction=True)
def test_migration_closes_deals_of_rejected_registrations():
    decided = timezone.now() - datetime.timedelta(days=3)

    def lead_with(status, stage=Stage.REGISTERED, **extra):
        lead = LeadFactory(stage=stage, **extra)
        Registration.objects.create(lead=lead, partner=lead.partner, status=status, decided_at=decided)
        return lead

    rejected = lead_with(RegistrationStatus.REJECTED)
    pending = lead_with(RegistrationStatus.PENDING_REVIEW)
    lost = lead_with(RegistrationStatus.REJECTED, stage=Stage.LOST, closed_at=decided, lost_reason="gone")
    unregistered = LeadFactory()

    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("leads", "0010_routing_queue_indexes")])
        executor.loader.build_graph()
        executor.migrate([("leads", "0012_lead_rejected_is_closed")])
        stages = dict(Lead.objects.values_list("pk", "stage"))
    finally:  # back to the latest schema (later migrations, e.g. the open_load triggers) for the next tests
        migrate_latest()
    assert stages == {
        rejected.pk: Stage.REJECTED,
        pending.pk: Stage.REGISTERED,
        lost.pk: Stage.LOST,
        unregistered.pk: Stage.REGISTERED,
    }
    assert Lead.objects.get(pk=rejected.pk).closed_at == decided
