"""Sign-in through django-allauth: MFA for vendor admins and API keys, SSO discovery by e-mail domain (issue 20).
No network: identity providers are only redirected to, never called."""

import pytest
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from allauth.mfa.totp.internal.auth import yield_hotp_counters_from_time as counters
from allauth.socialaccount.models import SocialApp
from django.urls import reverse

from prm.models import Role, SsoDomain
from tests.conftest import TOTP_SECRET, with_totp
from tests.prm.factories import PartnerUserFactory, UserFactory


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """allauth remembers used TOTP codes in the cache: a shared cache would refuse a code another run used."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "mfa"}}
    from django.core.cache import cache

    cache.clear()


def totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(counters())))


def _password_login(client, email):
    return client.post(reverse("login"), {"login": email, "password": "pass12345!"})


def test_vendor_admin_without_a_second_factor_must_set_one_up_first(client, db):
    admin = UserFactory(role=Role.VENDOR_ADMIN, email="boss@vendor.example")
    assert _password_login(client, "Boss@Vendor.Example").status_code == 302
    response = client.get(reverse("partners:directory"))
    assert response.status_code == 302 and response.url == reverse("mfa_index")

    # allauth asks for the password again before a second factor is added.
    assert client.get(reverse("mfa_activate_totp")).url.startswith(reverse("account_reauthenticate"))
    client.post(reverse("account_reauthenticate"), {"password": "pass12345!"})
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert admin.authenticator_set.filter(type="totp").exists()
    assert client.get(reverse("partners:directory")).status_code == 200


def test_vendor_admin_with_totp_needs_the_code_to_sign_in(client, vendor_admin):
    response = _password_login(client, vendor_admin.email)
    assert response.status_code == 302 and response.url == reverse("mfa_authenticate")
    assert client.get(reverse("home")).url.startswith(reverse("login"))  # not signed in yet

    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_channel_managers_are_not_forced_to_add_a_second_factor(client, channel_manager):
    _password_login(client, channel_manager.email)
    assert client.get(reverse("partners:directory")).status_code == 200


def test_api_key_pages_require_a_second_factor(client, partner):
    admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=partner, email="owner@alpha.example")
    client.force_login(admin)
    response = client.get(reverse("api_keys"))
    assert response.status_code == 302 and response.url == reverse("mfa_index")
    response = client.post(reverse("api_keys"), {"name": "CRM", "scopes": ["leads:read"]})
    assert response.status_code == 302 and not admin.partner.api_keys.exists()

    with_totp(admin)
    assert client.get(reverse("api_keys")).status_code == 200
    client.post(reverse("api_keys"), {"name": "CRM", "scopes": ["leads:read"]})
    assert admin.partner.api_keys.get().created_by == admin


@pytest.fixture
def providers(db, partner):
    oidc = SocialApp.objects.create(
        provider="openid_connect",
        provider_id="alpha-oidc",
        name="Alpha Keycloak",
        client_id="portal",
        secret="s3cret",
        settings={"server_url": "https://idp.alpha.example/realms/staff"},
    )
    saml = SocialApp.objects.create(
        provider="saml",
        provider_id="beta-saml",
        name="Beta ADFS",
        client_id="beta-saml",
        settings={
            "idp": {
                "entity_id": "https://adfs.beta.example/adfs/services/trust",
                "sso_url": "https://adfs.beta.example/adfs/ls/",
                "x509cert": "MIIB",
            }
        },
    )
    SsoDomain.objects.create(domain="alpha.example", app=oidc, partner=partner)
    SsoDomain.objects.create(domain="beta.example", app=saml)
    return oidc, saml


@pytest.mark.parametrize(
    "email, location",
    [
        ("Rep@Alpha.Example", "/accounts/oidc/alpha-oidc/login/?process=login"),
        ("someone@beta.example", "/accounts/saml/beta-saml/login/?process=login"),
    ],
)
def test_sso_discovery_sends_the_user_to_their_companys_provider(client, providers, email, location):
    response = client.post(reverse("sso_start"), {"email": email})
    assert response.status_code == 302 and response.url == location


def test_sso_discovery_keeps_a_local_next_and_drops_a_foreign_one(client, providers):
    local = client.post(reverse("sso_start"), {"email": "rep@alpha.example", "next": "/deals/offers/"})
    assert local.url.endswith("&next=%2Fdeals%2Foffers%2F")
    foreign = client.post(reverse("sso_start"), {"email": "rep@alpha.example", "next": "https://evil.example/"})
    assert "evil" not in foreign.url


def test_unknown_domain_gets_a_form_error(client, providers):
    response = client.post(reverse("sso_start"), {"email": "x@gamma.example"})
    assert response.status_code == 200 and "not set up for this e-mail domain" in response.content.decode()


def test_login_page_offers_sso_and_password_reset(client, db):
    body = client.get(reverse("login")).content.decode()
    assert reverse("sso_start") in body and reverse("account_reset_password") in body


def test_a_provider_cannot_sign_in_addresses_of_another_domain(rf, providers, vendor_admin):
    """The Alpha IdP asserting the vendor admin's address is refused before any login happens."""
    from allauth.core import context
    from allauth.core.exceptions import ImmediateHttpResponse
    from allauth.socialaccount.models import SocialAccount, SocialLogin
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    from prm.auth import SocialAccountAdapter

    request = rf.get("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    login = SocialLogin(user=vendor_admin, account=SocialAccount(provider="alpha-oidc", uid="1"))
    with context.request_context(request), pytest.raises(ImmediateHttpResponse):
        SocialAccountAdapter(request).pre_social_login(request, login)
    rep = PartnerUserFactory(email="rep2@alpha.example")
    with context.request_context(request):
        SocialAccountAdapter(request).pre_social_login(
            request, SocialLogin(user=rep, account=SocialAccount(provider="alpha-oidc", uid="2"))
        )


def test_password_reset_mails_a_link(client, channel_manager, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": "CM@vendor.example"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and "/accounts/password/reset/key/" in mailoutbox[0].body


def test_the_new_pages_speak_russian(client, db):
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    assert "Забыли пароль?" in client.get(reverse("login")).content.decode()
    assert "Рабочая эл. почта" in client.get(reverse("sso_start")).content.decode()


def test_user_menu_links_to_two_factor_settings(client, channel_manager):
    client.force_login(channel_manager)
    assert reverse("mfa_index") in client.get(reverse("home")).content.decode()
    page = client.get(reverse("mfa_index"))
    assert page.status_code == 200 and 'account-page">' in page.content.decode()  # in the portal's shell


def test_saml_provider_publishes_its_service_provider_metadata(client, providers, settings):
    """The SAML app is usable as configured: its SP metadata (for the IdP's admin) renders, no network needed."""
    settings.ALLOWED_HOSTS = ["portal.example.org"]
    response = client.get("/accounts/saml/beta-saml/metadata/", HTTP_HOST="portal.example.org", secure=True)
    assert response.status_code == 200
    assert b"EntityDescriptor" in response.content and b"/accounts/saml/beta-saml/acs/" in response.content


def test_saml_discovery_ends_at_the_identity_providers_sign_in_page(client, providers, settings):
    settings.ALLOWED_HOSTS = ["portal.example.org"]
    host = {"HTTP_HOST": "portal.example.org", "secure": True}
    start = client.post(reverse("sso_start"), {"email": "ann@beta.example"}, **host)
    response = client.post(start.url, **host)  # allauth's "Continue" on its confirmation page
    assert response.status_code == 302
    assert response.url.startswith("https://adfs.beta.example/adfs/ls/?SAMLRequest=")
