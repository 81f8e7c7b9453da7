"""Content-Security-Policy on every page, no inline script without a nonce, cookies consistent with the
plain-HTTP trial mode (issue 20)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)


@pytest.mark.parametrize("who", ["anonymous", "channel_manager", "partner_admin"])
def test_pages_carry_a_strict_policy(who, client, request):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    url = reverse("login") if who == "anonymous" else reverse("home")
    response = client.get(url)
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    script_src = policy["script-src"].split()
    assert script_src[0] == "'self'"  # plus a nonce on pages that use one
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert policy["style-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"


def test_kpi_dashboard_loads_chart_js_and_its_chart_code_from_static_files(client, channel_manager):
    client.force_login(channel_manager)
    html = client.get(reverse("kpi:dashboard")).content.decode()
    sources = [m.group(1) for m in SCRIPT_TAG.finditer(html)]
    assert any("vendor/chart.js/chart.umd.js" in s for s in sources)
    assert any("js/charts.js" in s for s in sources)
    assert any("vendor/htmx/htmx.min.js" in s for s in sources)


def _inline_scripts(text: str) -> list[str]:
    """<script> tags that would run inline: no src, no nonce, and not a JSON data block."""
    return [
        attrs
        for attrs in SCRIPT_TAG.findall(text)
        if "src=" not in attrs and "nonce=" not in attrs and "application/json" not in attrs
    ]


def test_templates_have_no_inline_script_or_event_handler_without_a_nonce():
    offenders = {}
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        found = _inline_scripts(text) + re.findall(r"\s(?:on[a-z]+|hx-on[:\w-]*)=", text)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert not offenders


def _production_settings(**env) -> dict:
    code = (
        "import json, django.conf as c; from prm.settings import production as p; "
        "print(json.dumps([p.SESSION_COOKIE_SECURE, p.CSRF_COOKIE_SECURE, p.SECURE_SSL_REDIRECT, "
        "p.SECURE_HSTS_SECONDS]))"
    )
    environ = {**os.environ, "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "example.org", **env}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plain_http_trial_mode_cookies_are_not_secure_only():
    assert _production_settings(SECURE_SSL_REDIRECT="0") == [False, False, False, 0]
    assert _production_settings(SECURE_SSL_REDIRECT="1") == [True, True, True, 31536000]
    assert _production_settings(SECURE_SSL_REDIRECT="0", SECURE_COOKIES="1")[:2] == [True, True]
