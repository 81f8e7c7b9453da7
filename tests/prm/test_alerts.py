# ruff: noqa: F811 - the API fixtures are imported from tests/api/conftest.py
"""Alerts that reach people (issue 17, item 4): time-critical e-mail on by default, in the reader's language, a
daily digest sent once per user and day, batches summed up as one notification, and password reset by e-mail."""

import datetime
import re
import threading

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from leads.models import Stage
from leads.services import intake, routing
from prm.models import TIME_CRITICAL_EVENTS, DigestSent, Notification, NotificationKind
from prm.services import notification_digests_send, notify
from prm.texts import N_, compose
from tests.api.conftest import _fresh_throttle_cache, api, key_a, make_key  # noqa: F401 - fixtures
from tests.leads.routing_factories import region, vendor_lead
from tests.prm.factories import PartnerUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_time_critical_events_are_emailed_by_default(partner):
    rep = PartnerUserFactory(partner=partner)
    assert sorted(rep.email_events) == sorted(TIME_CRITICAL_EVENTS)
    notify(users=[rep], kind=NotificationKind.LEAD_OFFERED, title="New lead")
    notify(users=[rep], kind=NotificationKind.ANNOUNCEMENT, title="News")
    assert Notification.objects.get(kind="lead_offered").email_wanted
    assert not Notification.objects.get(kind="announcement").email_wanted


def test_emails_are_written_in_the_readers_language(partner, django_capture_on_commit_callbacks):
    ru = PartnerUserFactory(partner=partner, language="ru")
    en = PartnerUserFactory(partner=partner, language="en")
    with django_capture_on_commit_callbacks(execute=True):
        notify(
            users=[ru, en],
            kind=NotificationKind.LEAD_OFFERED,
            title=compose(N_("New lead offered: %(title)s"), title="ERP"),
        )
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects == {ru.email: "Новое предложение лида: ERP", en.email: "New lead offered: ERP"}


def _yesterday():
    return timezone.localdate() - datetime.timedelta(days=1)


def _at(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))


def test_daily_digest_lists_yesterdays_other_notifications_once(partner):
    user = PartnerUserFactory(partner=partner, email_digest=True, language="ru")
    other = PartnerUserFactory(partner=partner)  # no digest chosen
    notify(
        users=[user, other],
        kind=NotificationKind.ANNOUNCEMENT,
        title=compose(N_("New lead offered: %(title)s"), title="A"),
    )
    notify(users=[user], kind=NotificationKind.LEAD_OFFERED, title="Already e-mailed at once")
    Notification.objects.update(created_at=_at(_yesterday()))
    notify(users=[user], kind=NotificationKind.ANNOUNCEMENT, title="Today: tomorrow's digest")

    assert notification_digests_send() == 1
    assert notification_digests_send() == 0  # the same day again: nothing
    [digest] = [m for m in mail.outbox if m.to == [user.email]]
    assert "Новое предложение лида: A" in digest.body
    assert "Already e-mailed" not in digest.body and "Today" not in digest.body
    assert DigestSent.objects.get(user=user).items == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        DigestSent.objects.create(user=user, day=_yesterday())


@pytest.mark.django_db(transaction=True)
def test_digest_is_sent_once_by_concurrent_workers(postgres_only, partner):
    user = PartnerUserFactory(partner=partner, email_digest=True)
    notify(users=[user], kind=NotificationKind.ANNOUNCEMENT, title="News")
    Notification.objects.update(created_at=_at(_yesterday()))
    barrier, results = threading.Barrier(4), []

    def worker():
        try:
            barrier.wait()
            results.append(notification_digests_send())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 1 and len(mail.outbox) == 1
    assert DigestSent.objects.count() == 1


# --- one batch, one notification, whatever the door ---------------------------------------------------------------


BATCH_DOORS = ["csv_import", "routing_job"]


@pytest.mark.parametrize("door", BATCH_DOORS)
def test_a_batch_of_leads_is_one_notification_per_channel_manager(door, channel_manager):
    """Nobody can take these leads: they all queue, and the channel manager hears about it once."""
    msk = region("msk")
    if door == "csv_import":
        rows = "".join(f"Lead {i},Customer {i},,license,msk\n" for i in range(25))
        result = intake.leads_import_csv(data=("title,customer,tax_id,kind,region\n" + rows).encode(), actor=None)
        assert len(result.created) == 25
    else:  # leads a bulk upsert or a failed import left in stage NEW, routed by the every-minute job
        for _ in range(25):
            vendor_lead(region=msk)
        routing.leads_route_new()
    notes = Notification.objects.filter(user=channel_manager, kind=NotificationKind.REVIEW_QUEUE)
    assert notes.count() == 1
    assert notes.get().title_display == "25 leads need manual routing"
    assert notes.get().url == reverse("leads:routing_queue")


def test_a_single_queued_lead_keeps_its_own_notification(channel_manager):
    lead = vendor_lead(region=region("msk"), title="Only one")
    routing.lead_route(lead=lead)
    lead.refresh_from_db()
    assert lead.stage == Stage.QUEUE
    note = Notification.objects.get(user=channel_manager, kind=NotificationKind.REVIEW_QUEUE)
    assert note.title_display == "Lead needs manual routing: Only one"


def test_a_bulk_upsert_of_deals_tells_the_submitter_once(api, key_a, partner_admin, django_capture_on_commit_callbacks):
    items = [
        {"source_system": "crm", "external_id": f"d{i}", "title": f"Deal {i}", "customer": {"name": f"Customer {i}"}}
        for i in range(6)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(key_a).post("/api/v1/leads/bulk-upsert/", {"items": items}, format="json")
    assert response.status_code == 200
    decided = Notification.objects.filter(kind=NotificationKind.REGISTRATION_DECIDED)
    assert decided.count() == 1
    assert decided.get().title_display == "6 deal registrations decided"


# --- settings and password reset ------------------------------------------------------------------------------------


def test_preferences_choose_digest_language_and_events(client_for, partner_rep):
    client = client_for(partner_rep)
    page = client.get(reverse("preferences")).content.decode()
    assert 'name="email_digest"' in page and 'name="language"' in page
    response = client.post(
        reverse("preferences"),
        {"first_name": "Ivan", "last_name": "Petrov", "language": "ru", "email_digest": "on",
         "email_events": ["lead_offered"]},
    )  # fmt: skip
    assert response.status_code == 302 and response.cookies["django_language"].value == "ru"
    partner_rep.refresh_from_db()
    assert (partner_rep.language, partner_rep.email_digest, partner_rep.email_events) == ("ru", True, ["lead_offered"])
    assert "Настройки" in client.get(reverse("preferences")).content.decode()


def test_password_reset_by_email_end_to_end(client, db):
    user = UserFactory(email="forgot@vendor.example")
    assert reverse("account_reset_password") in client.get(reverse("login")).content.decode()
    client.post(reverse("account_reset_password"), {"email": "Forgot@vendor.example"})
    [message] = mail.outbox
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    done = client.post(set_url, {"password1": "N3w-secret-pass!", "password2": "N3w-secret-pass!"})
    assert done.status_code == 302
    client.logout()
    login = client.post(reverse("login"), {"login": user.email, "password": "N3w-secret-pass!"})
    assert login.status_code == 302 and "_auth_user_id" in client.session
