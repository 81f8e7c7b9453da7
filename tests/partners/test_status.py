import datetime

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from partners import services
from partners.models import Agreement, AgreementStatus, PartnerStatus
from prm.models import AuditEvent, Role, User
from tests.partners.factories import PartnerContactFactory, PartnerFactory
from tests.prm.factories import PartnerUserFactory
from tests.training.factories import CertificationFactory, CourseFactory
from training.models import Enrollment, EnrollmentStatus

pytestmark = pytest.mark.django_db


def _terms(sla_policy, region):
    return {
        "number": "AG-2026-001",
        "program_model": "full_cycle",
        "sla_policy": sla_policy,
        "territory": [region],
        "commission_plan": "Tier rate on won deals",
        "penalty_terms": "1% per SLA breach",
        "starts_on": timezone.localdate(),
    }


def test_allowed_transition_records_reason_and_audit(channel_manager):
    partner = PartnerFactory(status=PartnerStatus.APPLIED)
    services.partner_status_change(
        partner=partner, to_status=PartnerStatus.UNDER_REVIEW, actor=channel_manager, reason="Looks promising"
    )
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.UNDER_REVIEW
    assert partner.status_reason == "Looks promising"
    event = AuditEvent.objects.get(action="partner.status_changed", partner=partner)
    assert event.actor == channel_manager
    assert event.reason == "Looks promising"
    assert event.data == {"from": "applied", "to": "under_review"}


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (PartnerStatus.APPLIED, PartnerStatus.ACTIVE),
        (PartnerStatus.APPLIED, PartnerStatus.AGREEMENT_SIGNED),
        (PartnerStatus.REJECTED, PartnerStatus.ACTIVE),
        (PartnerStatus.TERMINATED, PartnerStatus.SUSPENDED),
        (PartnerStatus.ACTIVE, PartnerStatus.APPLIED),
    ],
)
def test_forbidden_transition_raises_and_changes_nothing(channel_manager, start, target):
    partner = PartnerFactory(status=start)
    with pytest.raises(ValidationError) as exc:
        services.partner_status_change(partner=partner, to_status=target, actor=channel_manager, reason="why not")
    assert "to_status" in exc.value.error_dict
    partner.refresh_from_db()
    assert partner.status == start
    assert not AuditEvent.objects.filter(action="partner.status_changed").exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_reason_is_required(channel_manager, reason):
    partner = PartnerFactory(status=PartnerStatus.ACTIVE)
    with pytest.raises(ValidationError) as exc:
        services.partner_status_change(
            partner=partner, to_status=PartnerStatus.SUSPENDED, actor=channel_manager, reason=reason
        )
    assert "reason" in exc.value.error_dict
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE


def test_activation_needs_mandatory_courses_and_a_valid_certification(channel_manager):
    partner = PartnerFactory(status=PartnerStatus.ONBOARDING)
    engineer = PartnerUserFactory(partner=partner, role=Role.PARTNER_ENGINEER)
    course = CourseFactory(is_mandatory_onboarding=True, title="Platform basics")
    CourseFactory(is_mandatory_onboarding=True, status="draft")  # drafts do not count
    CertificationFactory(user=engineer, expires_on=timezone.localdate() - datetime.timedelta(days=1))  # expired

    with pytest.raises(ValidationError, match="Platform basics"):
        services.partner_status_change(
            partner=partner, to_status=PartnerStatus.ACTIVE, actor=channel_manager, reason="Ready"
        )

    Enrollment.objects.create(user=engineer, partner=partner, course=course, status=EnrollmentStatus.PASSED)
    with pytest.raises(ValidationError, match="no valid certification"):
        services.partner_status_change(
            partner=partner, to_status=PartnerStatus.ACTIVE, actor=channel_manager, reason="Ready"
        )

    CertificationFactory(user=engineer)
    services.partner_status_change(
        partner=partner, to_status=PartnerStatus.ACTIVE, actor=channel_manager, reason="Ready"
    )
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE
    assert partner.joined_at == timezone.localdate()


def test_readiness_checklist_is_shown_on_the_partner_page(client_for, channel_manager):
    partner = PartnerFactory(status=PartnerStatus.ONBOARDING)
    CourseFactory(is_mandatory_onboarding=True, title="Security onboarding")
    page = client_for(channel_manager).get(reverse("partners:detail", args=[partner.pk])).content.decode()
    assert "Onboarding checklist" in page
    assert "Security onboarding" in page
    assert "Not ready yet" in page


