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
    partner_rep.email_events = []  # opted out of the default time-critical e-mails
    partner_rep.save()
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


def test_sign_in_and_failed_sign_in_are_audited(client, channel_manager):
    client.post("/login/", {"login": channel_manager.email, "password": "wrong"})
    client.post("/login/", {"login": channel_manager.email, "password": "pass12345!"})
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "data"))
    assert actions[0] == ("security.login_failed", {"username": channel_manager.email})
    assert actions[1][0] == "security.login"
    assert "wrong" not in str(actions)


def test_role_change_in_admin_is_audited(client_for, vendor_admin, partner_rep):
    client = client_for(vendor_admin)
    url = f"/admin/prm/user/{partner_rep.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {
        k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions", "password")
    }
    data.update(
        role="partner_admin",
        partner=partner_rep.partner_id,
        email_events="[]",
        date_joined_0="2026-01-01",
        date_joined_1="10:00",
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    event = AuditEvent.objects.get(action="security.role_changed")
    assert event.data == {"role": "partner_admin"}
    assert event.actor == vendor_admin


def test_one_email_task_a_window_however_many_commits_notify(
    settings, monkeypatch, django_capture_on_commit_callbacks, partner_admin
):
    """A router commits hundreds of offers a second: their e-mails go out by one task a window, queued to run when
    the window closes (it then finds every notification committed meanwhile)."""
    from django.core.cache import cache

    from prm import services, tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = []
    monkeypatch.setattr(tasks.notification_emails_send_pending, "apply_async", lambda **kw: queued.append(kw))
    cache.delete(services.EMAILS_QUEUED)
    partner_admin.email_events = [NotificationKind.LEAD_OFFERED]
    partner_admin.save()
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            notify(users=[partner_admin], kind=NotificationKind.LEAD_OFFERED, title="New lead", url="/deals/")
    assert queued == [{"countdown": services.EMAILS_WINDOW + 1}]
    cache.delete(services.EMAILS_QUEUED)  # the window closed
    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[partner_admin], kind=NotificationKind.LEAD_OFFERED, title="New lead", url="/deals/")
    assert len(queued) == 2
    assert notification_emails_send_pending() == 4  # the task, when it runs, sends all of them
    assert len(mail.outbox) == 4
