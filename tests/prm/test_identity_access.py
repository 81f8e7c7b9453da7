"""A suspended or terminated partner, or a deactivated user, loses portal and API access at once and regains it on
reactivation; API keys show their creator and stop when the creator is deactivated unless re-assigned (issue 20)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from partners.models import Partner, PartnerStatus
from partners.services import partner_status_change, partner_user_deactivate, partner_user_reactivate
from prm.api_auth import ALL_SCOPES, KeyState, api_key_create, api_key_reassign, api_key_state
from prm.models import Role
from tests.prm.factories import PartnerUserFactory


@pytest.fixture(autouse=True)
def _locmem_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ident"}}


def _api(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize("blocked", [PartnerStatus.SUSPENDED, PartnerStatus.TERMINATED])
def test_blocked_partner_loses_portal_and_api_at_once_and_regains_on_reactivation(
    blocked, client, partner, partner_admin, partner_rep, channel_manager
):
    _key, raw = api_key_create(created_by=partner_admin, name="CRM", scopes=list(ALL_SCOPES))
    client.force_login(partner_rep)
    assert client.get(reverse("home")).status_code == 200
    assert _api(raw).get("/api/v1/leads/").status_code == 200

    partner_status_change(partner=partner, to_status=blocked, actor=channel_manager, reason="Unpaid invoices")

    # The open session ends at its next request, a new sign-in is refused, the key answers 401.
    assert client.get(reverse("home")).url.startswith(reverse("login"))
    client.logout()
    response = client.post(reverse("login"), {"login": partner_rep.email, "password": "pass12345!"}, follow=True)
    assert "_auth_user_id" not in client.session
    assert "portal access is suspended" in response.content.decode()
    response = _api(raw).get("/api/v1/leads/")
    assert response.status_code == 401 and response["Content-Type"].startswith("application/problem+json")

    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.ACTIVE)  # reactivated
    response = client.post(reverse("login"), {"login": partner_rep.email, "password": "pass12345!"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert _api(raw).get("/api/v1/leads/").status_code == 200


def test_deactivated_users_session_ends_at_its_next_request(client, partner, partner_admin, partner_rep):
    client.force_login(partner_rep)
    assert client.get(reverse("home")).status_code == 200
    partner_user_deactivate(user=partner_rep, actor=partner_admin)
    assert client.get(reverse("home")).status_code == 302


def test_key_of_a_deactivated_creator_stops_until_reactivated_or_reassigned(partner, partner_admin):
    second_admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=partner, email="admin2@alpha.example")
    key, raw = api_key_create(created_by=second_admin, name="CRM", scopes=list(ALL_SCOPES))
    partner_user_deactivate(user=second_admin, actor=partner_admin)
    key.refresh_from_db()
    assert api_key_state(key=key) == KeyState.CREATOR_DEACTIVATED
    assert _api(raw).get("/api/v1/leads/").status_code == 401

    partner_user_reactivate(user=second_admin, actor=partner_admin)
    assert _api(raw).get("/api/v1/leads/").status_code == 200

    partner_user_deactivate(user=second_admin, actor=partner_admin)
    api_key_reassign(key=key, to_user=partner_admin, actor=partner_admin)
    assert _api(raw).get("/api/v1/leads/").status_code == 200


def test_key_pages_show_the_creator_the_state_and_reassign(client, partner, partner_admin):
    second_admin = PartnerUserFactory(
        role=Role.PARTNER_ADMIN, partner=partner, email="admin2@alpha.example", first_name="Olga", last_name="Ivanova"
    )
    key, raw = api_key_create(created_by=second_admin, name="CRM", scopes=list(ALL_SCOPES))
    partner_user_deactivate(user=second_admin, actor=partner_admin)
    client.force_login(partner_admin)
    page = client.get(reverse("api_keys")).content.decode()
    assert "Olga Ivanova" in page and "its creator is deactivated" in page

    response = client.post(reverse("api_key_reassign", args=[key.pk]), {"to_user": partner_admin.pk})
    assert response.status_code == 302
    detail = client.get(reverse("api_key_detail", args=[key.pk])).content.decode()
    assert str(partner_admin) in detail and "its creator is deactivated" not in detail
    assert _api(raw).get("/api/v1/leads/").status_code == 200


def test_a_key_cannot_be_reassigned_to_another_partners_admin(partner_admin, other_partner):
    from django.core.exceptions import ValidationError

    key, _raw = api_key_create(created_by=partner_admin, name="CRM", scopes=list(ALL_SCOPES))
    stranger = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=other_partner, email="admin@beta.example")
    with pytest.raises(ValidationError):
        api_key_reassign(key=key, to_user=stranger, actor=partner_admin)


def _door_open(door, *, client, rf, partner_rep, partner_admin, raw_key):
    """Whether `partner_rep` (or the partner's key) gets in through `door` right now."""
    if door == "portal_session":
        client.force_login(partner_rep)
        return client.get(reverse("home")).status_code == 200
    if door == "password_login":
        client.logout()
        client.post(reverse("login"), {"login": partner_rep.email.upper(), "password": "pass12345!"})
        return "_auth_user_id" in client.session
    if door == "sso":
        from allauth.account.adapter import get_adapter
        from allauth.core import context
        from allauth.core.exceptions import ImmediateHttpResponse
        from django.contrib.messages.storage.fallback import FallbackStorage
        from django.contrib.sessions.backends.db import SessionStore

        request = rf.get("/")
        request.session, request.user = SessionStore(), partner_rep
        request._messages = FallbackStorage(request)
        with context.request_context(request):
            try:  # what allauth asks before any login, SSO included
                get_adapter(request).pre_login(
                    request,
                    partner_rep,
                    email_verification="none",
                    signal_kwargs=None,
                    email=None,
                    signup=False,
                    redirect_url=None,
                )
            except ImmediateHttpResponse:
                return False
        return True
    if door == "api_key":
        return _api(raw_key).get("/api/v1/leads/").status_code == 200
    if door == "webhook":
        from prm.webhooks import webhook_emit

        return bool(webhook_emit(event="lead.offered", partner=partner_rep.partner, payload={}))
    raise AssertionError(door)


@pytest.mark.parametrize("door", ["portal_session", "password_login", "sso", "api_key", "webhook"])
def test_one_access_rule_whatever_the_door(door, client, rf, partner, partner_rep, partner_admin, channel_manager):
    from prm.webhooks import webhook_subscribe

    key, raw = api_key_create(created_by=partner_admin, name="CRM", scopes=list(ALL_SCOPES))
    webhook_subscribe(api_key=key, url="https://crm.example/hook", events=["lead.offered"], actor=partner_admin)
    kwargs = dict(client=client, rf=rf, partner_rep=partner_rep, partner_admin=partner_admin, raw_key=raw)
    assert _door_open(door, **kwargs)
    partner_status_change(partner=partner, to_status=PartnerStatus.SUSPENDED, actor=channel_manager, reason="Audit")
    partner_rep.refresh_from_db()
    assert not _door_open(door, **kwargs)
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.ACTIVE)
    partner_rep.refresh_from_db()
    assert _door_open(door, **kwargs)
