import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

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
