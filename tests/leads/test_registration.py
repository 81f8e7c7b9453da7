from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from leads.models import (
    Customer,
    Lead,
    LeadSource,
    ProtectionWindow,
    Registration,
    RegistrationPolicy,
    RegistrationStatus,
    Stage,
)
from leads.selectors.registration import customer_claims
from leads.services.registration import (
    MSG_PROTECTED,
    MSG_RESERVED,
    Rule,
    protections_expire,
    registration_approve,
    registration_extend,
    registration_reject,
)
from partners.models import PartnerStatus
from prm.models import AuditEvent, Notification, NotificationKind
from tests.leads.factories import CustomerFactory
from tests.partners.factories import PartnerFactory, TierFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db


def test_no_conflict_is_approved_with_windows_for_every_key(register, partner, partner_rep):
    reg = register(partner, partner_rep, tax_id="7701 234 567", website="https://www.romashka.ru")

    assert reg.status == RegistrationStatus.APPROVED
    assert reg.decision_rule == Rule.AUTO_APPROVED
    assert reg.decided_at is not None and reg.decided_by is None
    keys = set(reg.windows.filter(active=True).values_list("key_kind", "key"))
    assert keys == {("tax_id", "7701234567"), ("domain", "romashka.ru"), ("name", "romashka")}
    assert (reg.protected_until - reg.protected_from).days == 90
    lead = reg.lead
    assert lead.stage == Stage.REGISTERED and lead.source == LeadSource.PARTNER_REGISTRATION
    assert lead.partner == partner and lead.owner == partner_rep
    assert lead.customer.normalized_name == "romashka" and lead.customer.tax_id == "7701234567"
    assert reg.decisions.get().rule == Rule.AUTO_APPROVED
    assert AuditEvent.objects.filter(action="registration.approved", object_id=str(reg.pk)).exists()
    assert Notification.objects.filter(user=partner_rep, kind=NotificationKind.REGISTRATION_DECIDED).exists()


def test_protection_days_come_from_the_tier(register, partner, partner_rep):
    partner.tier = TierFactory(protection_days=45)
    partner.save()
    reg = register(partner, partner_rep, tax_id="7701234567")
    assert (reg.protected_until - reg.protected_from).days == 45


@pytest.mark.parametrize(
    "second",
    [
        {"name": "Совсем другое имя", "tax_id": "7701234567"},
        {"name": "Другое имя", "website": "romashka.ru"},
        {"name": "Другое имя", "email": "boss@romashka.ru"},
    ],
)
def test_hard_conflict_is_rejected_and_kept(register, partner, partner_rep, other_partner, other_partner_rep, second):
    first = register(partner, partner_rep, tax_id="7701234567", website="romashka.ru")
    reg = register(other_partner, other_partner_rep, **second)

    assert reg.status == RegistrationStatus.REJECTED
    assert reg.decision_rule == Rule.HARD_CONFLICT
    assert reg.decision_reason_text == MSG_PROTECTED
    assert partner.name not in reg.decision_reason_text
    assert Registration.objects.filter(pk=reg.pk).exists()  # kept, not deleted
    assert not reg.windows.exists()
    assert reg.matches and reg.matches[0]["registration_id"] == first.pk and reg.matches[0]["kind"] == "hard"
    assert reg.decisions.get().status == RegistrationStatus.REJECTED


def test_free_mail_domain_never_conflicts(register, partner, partner_rep, other_partner, other_partner_rep):
    register(partner, partner_rep, name="Alpha", tax_id="7701234567", email="ceo@gmail.com")
    reg = register(other_partner, other_partner_rep, name="Omega", tax_id="7709999999", email="cto@gmail.com")
    assert reg.status == RegistrationStatus.APPROVED


def test_similar_name_goes_to_review(register, partner, partner_rep, other_partner, other_partner_rep, channel_manager):
    first = register(partner, partner_rep, name="ООО «Ромашка Плюс»", tax_id="7701234567")
    reg = register(other_partner, other_partner_rep, name="Romashka Pljus LLC", tax_id="7709999999")

    assert reg.status == RegistrationStatus.PENDING_REVIEW
    assert reg.decision_rule == Rule.SOFT_CONFLICT
    assert reg.matches[0]["kind"] == "soft" and reg.matches[0]["registration_id"] == first.pk
    assert reg.matches[0]["similarity"] >= 90
    assert not reg.windows.exists()
    assert Notification.objects.filter(user=channel_manager, kind=NotificationKind.REVIEW_QUEUE).exists()


@override_settings(PRM_SOFT_MATCH_THRESHOLD=100)
def test_soft_threshold_is_configurable(register, partner, partner_rep, other_partner, other_partner_rep):
    register(partner, partner_rep, name="Romashka Plus", tax_id="7701234567")
    reg = register(other_partner, other_partner_rep, name="Romashka Pljus", tax_id="7709999999")
    assert reg.status == RegistrationStatus.APPROVED


