import pytest
from rest_framework.test import APIClient

from prm.api_auth import ALL_SCOPES, api_key_create
from tests.leads.factories import ActivityFactory, LeadFactory
from tests.partners.factories import PartnerContactFactory


@pytest.fixture(autouse=True)
def _fresh_throttle_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def make_key():
    def make(user, *, scopes=ALL_SCOPES, **kwargs):
        return api_key_create(created_by=user, name="CRM", scopes=list(scopes), **kwargs)

    return make


@pytest.fixture
def api():
    """`api(raw_key)` → an APIClient sending `Authorization: Bearer <key>`."""

    def client(raw=None):
        c = APIClient()
        if raw:
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return c

    return client


@pytest.fixture
def key_a(partner_admin, make_key):
    return make_key(partner_admin)[1]


@pytest.fixture
def key_b(other_partner, make_key):
    from prm.models import Role
    from tests.prm.factories import PartnerUserFactory

    admin_b = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=other_partner, email="admin@beta.example")
    return make_key(admin_b)[1]


@pytest.fixture
def vendor_key(vendor_admin, make_key):
    return make_key(vendor_admin)[1]


@pytest.fixture
def two_partner_data(partner, other_partner):
    """One object of every partner-owned kind for each of the two partners."""
    from tests.api.factories import partner_objects

    return {"a": partner_objects(partner), "b": partner_objects(other_partner)}


__all__ = ["ActivityFactory", "LeadFactory", "PartnerContactFactory"]
