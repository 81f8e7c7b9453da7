import datetime

import pytest
from django.utils import timezone

from prm.models import Notification, NotificationKind
from training.models import Certification
from training.tasks import certifications_remind

from .factories import CertificationFactory

pytestmark = pytest.mark.django_db


def _expiring_in(user, days):
    today = timezone.localdate()
    return CertificationFactory(
        user=user, issued_on=today - datetime.timedelta(days=700), expires_on=today + datetime.timedelta(days=days)
    )


def test_30_day_warning_goes_to_holder_and_partner_admin_once(learner, partner_admin, other_partner_rep):
    cert = _expiring_in(learner, 25)
    _expiring_in(other_partner_rep, 200)  # not due
    assert certifications_remind.delay().get() == 2
    assert certifications_remind.delay().get() == 0  # idempotent
    notes = Notification.objects.filter(kind=NotificationKind.CERTIFICATION_EXPIRING)
    assert sorted(n.user_id for n in notes) == sorted([learner.pk, partner_admin.pk])
    assert "30" in notes.get(user=learner).title
    cert.refresh_from_db()
    assert cert.warned_30_at is not None and cert.warned_7_at is None
    assert not Notification.objects.filter(user=other_partner_rep).exists()


def test_7_day_warning_after_30_day_warning(learner):
    cert = _expiring_in(learner, 20)
    certifications_remind()
    Certification.objects.filter(pk=cert.pk).update(expires_on=timezone.localdate() + datetime.timedelta(days=6))
    certifications_remind()
    certifications_remind()
    titles = list(Notification.objects.filter(user=learner).values_list("title", flat=True))
    assert len(titles) == 2
    assert any("7" in t for t in titles)


def test_certificate_entering_7_day_window_directly_gets_one_message(learner):
    cert = _expiring_in(learner, 5)
    certifications_remind()
    certifications_remind()
    assert Notification.objects.filter(user=learner).count() == 1
    cert.refresh_from_db()
    assert cert.warned_7_at and cert.warned_30_at


def test_expired_and_revoked_are_not_warned(learner):
    today = timezone.localdate()
    CertificationFactory(
        user=learner, issued_on=today - datetime.timedelta(days=800), expires_on=today - datetime.timedelta(days=1)
    )
    CertificationFactory(
        user=learner,
        issued_on=today - datetime.timedelta(days=700),
        expires_on=today + datetime.timedelta(days=3),
        revoked_at=timezone.now(),
    )
    assert certifications_remind() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_once(postgres_only, partner):
    import threading

    from django.db import connection

    from prm.models import Role
    from tests.prm.factories import PartnerUserFactory
    from training.services import certifications_remind as remind

    users = [PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=partner) for _ in range(5)]
    for u in users:
        _expiring_in(u, 10)
    barrier = threading.Barrier(3)

    def run():
        try:
            barrier.wait()
            remind()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for u in users:
        assert Notification.objects.filter(user=u).count() == 1