def test_vendor_named_account_is_rejected_without_naming_anyone(register, partner, partner_rep):
    CustomerFactory(name="Газпром", normalized_name="gazprom", tax_id="7736050003", reserved_for_direct=True)
    reg = register(partner, partner_rep, name="Something", tax_id="7736050003")
    assert reg.status == RegistrationStatus.REJECTED
    assert reg.decision_rule == Rule.RESERVED
    assert reg.decision_reason_text == MSG_RESERVED


def test_named_account_similar_name_goes_to_review(register, partner, partner_rep):
    CustomerFactory(name="Газпром", normalized_name="gazprom", tax_id="7736050003", reserved_for_direct=True)
    reg = register(partner, partner_rep, name="ПАО Газпром", tax_id="7700000001")
    assert reg.status == RegistrationStatus.PENDING_REVIEW
    assert reg.matches[0]["reserved"] is True


def test_second_deal_at_an_own_protected_customer_is_attached_to_the_protection(register, partner, partner_rep):
    first = register(partner, partner_rep, tax_id="7701234567")
    reg = register(partner, partner_rep, tax_id="7701234567", title="Second deal")
    assert reg.status == RegistrationStatus.APPROVED
    assert reg.decision_rule == Rule.OWN_PROTECTION
    assert reg.protected_until == first.protected_until
    assert not reg.windows.exists()  # the first registration's windows protect the customer
    reg.lead.refresh_from_db()
    assert reg.lead.stage == Stage.REGISTERED and reg.lead.closed_at is None


def test_partner_not_in_good_standing_goes_to_review(register):
    suspended = PartnerFactory(status=PartnerStatus.SUSPENDED)
    reg = register(suspended, PartnerUserFactory(partner=suspended), tax_id="7701234567")
    assert reg.status == RegistrationStatus.PENDING_REVIEW
    assert reg.decision_rule == Rule.NOT_IN_GOOD_STANDING


def test_program_without_auto_approval_goes_to_review(register, partner, partner_rep):
    RegistrationPolicy.objects.create(program_model=partner.program_model, auto_approve=False)
    reg = register(partner, partner_rep, tax_id="7701234567")
    assert reg.status == RegistrationStatus.PENDING_REVIEW
    assert reg.decision_rule == Rule.MANUAL_PROGRAM


def test_blank_name_is_a_field_error(register, partner, partner_rep):
    with pytest.raises(ValidationError) as exc:
        register(partner, partner_rep, name="«» !!")
    assert "customer_name" in exc.value.message_dict
    assert not Lead.objects.exists()


def test_existing_customer_is_linked_by_tax_id(register, partner, partner_rep, other_partner, other_partner_rep):
    first = register(partner, partner_rep, tax_id="7701234567")
    second = register(other_partner, other_partner_rep, tax_id="7701234567")
    assert second.lead.customer_id == first.lead.customer_id
    assert Customer.objects.count() == 1


# --- review ---


@pytest.fixture
def pending(register, partner, partner_rep, other_partner, other_partner_rep):
    first = register(partner, partner_rep, name="Romashka Plus", tax_id="7701234567")
    second = register(other_partner, other_partner_rep, name="Romashka Plus Group", tax_id="7709999999")
    assert second.status == RegistrationStatus.PENDING_REVIEW
    return first, second


def test_review_approve_creates_windows_and_records_the_decision(pending, channel_manager):
    _, second = pending
    reg = registration_approve(registration=second, actor=channel_manager, reason="Different legal entity")
    assert reg.status == RegistrationStatus.APPROVED
    assert reg.decided_by == channel_manager and reg.decision_rule == Rule.MANUAL_APPROVED
    assert reg.windows.filter(key_kind="tax_id", key="7709999999", active=True).exists()
    assert [d.rule for d in reg.decisions.order_by("at", "id")] == [Rule.SOFT_CONFLICT, Rule.MANUAL_APPROVED]


def test_review_approve_with_identical_name_keeps_name_with_its_holder(
    register, partner, partner_rep, other_partner, other_partner_rep, channel_manager
):
    register(partner, partner_rep, name="Romashka", tax_id="7701234567")
    second = register(other_partner, other_partner_rep, name="Ромашка", tax_id="7709999999")
    reg = registration_approve(registration=second, actor=channel_manager, reason="Kazan, not Moscow")
    assert reg.status == RegistrationStatus.APPROVED
    assert set(reg.windows.values_list("key_kind", flat=True)) == {"tax_id"}


def test_review_requires_a_reason(pending, channel_manager):
    with pytest.raises(ValidationError):
        registration_reject(registration=pending[1], actor=channel_manager, reason="  ")
    pending[1].refresh_from_db()
    assert pending[1].status == RegistrationStatus.PENDING_REVIEW


def test_review_reject_keeps_registration(pending, channel_manager):
    reg = registration_reject(registration=pending[1], actor=channel_manager, reason="Same company")
    assert reg.status == RegistrationStatus.REJECTED and reg.decision_reason == "Same company"
    with pytest.raises(ValidationError):
        registration_approve(registration=reg, actor=channel_manager, reason="changed my mind")


