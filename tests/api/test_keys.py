import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from prm.api_auth import api_key_create, api_key_revoke
from prm.models import ApiKey, AuditEvent

pytestmark = pytest.mark.django_db


def test_key_is_stored_hashed_and_only_the_prefix_is_visible(partner_admin, partner):
    key, raw = api_key_create(created_by=partner_admin, name="CRM", scopes=["leads:read"])
    assert raw.startswith(f"prm_{key.prefix}_") and len(raw) > 40
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    assert stored.partner == partner  # partner admins always get keys for their own partner
    assert AuditEvent.objects.filter(action="api_key.created", object_id=str(key.pk), partner=partner).exists()


def test_only_admins_create_keys(partner_rep):
    from rest_framework.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        api_key_create(created_by=partner_rep, name="x", scopes=["leads:read"])


def test_unknown_scope_is_rejected(vendor_admin):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        api_key_create(created_by=vendor_admin, name="x", scopes=["leads:delete"])


def test_bearer_key_authenticates_and_wrong_key_is_401_problem(api, key_a):
    assert api(key_a).get("/api/v1/leads/").status_code == 200
    response = api(key_a[:-2] + "xx").get("/api/v1/leads/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401
    assert api().get("/api/v1/leads/").status_code == 401


def test_expired_key_is_refused(api, partner_admin, make_key):
    key, raw = make_key(partner_admin, expires_at=timezone.now() + timedelta(hours=1))
    assert api(raw).get("/api/v1/leads/").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api(raw).get("/api/v1/leads/").status_code == 401


def test_revoked_key_is_refused_and_audited(api, partner_admin, make_key):
    key, raw = make_key(partner_admin)
    api_key_revoke(key=key, actor=partner_admin)
    assert api(raw).get("/api/v1/leads/").status_code == 401
    assert AuditEvent.objects.filter(action="api_key.revoked", object_id=str(key.pk)).count() == 1


def test_last_used_is_written_at_most_once_a_minute(api, partner_admin, make_key, django_assert_num_queries):
    key, raw = make_key(partner_admin)
    assert key.last_used_at is None
    api(raw).get("/api/v1/tiers/")
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    api(raw).get("/api/v1/tiers/")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    api(raw).get("/api/v1/tiers/")
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first - timedelta(minutes=1)


def test_missing_scope_is_403_per_resource_and_method(api, partner_admin, make_key):
    _key, raw = make_key(partner_admin, scopes=["leads:read"])
    client = api(raw)
    assert client.get("/api/v1/leads/").status_code == 200
    response = client.post("/api/v1/leads/bulk-upsert/", {"items": []}, format="json")
    assert response.status_code == 403
    assert "leads:write" in response.json()["detail"]
    assert client.get("/api/v1/activities/").status_code == 403
