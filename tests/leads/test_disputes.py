import threading
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from leads.models import CoSell, Dispute, DisputeOutcome, ProtectionWindow, RegistrationStatus, validate_dispute_file
from leads.services.conflict import dispute_decide, dispute_open, disputes_escalate
from prm.models import Notification, NotificationKind, Role
from tests.leads.factories import ActivityFactory
from tests.prm.factories import UserFactory

MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def held(register, other_partner_rep):
    reg = register(other_partner_rep.partner, other_partner_rep, name="ООО Ромашка", tax_id="7701234567",
                   title="Holder secret deal")  # fmt: skip
    assert reg.status == RegistrationStatus.APPROVED
    return reg


@pytest.fixture
def rejected(register, partner_rep, held):
    reg = register(partner_rep.partner, partner_rep, name="ООО Ромашка", tax_id="7701234567", title="Our deal")
    assert reg.status == RegistrationStatus.REJECTED
    return reg


@pytest.fixture
def dispute(partner_rep, rejected):
    return dispute_open(
        user=partner_rep,
        registration=rejected,
        first_contact_date=timezone.localdate() - timedelta(days=40),
        description="We met them at a conference in spring.",
    )


@pytest.mark.django_db
class TestOpen:
    def test_links_the_holder_and_sets_a_deadline(self, dispute, held):
        assert dispute.held_registration == held
        assert dispute.status == "open" and dispute.due_at > timezone.now()

    def test_deadline_in_business_hours_across_a_weekend(self, monkeypatch, partner_rep, rejected):
        friday_3pm = datetime(2026, 11, 20, 15, 0, tzinfo=MSK)
        monkeypatch.setattr(timezone, "now", lambda: friday_3pm)
        d = dispute_open(user=partner_rep, registration=rejected, first_contact_date=friday_3pm.date(),
                         description="x")  # fmt: skip
        # Fri 15-18 (3h) + Mon 9-18 (9h) + Tue 9-13 (4h) = 16 business hours.
        assert d.due_at == datetime(2026, 11, 24, 13, 0, tzinfo=MSK)

    def test_form_errors_keep_input(self, client_for, partner_rep, rejected):
        future = (timezone.localdate() + timedelta(days=3)).isoformat()
        resp = client_for(partner_rep).post(
            reverse("leads:dispute_new"),
            {"registration": rejected.pk, "first_contact_date": future, "description": ""},
        )
        assert resp.status_code == 200
        errors = resp.context["form"].errors
        assert "first_contact_date" in errors and "description" in errors
        assert not Dispute.objects.exists()

    def test_needs_registration_or_customer(self, client_for, partner_rep):
        resp = client_for(partner_rep).post(
            reverse("leads:dispute_new"), {"first_contact_date": "2026-01-10", "description": "taken"}
        )
        assert resp.status_code == 200 and "registration" in resp.context["form"].errors

    def test_cannot_dispute_with_another_partners_registration(self, client_for, partner_rep, held):
        resp = client_for(partner_rep).post(
            reverse("leads:dispute_new"),
            {"registration": held.pk, "first_contact_date": "2026-01-10", "description": "taken"},
        )
        assert resp.status_code == 200 and "registration" in resp.context["form"].errors

    def test_file_type_is_checked(self, client_for, partner_rep, rejected):
        bad = SimpleUploadedFile("evil.exe", b"MZ", content_type="application/octet-stream")
        resp = client_for(partner_rep).post(
            reverse("leads:dispute_new"),
            {"registration": rejected.pk, "first_contact_date": "2026-01-10", "description": "x", "attachment": bad},
        )
        assert resp.status_code == 200 and "attachment" in resp.context["form"].errors
        assert not Dispute.objects.exists()

    def test_file_size_is_checked(self):
        big = SimpleUploadedFile("minutes.pdf", b"x")
        big.size = 20 * 1024 * 1024 + 1
        with pytest.raises(ValidationError, match="20 MB"):
            validate_dispute_file(big)
        big.size = 20 * 1024 * 1024
        validate_dispute_file(big)

    def test_opened_with_evidence_by_customer_name(self, client_for, partner_rep, held):
        pdf = SimpleUploadedFile("contract.pdf", b"%PDF-1.4", content_type="application/pdf")
        resp = client_for(partner_rep).post(
            reverse("leads:dispute_new"),
            {"customer_name": "Ромашка", "first_contact_date": "2026-01-10", "description": "x", "attachment": pdf},
        )
        d = Dispute.objects.get()
        assert resp.status_code == 302 and d.attachment.name.endswith(".pdf")
        assert d.held_registration == held and d.registration is None
        evidence = reverse("leads:dispute_evidence", args=[d.pk])
        assert b"".join(client_for(partner_rep).get(evidence).streaming_content) == b"%PDF-1.4"
        # The holder of the customer never sees the disputer's evidence.
        assert (
            client_for(held.partner.staff.create(email="h@held.example", role="partner_sales"))
            .get(evidence)
            .status_code
            == 404
        )
        d.attachment.delete()


