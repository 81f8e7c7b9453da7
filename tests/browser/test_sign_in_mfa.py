"""A vendor admin signs in with password and authenticator code in a real browser, under the CSP."""

import pytest

from tests.browser.conftest import login
from tests.conftest import TOTP_SECRET
from tests.prm.test_sso_mfa import totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_vendor_admin_signs_in_with_a_second_factor(page, shot, vendor_admin, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "b"}}
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    login(page, vendor_admin.email.upper(), answer_totp=False)
    assert "/accounts/2fa/authenticate/" in page.url
    assert page.locator("h1").first.inner_text().strip() == "Two-Factor Authentication"
    shot("sign-in-second-factor")
    page.fill("input[name=code]", totp_code(TOTP_SECRET))
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").first.inner_text() == "Channel dashboard"
    assert violations == []


def test_login_page_offers_single_sign_on(page, db):
    page.goto("/login/")
    page.click("text=Single sign-on")
    assert page.url.endswith("/login/sso/")
    assert page.locator("label[for=id_email]").inner_text().startswith("Work e-mail")
