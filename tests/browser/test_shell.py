import pytest

from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_channel_manager_logs_in_and_sees_the_dashboard(page, shot, channel_manager):
    login(page, channel_manager.email)
    assert page.locator("h1").first.inner_text() == "Channel dashboard"
    # the front-end assets come from node_modules through staticfiles, not a CDN
    assert page.evaluate("typeof bootstrap") == "object"
    assert page.evaluate("typeof htmx") == "object"
    shot("channel-manager-dashboard")


def test_wrong_password_shows_an_error(page, channel_manager):
    login(page, channel_manager.email, "wrong-password")
    assert page.url.endswith("/login/")
    assert "correct" in page.locator(".alert-danger").inner_text()