@pytest.mark.django_db
class TestVisibility:
    def test_disputer_never_sees_the_holder(self, client_for, partner_rep, dispute, held):
        ActivityFactory(lead=dispute.registration.lead, subject="Our kickoff call")
        ActivityFactory(lead=held.lead, subject="Holder meeting")
        html = client_for(partner_rep).get(reverse("leads:dispute_detail", args=[dispute.pk])).content.decode()
        assert "Our kickoff call" in html  # own activities shown automatically
        for secret in (held.partner.name, "Holder secret deal", "Holder meeting", held.submitted_by.email):
            assert secret not in html

    def test_other_partner_gets_404_and_empty_list(self, client_for, other_partner_rep, dispute):
        client = client_for(other_partner_rep)
        assert client.get(reverse("leads:dispute_detail", args=[dispute.pk])).status_code == 404
        assert list(client.get(reverse("leads:dispute_list")).context["page"]) == []

    def test_channel_manager_sees_both_sides(self, client_for, channel_manager, dispute, held):
        ActivityFactory(lead=held.lead, subject="Holder meeting")
        ActivityFactory(lead=dispute.registration.lead, subject="Our kickoff call")
        html = client_for(channel_manager).get(reverse("leads:dispute_detail", args=[dispute.pk])).content.decode()
        for text in (held.partner.name, dispute.partner.name, "Holder meeting", "Our kickoff call"):
            assert text in html

    def test_partner_cannot_decide(self, client_for, partner_rep, dispute):
        url = reverse("leads:dispute_decide", args=[dispute.pk])
        assert client_for(partner_rep).post(url, {"outcome": "uphold", "reason": "x"}).status_code == 403


@pytest.mark.django_db
class TestDecisions:
    def test_uphold_changes_nothing(self, channel_manager, dispute, held):
        d = dispute_decide(dispute=dispute, actor=channel_manager, outcome=DisputeOutcome.UPHOLD, reason="Holder first")
        held.refresh_from_db()
        assert d.status == "decided" and d.outcome == "uphold" and d.decision_reason == "Holder first"
        assert held.status == RegistrationStatus.APPROVED and held.windows.filter(active=True).exists()

    def test_transfer_moves_protection_and_notifies_both(self, channel_manager, dispute, held, rejected):
        dispute_decide(dispute=dispute, actor=channel_manager, outcome=DisputeOutcome.TRANSFER, reason="Earlier")
        held.refresh_from_db()
        rejected.refresh_from_db()
        assert not held.windows.filter(active=True).exists()
        assert rejected.status == RegistrationStatus.APPROVED and rejected.protected_until
        assert set(rejected.windows.filter(active=True).values_list("key_kind", flat=True)) >= {"tax_id", "name"}
        notified = set(
            Notification.objects.filter(kind=NotificationKind.REQUEST_UPDATED).values_list("user_id", flat=True)
        )
        assert {held.submitted_by_id, rejected.submitted_by_id} <= notified

    def test_cosell_adds_the_disputer_with_a_share(self, channel_manager, dispute, held):
        dispute_decide(dispute=dispute, actor=channel_manager, outcome=DisputeOutcome.COSELL, reason="Both worked",
                       share=Decimal("30"))  # fmt: skip
        cosell = CoSell.objects.get(lead=held.lead)
        assert cosell.partner_id == dispute.partner_id and cosell.share_percent == Decimal("30")
        held.refresh_from_db()
        assert held.status == RegistrationStatus.APPROVED

    def test_decided_once(self, channel_manager, dispute):
        dispute_decide(dispute=dispute, actor=channel_manager, outcome=DisputeOutcome.UPHOLD, reason="x")
        with pytest.raises(ValidationError):
            dispute_decide(dispute=dispute, actor=channel_manager, outcome=DisputeOutcome.TRANSFER, reason="y")

    def test_decision_page_shows_errors(self, client_for, channel_manager, dispute):
        url = reverse("leads:dispute_decide", args=[dispute.pk])
        resp = client_for(channel_manager).post(url, {"outcome": "cosell", "reason": "x"})
        assert resp.status_code == 200 and "share" in resp.context["form"].errors
        resp = client_for(channel_manager).post(url, {"outcome": "uphold", "reason": "ok"})
        assert resp.status_code == 302
        dispute.refresh_from_db()
        assert dispute.outcome == "uphold"


