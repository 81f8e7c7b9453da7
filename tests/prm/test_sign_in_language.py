"""The language a user chose in their preferences applies from sign-in on (issue 17): whichever browser they use,
the portal answers in it without touching the language switch."""

import pytest
from django.conf import settings
from django.urls import reverse

from prm.models import Role
from tests.prm.factories import UserFactory

pytestmark = pytest.mark.django_db


def _sign_in(client, user):
    return client.post(reverse("login"), {"login": user.email, "password": "pass12345!"})


def test_the_chosen_language_applies_at_sign_in(client):
    user = UserFactory(role=Role.CHANNEL_MANAGER, email="ru@vendor.example", language="ru")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the browser was on English before
    response = _sign_in(client, user)
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    assert "Панель" in client.get(reverse("home")).content.decode()


def test_the_switch_still_works_after_sign_in(client):
    user = UserFactory(role=Role.CHANNEL_MANAGER, email="ru@vendor.example", language="ru")
    _sign_in(client, user)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Dashboard" in client.get(reverse("home")).content.decode()


def test_no_choice_keeps_the_browsers_language(client):
    user = UserFactory(role=Role.CHANNEL_MANAGER, email="none@vendor.example", language="")
    response = _sign_in(client, user)
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_a_failed_sign_in_sets_no_language(client):
    UserFactory(role=Role.CHANNEL_MANAGER, email="ru@vendor.example", language="ru")
    response = client.post(reverse("login"), {"login": "ru@vendor.example", "password": "wrong"})
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_the_language_applies_when_the_second_factor_completes_sign_in(client, vendor_admin, settings):
    from tests.conftest import TOTP_SECRET
    from tests.prm.test_sso_mfa import totp_code

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "lang"}}
    vendor_admin.language = "ru"
    vendor_admin.save(update_fields=["language"])
    first = _sign_in(client, vendor_admin)
    assert first.url == reverse("mfa_authenticate")
    assert settings.LANGUAGE_COOKIE_NAME not in first.cookies  # not signed in yet
    second = client.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
    assert second.status_code == 302
    assert second.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
