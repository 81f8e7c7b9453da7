import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.migrating import migrate_latest

from .factories import CertificationFactory


@pytest.fixture
def holder(learner):
    return learner


def _get(client, code):
    return client.get(reverse("training:certificate_verify", args=[code]))


def test_valid_certificate_is_public_and_shows_no_email(client, holder):
    cert = CertificationFactory(user=holder)
    response = _get(client, cert.code)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ivan Petrov" in html
    assert holder.partner.name in html
    assert 'data-status="valid"' in html
    assert holder.email not in html


def test_expired_certificate_shows_expired(client, holder):
    today = timezone.localdate()
    cert = CertificationFactory(
        user=holder, issued_on=today - datetime.timedelta(days=800), expires_on=today - datetime.timedelta(days=1)
    )
    assert 'data-status="expired"' in _get(client, cert.code).content.decode()


def test_revoked_certificate_shows_revoked(client, holder):
    cert = CertificationFactory(user=holder, revoked_at=timezone.now(), revoked_reason="Exam fraud")
    html = _get(client, cert.code).content.decode()
    assert 'data-status="revoked"' in html
    assert "Exam fraud" not in html


def test_unknown_code_is_404(client, db):
    assert _get(client, "NOPE1234").status_code == 404


def test_code_lookup_is_case_insensitive(client, holder):
    cert = CertificationFactory(user=holder)
    assert _get(client, cert.code.lower()).status_code == 200


def test_certification_list_scoped_to_partner(client_for, holder, other_partner_rep):
    mine = CertificationFactory(user=holder)
    theirs = CertificationFactory(user=other_partner_rep)
    html = client_for(holder).get(reverse("training:certifications")).content.decode()
    assert mine.code in html and theirs.code not in html


def test_channel_manager_revokes_with_reason(client_for, channel_manager, partner_admin, holder):
    cert = CertificationFactory(user=holder)
    client = client_for(channel_manager)
    url = reverse("training:certification_revoke", args=[cert.pk])
    client.post(url, {"reason": "  "})
    cert.refresh_from_db()
    assert cert.revoked_at is None
    client.post(url, {"reason": "Exam fraud"})
    cert.refresh_from_db()
    assert cert.revoked_at is not None and cert.revoked_reason == "Exam fraud"
    assert client_for(partner_admin).post(url, {"reason": "x"}).status_code == 403


def test_revoked_certificate_stops_counting(holder):
    from training.selectors import valid_certified_people_by_partner

    cert = CertificationFactory(user=holder)
    today = timezone.localdate()
    assert valid_certified_people_by_partner(on=today)[holder.partner_id]["total"] == 1
    cert.revoked_at = timezone.now()
    cert.save()
    assert valid_certified_people_by_partner(on=today) == {}


def test_new_codes_carry_128_random_bits(holder):
    codes = {CertificationFactory(user=holder).code for _ in range(3)}
    assert len(codes) == 3
    assert all(len(code) == 32 and int(code, 16) >= 0 for code in codes)


def test_old_codes_still_verify(client, holder):
    cert = CertificationFactory(user=holder)
    type(cert).objects.filter(pk=cert.pk).update(legacy_code=f"{cert.pk * 2654435761 % 16**10:010X}")
    cert.refresh_from_db()
    response = _get(client, cert.legacy_code.lower())
    assert response.status_code == 200 and cert.code in response.content.decode()


def test_anonymous_verification_is_throttled(client, holder, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cv"}}
    settings.PRM_CERTIFICATE_VERIFY_RATE = 5
    cert = CertificationFactory(user=holder)
    statuses = [_get(client, f"{n:010X}").status_code for n in range(5)]
    assert statuses == [404] * 5
    response = _get(client, cert.code)
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert "Too many look-ups" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_migration_gives_every_certificate_a_random_code_and_keeps_the_old_one(holder):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from training.models import Certification

    old_code = f"{7 * 2654435761 % 16**10:010X}"
    cert = CertificationFactory(user=holder)
    Certification.objects.filter(pk=cert.pk).update(code=old_code, legacy_code=None)
    executor = MigrationExecutor(connection)
    executor.migrate([("training", "0002_training_courses_quizzes_certificates")])
    migrate_latest()

    cert.refresh_from_db()
    assert cert.legacy_code == old_code and len(cert.code) == 32
