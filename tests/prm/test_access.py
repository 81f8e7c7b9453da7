import pytest
from django.urls import reverse

VENDOR_PAGES = ["partners:directory", "kpi:dashboard"]
SIGNED_IN_PAGES = ["home", "notifications", "preferences", "leads:deal_list", "training:catalog"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", VENDOR_PAGES + SIGNED_IN_PAGES)
def test_anonymous_is_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", VENDOR_PAGES)
def test_partner_staff_cannot_open_channel_manager_pages(client_for, partner_rep, name):
    assert client_for(partner_rep).get(reverse(name)).status_code == 403


def test_each_role_has_its_home_page(client_for, channel_manager, partner_admin):
    vendor_page = client_for(channel_manager).get(reverse("home"))
    assert vendor_page.status_code == 200
    assert "Channel dashboard" in vendor_page.content.decode()
    partner_page = client_for(partner_admin).get(reverse("home"))
    assert partner_page.status_code == 200
    assert partner_admin.partner.name in partner_page.content.decode()


def test_partner_sees_only_its_own_company(client_for, partner_rep, other_partner):
    client = client_for(partner_rep)
    assert client.get(reverse("partners:detail", args=[partner_rep.partner_id])).status_code == 200
    assert client.get(reverse("partners:detail", args=[other_partner.pk])).status_code == 404


def test_login_by_email(client, channel_manager):
    response = client.post(reverse("login"), {"login": "CM@vendor.example", "password": "pass12345!"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_russian_shell(client_for, channel_manager):
    client = client_for(channel_manager)
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    assert "Панель" in client.get(reverse("home")).content.decode()


def test_channel_dashboard_counters_are_shared_for_the_cache_period(client_for, channel_manager, settings):
    from tests.leads.factories import LeadFactory

    settings.PRM_DASHBOARD_CACHE_SECONDS = 60
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dash"}}
    from django.core.cache import cache

    cache.clear()
    client = client_for(channel_manager)
    first = client.get(reverse("home"))
    assert "Counted at" in first.content.decode()
    before = first.context["open_deals"]
    LeadFactory(stage="registered")
    assert client.get(reverse("home")).context["open_deals"] == before  # counted once per minute
    cache.clear()
    assert client.get(reverse("home")).context["open_deals"] == before + 1
