"""Headless Debian chromium driven by Playwright against Django's live server."""

import os
import time
from pathlib import Path

import factory.random
import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
# `PRM_DOCS_SCREENSHOTS=1 python -m pytest tests/browser` also refreshes the pictures in docs/.
DOCS_IMG = ROOT / "docs" / "img"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (bin/test installs it as root)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls in tests are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _same_fake_data_every_run():
    """Factory-generated names are the same on every run, so regenerated docs pictures only change with the pages."""
    factory.random.reseed_random("prm-browser-tests")


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def shot(page):
    """`shot("name")` saves a full-page screenshot as a test artifact.

    With PRM_DOCS_SCREENSHOTS=1 it also writes docs/img/<name>.png: only the viewport, what a reader sees first,
    so the committed pictures stay small. It shows the top of the page, or `focus` scrolled to the top; `height` crops dense
    pages; `for_docs=False` keeps a step out of the docs.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    docs = os.environ.get("PRM_DOCS_SCREENSHOTS") == "1"

    def take(name: str, *, for_docs: bool = True, focus: str | None = None, height: int | None = None) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if docs and for_docs:
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            # "instant": Bootstrap makes scrolling smooth, and the picture would be taken half-way.
            if focus:
                page.locator(focus).first.evaluate("e => e.scrollIntoView({block: 'start', behavior: 'instant'})")
            else:
                page.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")
            width = page.viewport_size["width"]
            clip = {"x": 0, "y": 0, "width": width, "height": height} if height else None
            page.screenshot(path=str(DOCS_IMG / f"{name}.png"), clip=clip, animations="disabled", caret="hide")
        return path

    return take


def totp_code(secret: str) -> str:
    """The authenticator's current code for `secret`, from a period with time left: a code is good for its period
    only, and one computed in a period's last seconds reached a busy server in the next one and was refused (a CI
    run under load)."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

    left = app_settings.TOTP_PERIOD - time.time() % app_settings.TOTP_PERIOD
    if left < 5:
        time.sleep(left + 0.2)
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def login(page, email: str, password: str = "pass12345!", answer_totp: bool = True):
    page.goto("/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    # The user has TOTP set up (tests.conftest.with_totp): answer the code step.
    if answer_totp and page.locator("#id_code").count():
        from tests.conftest import TOTP_SECRET

        page.fill("#id_code", totp_code(TOTP_SECRET))
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
