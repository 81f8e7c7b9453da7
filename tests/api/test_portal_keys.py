"""The portal pages where admins create, see and revoke API keys."""

import pytest

from prm.models import ApiKey
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_partner_admin_creates_a_key_shown_once(client_for, partner_admin, partner):
    client = client_for(partner_admin)
    response = client.post(
        "/settings/api-keys/", {"name": "HubSpot", "scopes": ["leads:read", "leads:write"], "expires_at": ""}
    )
    assert response.status_code == 200
    key = ApiKey.objects.get()
    raw = response.context["raw"]
    assert raw in response.content.decode() and raw.startswith(f"prm_{key.prefix}_")
    assert key.partner == partner and key.scopes == ["leads:read", "leads:write"]
    listing = client.get("/settings/api-keys/").content.decode()
    assert key.prefix in listing and raw not in listing
    assert raw not in client.get(f"/settings/api-keys/{key.pk}/").content.decode()


def test_partner_admin_cannot_pick_another_partner(client_for, partner_admin, partner, other_partner):
    client_for(partner_admin).post(
        "/settings/api-keys/", {"name": "x", "scopes": ["leads:read"], "partner": other_partner.pk}
    )
    assert ApiKey.objects.get().partner == partner


def test_vendor_admin_creates_vendor_wide_keys(client_for, vendor_admin):
    client_for(vendor_admin).post("/settings/api-keys/", {"name": "ERP", "scopes": ["partners:read"]})
    assert ApiKey.objects.get().partner is None


def test_bad_form_shows_errors(client_for, partner_admin):
    response = client_for(partner_admin).post("/settings/api-keys/", {"name": "", "scopes": ["bogus"]})
    assert response.status_code == 200 and response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_other_roles_are_refused_and_keys_of_others_are_404(
    client_for, partner_rep, channel_manager, other_partner_rep, make_key, vendor_admin, client
):
    assert client_for(partner_rep).get("/settings/api-keys/").status_code == 403
    assert client_for(channel_manager).get("/settings/api-keys/").status_code == 403
    client.logout()
    assert client.get("/settings/api-keys/").status_code == 302


def test_partner_admin_sees_only_own_keys(client_for, partner_admin, other_partner, make_key):
    from prm.models import Role
    from tests.prm.factories import PartnerUserFactory

    other_admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=other_partner)
    theirs, _ = make_key(other_admin)
    client = client_for(partner_admin)
    assert client.get(f"/settings/api-keys/{theirs.pk}/").status_code == 404
    assert client.post(f"/settings/api-keys/{theirs.pk}/revoke/").status_code == 404
    assert theirs.prefix not in client.get("/settings/api-keys/").content.decode()


def test_revoke_from_the_portal(client_for, partner_admin, make_key, api):
    key, raw = make_key(partner_admin)
    client = client_for(partner_admin)
    assert client.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == partner_admin
    assert api(raw).get("/api/v1/leads/").status_code == 401


def test_add_webhook_shows_secret_once(client_for, partner_admin, make_key):
    key, _raw = make_key(partner_admin)
    client = client_for(partner_admin)
    response = client.post(
        f"/settings/api-keys/{key.pk}/", {"url": "https://crm.example/hook", "events": ["lead.offered"]}
    )
    secret = response.context["secret"]
    assert len(secret) == 64 and secret in response.content.decode()
    assert secret not in client.get(f"/settings/api-keys/{key.pk}/").content.decode()


@pytest.mark.parametrize("url", ["/api/v1/leads/", "/api/v1/partners/", "/api/v1/customers/", "/api/v1/activities/"])
def test_list_endpoints_keep_a_constant_query_count(api, vendor_key, partner, url, django_assert_max_num_queries):
    client = api(vendor_key)
    LeadFactory.create_batch(2, partner=partner)
    with django_assert_max_num_queries(8):
        client.get(url)
    LeadFactory.create_batch(20, partner=partner)
    with django_assert_max_num_queries(8):
        client.get(url)