def test_review_approve_fails_cleanly_when_key_was_taken_meanwhile(pending, register, channel_manager):
    _, second = pending
    third_partner = PartnerFactory()
    third = register(third_partner, PartnerUserFactory(partner=third_partner), name="Zeta", tax_id="7736050003")
    # Meanwhile the third partner's protection came to hold the second registration's tax id.
    third.windows.filter(key_kind="tax_id").update(key="7709999999")
    with pytest.raises(ValidationError, match="protects"):
        registration_approve(registration=second, actor=channel_manager, reason="ok")
    second.refresh_from_db()
    assert second.status == RegistrationStatus.PENDING_REVIEW


# --- conflicts selector ---


def test_conflicts_ignore_inactive_windows_and_the_excluded_partner(register, partner, partner_rep):
    reg = register(partner, partner_rep, name="Romashka", tax_id="7701234567")
    assert customer_claims(tax_id="7701234567", name="x").hard
    assert not customer_claims(tax_id="7701234567", name="romashka", partner=partner)
    assert customer_claims(tax_id="7701234567", name="romashka", partner=partner).own_protection()
    reg.windows.update(active=False)
    assert not customer_claims(tax_id="7701234567", name="romashka")


def test_conflicts_narrow_soft_candidates_by_first_word(register, partner, partner_rep):
    register(partner, partner_rep, name="Romashka Group", tax_id="7701234567")
    # Same words, different first word: outside the SQL narrowing on purpose (documented trade-off).
    assert customer_claims(name="Romashka Grupp").soft
    assert not customer_claims(name="Vasilek").soft


# --- extension and expiry ---


def _approved(register, partner, user, **kw):
    reg = register(partner, user, **kw)
    assert reg.status == RegistrationStatus.APPROVED
    return reg


def test_extension_needs_recent_activity(register, partner, partner_rep):
    reg = _approved(register, partner, partner_rep, tax_id="7701234567")
    with pytest.raises(ValidationError, match="activity"):
        registration_extend(registration=reg, actor=partner_rep)
    Lead.objects.filter(pk=reg.lead_id).update(last_activity_at=timezone.now() - timedelta(days=15))
    reg.lead.refresh_from_db()
    with pytest.raises(ValidationError, match="activity"):
        registration_extend(registration=reg, actor=partner_rep)


def test_extension_once_by_30_days(register, partner, partner_rep):
    reg = _approved(register, partner, partner_rep, tax_id="7701234567")
    before = reg.protected_until
    Lead.objects.filter(pk=reg.lead_id).update(last_activity_at=timezone.now() - timedelta(days=3))
    reg.lead.refresh_from_db()
    reg = registration_extend(registration=reg, actor=partner_rep)
    assert reg.protected_until == before + timedelta(days=30) and reg.extended
    assert set(reg.windows.values_list("ends_at", flat=True)) == {reg.protected_until}
    with pytest.raises(ValidationError, match="once"):
        registration_extend(registration=reg, actor=partner_rep)


def test_extension_days_per_program(register, partner, partner_rep):
    RegistrationPolicy.objects.create(program_model=partner.program_model, extension_days=10)
    reg = _approved(register, partner, partner_rep, tax_id="7701234567")
    before = reg.protected_until
    Lead.objects.filter(pk=reg.lead_id).update(last_activity_at=timezone.now())
    reg.lead.refresh_from_db()
    assert registration_extend(registration=reg, actor=partner_rep).protected_until == before + timedelta(days=10)


def test_expiry_is_idempotent_and_frees_the_customer(register, partner, partner_rep, other_partner, other_partner_rep):
    reg = _approved(register, partner, partner_rep, tax_id="7701234567")
    later = reg.protected_until + timedelta(minutes=1)

    assert protections_expire(now=reg.protected_until - timedelta(days=1)) == 0
    assert protections_expire(now=later) == 1
    assert protections_expire(now=later) == 0
    reg.refresh_from_db()
    assert reg.status == RegistrationStatus.EXPIRED
    assert not ProtectionWindow.objects.filter(active=True).exists()
    assert AuditEvent.objects.filter(action="registration.expired", object_id=str(reg.pk)).count() == 1
    # The customer is free again.
    assert register(other_partner, other_partner_rep, tax_id="7701234567").status == RegistrationStatus.APPROVED


def test_expiry_warning_once_seven_days_before(register, partner, partner_rep):
    reg = _approved(register, partner, partner_rep, tax_id="7701234567")
    kind = NotificationKind.PROTECTION_EXPIRING
    protections_expire(now=reg.protected_until - timedelta(days=8))
    assert not Notification.objects.filter(kind=kind).exists()
    protections_expire(now=reg.protected_until - timedelta(days=6))
    protections_expire(now=reg.protected_until - timedelta(days=5))
    assert Notification.objects.filter(kind=kind, user=partner_rep).count() == 1
    reg.refresh_from_db()
    assert reg.expiry_warned_at is not None


def test_celery_task_runs_the_service(register, partner, partner_rep):
    from leads.tasks import protections_expire as task

    reg = _approved(register, partner, partner_rep, tax_id="7701234567")
    Registration.objects.filter(pk=reg.pk).update(protected_until=timezone.now() - timedelta(seconds=1))
    assert task.delay().get() == 1
