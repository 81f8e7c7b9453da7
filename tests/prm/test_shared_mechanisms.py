import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from prm.models import AuditEvent, Notification, NotificationKind, Role
from prm.services import audit_record, audit_trail, notification_emails_send_pending, notify
from tests.prm.factories import UserFactory


def test_partner_user_must_belong_to_a_partner(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(role=Role.PARTNER_SALES, partner=None)


def test_vendor_user_cannot_belong_to_a_partner(db, partner):
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(role=Role.CHANNEL_MANAGER, partner=partner)


def test_audit_record_is_shown_for_its_target(channel_manager, partner, other_partner):
    audit_record(actor=channel_manager, action="partner.suspended", target=partner, reason="Unpaid invoices")
    audit_record(actor=channel_manager, action="partner.activated", target=other_partner)
    trail = list(audit_trail(target=partner))
    assert [e.action for e in trail] == ["partner.suspended"]
    assert trail[0].partner == partner
    assert trail[0].reason == "Unpaid invoices"
    assert AuditEvent.objects.count() == 2


def test_notify_fills_inbox_and_emails_only_who_opted_in(
    django_capture_on_commit_callbacks, partner_rep, partner_admin
):
    partner_admin.email_events = [NotificationKind.LEAD_OFFERED]
    partner_admin.save()
    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[partner_rep, partner_admin], kind=NotificationKind.LEAD_OFFERED, title="New lead", url="/deals/")
    assert Notification.objects.filter(kind="lead_offered").count() == 2
    assert [m.to for m in mail.outbox] == [[partner_admin.email]]
    assert Notification.objects.get(user=partner_admin).emailed_at is not None
    # a second pass sends nothing again
    assert notification_emails_send_pending() == 0
    assert len(mail.outbox) == 1


def test_inbox_page_marks_read(client_for, partner_rep):
    notify(users=[partner_rep], kind=NotificationKind.SYSTEM, title="Welcome")
    client = client_for(partner_rep)
    assert "Welcome" in client.get("/notifications/").content.decode()
    client.post("/notifications/read/")
    assert Notification.objects.filter(user=partner_rep, read_at=None).count() == 0


def test_preferences_save_email_choices(client_for, partner_rep):
    client = client_for(partner_rep)
    response = client.post(
        "/preferences/",
        {"first_name": "Ivan", "last_name": "Petrov", "email_events": ["lead_offered", "tier_changed"]},
    )
    assert response.status_code == 302
    partner_rep.refresh_from_db()
    assert partner_rep.email_events == ["lead_offered", "tier_changed"]


def test_preferences_reject_unknown_event(client_for, partner_rep):
    response = client_for(partner_rep).post("/preferences/", {"email_events": ["nope"]})
    assert response.status_code == 200
    assert "nope is not one of the available choices" in response.content.decode()