@pytest.mark.django_db
class TestEscalation:
    def test_overdue_escalates_once_to_channel_leads(self, dispute, channel_manager):
        lead = UserFactory(role=Role.CHANNEL_MANAGER, is_channel_lead=True)
        later = dispute.due_at + timedelta(minutes=1)
        assert disputes_escalate(now=dispute.due_at - timedelta(minutes=1)) == 0
        assert disputes_escalate(now=later) == 1
        assert disputes_escalate(now=later) == 0
        escalations = Notification.objects.filter(kind=NotificationKind.ESCALATION)
        assert list(escalations.values_list("user_id", flat=True)) == [lead.pk]

    def test_falls_back_to_vendor_admins(self, dispute, vendor_admin):
        disputes_escalate(now=dispute.due_at + timedelta(hours=1))
        assert Notification.objects.filter(kind=NotificationKind.ESCALATION, user=vendor_admin).count() == 1

    def test_decided_disputes_do_not_escalate(self, dispute, channel_manager, vendor_admin):
        dispute_decide(dispute=dispute, actor=channel_manager, outcome=DisputeOutcome.UPHOLD, reason="x")
        assert disputes_escalate(now=dispute.due_at + timedelta(hours=1)) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_transfers_apply_once(postgres_only, register, partner_rep, other_partner_rep, channel_manager):
    held = register(other_partner_rep.partner, other_partner_rep, name="ООО Ромашка", tax_id="7701234567")
    own = register(partner_rep.partner, partner_rep, name="ООО Ромашка", tax_id="7701234567")
    d = dispute_open(user=partner_rep, registration=own, first_contact_date=timezone.localdate(), description="x")
    barrier = threading.Barrier(2)
    results = []

    def decide():
        try:
            barrier.wait()
            dispute_decide(dispute=d, actor=channel_manager, outcome=DisputeOutcome.TRANSFER, reason="Earlier")
            results.append("ok")
        except ValidationError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=decide) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
    assert ProtectionWindow.objects.filter(registration=own, active=True, key_kind="tax_id").count() == 1
    assert not ProtectionWindow.objects.filter(registration=held, active=True).exists()
    assert own.decisions.filter(rule="dispute_transfer").count() == 1


@pytest.mark.django_db
def test_queue_highlights_overdue_with_constant_queries(
    client_for, channel_manager, partner_rep, rejected, django_assert_max_num_queries
):
    def open_one():
        return dispute_open(user=partner_rep, registration=rejected, first_contact_date=timezone.localdate(),
                            description="x")  # fmt: skip

    overdue = open_one()
    Dispute.objects.filter(pk=overdue.pk).update(due_at=timezone.now() - timedelta(hours=1))
    client = client_for(channel_manager)
    with django_assert_max_num_queries(12):
        resp = client.get(reverse("leads:dispute_list"))
    assert [d.overdue for d in resp.context["page"]] == [True]
    assert "table-danger" in resp.content.decode()
    for _ in range(10):
        open_one()
    with django_assert_max_num_queries(12):
        resp = client.get(reverse("leads:dispute_list"))
    rows = list(resp.context["page"])
    assert rows[0].pk == overdue.pk and sum(d.overdue for d in rows) == 1


@pytest.mark.django_db
def test_pages_render(client_for, partner_rep, channel_manager, dispute, rejected):
    partner_client = client_for(partner_rep)
    resp = partner_client.get(reverse("leads:dispute_new"), {"registration": rejected.pk})
    assert resp.status_code == 200 and resp.context["form"].initial["registration"] == str(rejected.pk)
    assert partner_client.get(reverse("leads:dispute_list")).status_code == 200
    assert client_for(channel_manager).get(reverse("leads:dispute_list")).status_code == 200
