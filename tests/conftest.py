"""Role fixtures shared by every test module."""

import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from prm.models import Role
from tests.partners.factories import PartnerFactory
from tests.prm.factories import PartnerUserFactory, UserFactory


def worker_redis_url(url: str, worker: str) -> str:
    """REDIS_URL's database for xdist worker gwN: the N-th one below REDIS_URL's own (gw0 keeps it; CI's /15 gives
    15 and 14). Tests clear the cache (FLUSHDB on Redis): two workers sharing a database would wipe each other's keys."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0) - int(worker.removeprefix("gw"))
    if db < 0:
        raise pytest.UsageError(f"REDIS_URL {url} leaves no Redis database for xdist worker {worker}: use a higher one")
    return urlunsplit(parts._replace(path=f"/{db}"))


def pytest_configure(config):
    """Under pytest-xdist each worker has its own test database (pytest-django) and its own Redis database (here)."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("REDIS_URL")
    if not (worker and url):
        return
    from django.conf import settings
    from django.test import override_settings

    own = worker_redis_url(url, worker)
    os.environ["REDIS_URL"] = own  # the redis_url fixture and the subprocesses tests start
    caches = {alias: {**conf} for alias, conf in settings.CACHES.items()}
    for conf in caches.values():
        if conf.get("LOCATION") == url:
            conf["LOCATION"] = own
    override_settings(REDIS_URL=own, CACHES=caches, CELERY_BROKER_URL=own, CELERY_RESULT_BACKEND=own).enable()


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def postgres_only():
    if not _is_postgres():
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...); SQLite has no row locks or advisory locks")


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs Redis (set REDIS_URL=redis://...)")
    return url


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # base32; tests compute codes from it


def with_totp(user):
    """The user has set up a TOTP authenticator (django-allauth MFA) with TOTP_SECRET."""
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(user, TOTP_SECRET)
    return user


@pytest.fixture
def vendor_admin(db):
    """Vendor admins must have a second factor (prm.permissions.mfa_required): this one has TOTP."""
    return with_totp(
        UserFactory(role=Role.VENDOR_ADMIN, email="admin@vendor.example", is_staff=True, is_superuser=True)
    )


@pytest.fixture
def channel_manager(db):
    return UserFactory(role=Role.CHANNEL_MANAGER, email="cm@vendor.example")


@pytest.fixture
def partner(db):
    return PartnerFactory(name="Alpha Integrator")


@pytest.fixture
def other_partner(db):
    return PartnerFactory(name="Beta Systems")


@pytest.fixture
def partner_admin(partner):
    """Has TOTP set up, as managing API keys requires."""
    return with_totp(PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=partner, email="admin@alpha.example"))


@pytest.fixture
def partner_rep(partner):
    return PartnerUserFactory(role=Role.PARTNER_SALES, partner=partner, email="rep@alpha.example")


@pytest.fixture
def partner_engineer(partner):
    return PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=partner, email="eng@alpha.example")


@pytest.fixture
def other_partner_rep(other_partner):
    return PartnerUserFactory(role=Role.PARTNER_SALES, partner=other_partner, email="rep@beta.example")


@pytest.fixture
def client_for(client):
    """`client_for(user)` returns the test client logged in as that user."""

    def login(user):
        client.force_login(user)
        return client

    return login


# Public-looking names the tests use for webhooks; no test ever connects to their address (see below).
FAKE_DNS = {"crm.example": "93.184.215.14", "crm.kazan-cloud.example": "93.184.215.14"}


@pytest.fixture(autouse=True)
def _webhooks_stay_on_this_machine(monkeypatch):
    """Host names resolve from FAKE_DNS (numbers pass through); webhook code can only connect to 127.0.0.1."""
    import socket

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection
    answers = dict(FAKE_DNS)  # a test may change its own copy

    def getaddrinfo(host, port, *args, **kwargs):
        return real_getaddrinfo(answers.get(host, host), port, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "::1", "localhost"):  # refused like an unreachable host
            raise ConnectionRefusedError(f"tests never connect to {address[0]}")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr("prm.webhooks.socket.getaddrinfo", getaddrinfo)
    monkeypatch.setattr("prm.webhooks.socket.create_connection", create_connection)
    return answers