def test_signing_creates_agreement_and_partner_admin_with_set_password_link(
    client, channel_manager, sla_policy, region, django_capture_on_commit_callbacks
):
    partner = PartnerFactory(status=PartnerStatus.UNDER_REVIEW)
    PartnerContactFactory(partner=partner, role="executive", name="Irina Petrova", email="irina@gamma.example")
    with django_capture_on_commit_callbacks(execute=True):
        services.partner_status_change(
            partner=partner,
            to_status=PartnerStatus.AGREEMENT_SIGNED,
            actor=channel_manager,
            reason="Signed at the meeting",
            agreement_terms=_terms(sla_policy, region),
        )
    agreement = Agreement.objects.get(partner=partner)
    assert agreement.status == AgreementStatus.SIGNED
    assert agreement.signed_by_vendor == channel_manager
    assert list(agreement.territory.all()) == [region]
    partner.refresh_from_db()
    assert partner.sla_policy == sla_policy

    user = User.objects.get(email="irina@gamma.example")
    assert user.role == Role.PARTNER_ADMIN
    assert user.partner == partner
    assert not user.has_usable_password()
    [message] = [m for m in mail.outbox if m.to == ["irina@gamma.example"] and "/password/set/" in m.body]
    link = next(line for line in message.body.splitlines() if "/password/set/" in line)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert default_token_generator.check_token(user, path.rstrip("/").split("/")[-1])
    # The link opens the set-password form, and the new password works.
    form_page = client.get(path, follow=True)
    assert form_page.context["validlink"]
    client.post(form_page.redirect_chain[-1][0], {"new_password1": "S3cure-pass-42", "new_password2": "S3cure-pass-42"})
    user.refresh_from_db()
    assert user.check_password("S3cure-pass-42")


def test_signing_without_terms_or_draft_is_refused(channel_manager):
    partner = PartnerFactory(status=PartnerStatus.UNDER_REVIEW)
    with pytest.raises(ValidationError, match="agreement terms"):
        services.partner_status_change(
            partner=partner, to_status=PartnerStatus.AGREEMENT_SIGNED, actor=channel_manager, reason="ok"
        )
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.UNDER_REVIEW


def test_status_form_with_forbidden_target_shows_field_error(client_for, channel_manager):
    partner = PartnerFactory(status=PartnerStatus.APPLIED)
    response = client_for(channel_manager).post(
        reverse("partners:status_change", args=[partner.pk]), {"to_status": "active", "reason": "now"}
    )
    assert response.status_code == 200
    assert "to_status" in response.context["status_form"].errors
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.APPLIED


def test_status_form_suspends_and_reactivates(client_for, channel_manager):
    partner = PartnerFactory(status=PartnerStatus.ACTIVE)
    client = client_for(channel_manager)
    url = reverse("partners:status_change", args=[partner.pk])
    assert client.post(url, {"to_status": "suspended", "reason": "SLA breaches"}).status_code == 302
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.SUSPENDED
    page = client.get(reverse("partners:detail", args=[partner.pk])).content.decode()
    assert "SLA breaches" in page
    assert "Partner status changed" in page


@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_apply_only_one(postgres_only):
    """Two channel managers decide the same application at once: the row lock lets exactly one win."""
    import threading

    from django.db import connection

    from tests.prm.factories import UserFactory

    partner = PartnerFactory(status=PartnerStatus.APPLIED)
    managers = [UserFactory(role="channel_manager"), UserFactory(role="channel_manager")]
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(actor, target):
        try:
            barrier.wait()
            services.partner_status_change(partner=partner, to_status=target, actor=actor, reason="decision")
            outcomes.append(target)
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(managers[0], PartnerStatus.UNDER_REVIEW)),
        threading.Thread(target=decide, args=(managers[1], PartnerStatus.UNDER_REVIEW)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", PartnerStatus.UNDER_REVIEW]
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.UNDER_REVIEW
    assert AuditEvent.objects.filter(action="partner.status_changed", partner=partner).count() == 1


def test_channel_manager_sets_the_holding_period_when_signing(client_for, channel_manager, sla_policy, region):
    partner = PartnerFactory(status=PartnerStatus.UNDER_REVIEW)
    PartnerContactFactory(partner=partner, role="executive", name="Irina Petrova", email="irina@hold.example")
    client = client_for(channel_manager)
    url = reverse("partners:status_change", args=[partner.pk])
    data = {
        "to_status": PartnerStatus.AGREEMENT_SIGNED,
        "reason": "Signed",
        "agreement-number": "AG-HOLD-1",
        "agreement-sla_policy": sla_policy.pk,
        "agreement-territory": [region.pk],
        "agreement-commission_plan": "Tier rate",
        "agreement-starts_on": timezone.localdate().isoformat(),
        "agreement-payout_hold_days": "400",
    }
    bad = client.post(url, data)
    assert bad.status_code == 200 and "Ensure this value is less than or equal to 365." in bad.content.decode()
    assert not Agreement.objects.filter(partner=partner).exists()
    assert client.post(url, {**data, "agreement-payout_hold_days": "21"}).status_code == 302
    assert Agreement.objects.get(partner=partner).payout_hold_days == 21
    page = client.get(reverse("partners:detail", args=[partner.pk])).content.decode()
    assert "payable 21 days after the win" in page
