"""No button or link is shown to a role that cannot use it: walk every role's pages from its home, follow every link
(GET) the page shows and assert none answers 403. Styled error pages: 403/404 extend the portal's layout, 500 renders
without touching the database, the lock-out page says when to try again."""

import datetime
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from leads.models import Registration, RegistrationStatus
from prm.models import Role
from tests.leads.factories import LeadFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db

HREF = re.compile(r'<a\b[^>]*\bhref="(/[^"#]*)"')
# Not pages: downloads, sign-out, the admin (its own permission system), static and media files.
SKIP = ("/static/", "/media/", "/admin/", "/logout/", "/api/", "/i18n/")
MAX_PAGES = 120


def crawl(client, start="/"):
    seen, todo, forbidden = set(), [start], []
    while todo and len(seen) < MAX_PAGES:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        r = client.get(url)
        if r.status_code == 403:
            forbidden.append(url)
            continue
        if r.status_code != 200 or "text/html" not in r.get("Content-Type", ""):
            continue
        for href in HREF.findall(r.content.decode()):
            href = unescape(href)
            path = urlsplit(href).path
            if path.startswith(SKIP) or "export=" in href or href in seen:
                continue
            todo.append(href)
    return seen, forbidden


@pytest.fixture
def data(partner, partner_rep):
    now = timezone.now()
    lead = LeadFactory(partner=partner, owner=partner_rep, first_contact_due=now + datetime.timedelta(hours=2))
    Registration.objects.create(
        lead=lead,
        partner=partner,
        status=RegistrationStatus.APPROVED,
        protected_from=now,
        protected_until=now + datetime.timedelta(days=10),
    )
    return lead


@pytest.mark.parametrize("role", ["partner_engineer", "partner_sales", "partner_admin", "channel_manager"])
def test_no_link_a_role_sees_answers_403(client, partner, channel_manager, data, role):
    user = channel_manager if role == "channel_manager" else PartnerUserFactory(role=role, partner=partner)
    client.force_login(user)
    seen, forbidden = crawl(client)
    assert len(seen) > 30, seen
    assert forbidden == []


def test_engineer_sees_no_selling_buttons(client, partner, data):
    client.force_login(PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=partner))
    for url in (
        "/",
        reverse("leads:deal_list"),
        reverse("leads:registration_list"),
        reverse("leads:dispute_list"),
        reverse("leads:deal_detail", args=[data.pk]),
    ):
        html = client.get(url).content.decode()
        assert reverse("leads:deal_register") not in html
        assert reverse("leads:dispute_new") not in html
        assert 'id="edit-deal"' not in html and 'id="move-deal"' not in html


def test_403_and_404_pages_are_styled(client, partner_rep):
    client.force_login(partner_rep)
    r = client.get(reverse("leads:routing_queue"))
    assert r.status_code == 403
    html = r.content.decode()
    assert 'id="error-page"' in html and "Your role cannot open this page" in html and "navbar" in html
    r = client.get("/no-such-page/")
    assert r.status_code == 404 and 'id="error-page"' in r.content.decode()
    r = client.get(reverse("leads:deal_detail", args=[999999]))
    assert r.status_code == 404 and "There is nothing here" in r.content.decode()


def test_500_page_renders_without_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        html = render_to_string("500.html")
    assert "Something went wrong on our side" in html and 'id="error-page"' in html


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=2)
def test_lockout_page_is_styled_and_says_when_to_retry(client, channel_manager):
    for _ in range(2):
        client.post(reverse("login"), {"login": channel_manager.email, "password": "wrong"})
    r = client.post(reverse("login"), {"login": channel_manager.email, "password": "wrong"})
    assert r.status_code == 429
    html = r.content.decode()
    assert "Sign-in is paused for this account" in html and "Try again in 15 minutes." in html
