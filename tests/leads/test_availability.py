import pytest
from django.urls import reverse

from leads.models import AvailabilityCheck, AvailabilityResult
from leads.services.conflict import RateLimited, availability_check
from tests.leads.factories import CustomerFactory

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "availability-tests"}}


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.CACHES = LOCMEM
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def protected(register, other_partner_rep):
    reg = register(other_partner_rep.partner, other_partner_rep, name="ООО Ромашка Трейд", tax_id="7701234567",
                   website="romashka.ru")  # fmt: skip
    assert reg.status == "approved"
    return reg


@pytest.mark.django_db
class TestResults:
    def test_free(self, partner_rep):
        check = availability_check(user=partner_rep, tax_id="5000000001", name="Nobody Ltd")
        assert check.result == AvailabilityResult.FREE

    def test_protected_by_tax_id_and_by_email_domain(self, partner_rep, protected):
        assert availability_check(user=partner_rep, tax_id="77 0123 4567").result == AvailabilityResult.PROTECTED
        assert availability_check(user=partner_rep, domain="ivan@romashka.ru").result == AvailabilityResult.PROTECTED

    def test_own_protection_is_free_for_the_holder(self, other_partner_rep, protected):
        assert availability_check(user=other_partner_rep, tax_id="7701234567").result == AvailabilityResult.FREE

    def test_reserved_for_direct(self, partner_rep):
        CustomerFactory(name="Gazprom", tax_id="7736050003", reserved_for_direct=True)
        assert availability_check(user=partner_rep, tax_id="7736050003").result == AvailabilityResult.RESERVED

    def test_similar_name_is_soft(self, partner_rep, protected):
        assert availability_check(user=partner_rep, name="Ромашка Трейд АО").result == AvailabilityResult.SIMILAR

    def test_every_check_is_logged_normalised(self, partner_rep, protected):
        availability_check(user=partner_rep, tax_id=" 7701-234-567 ", domain="https://www.Romashka.ru/about")
        row = AvailabilityCheck.objects.get()
        assert (row.user, row.partner, row.tax_id, row.domain) == (
            partner_rep,
            partner_rep.partner,
            "7701234567",
            "romashka.ru",
        )
        assert row.result == AvailabilityResult.PROTECTED


@pytest.mark.django_db
class TestRateLimit:
    def test_over_the_limit_raises_and_is_not_logged(self, settings, partner_rep):
        settings.PRM_AVAILABILITY_RATE = 3
        for i in range(3):
            availability_check(user=partner_rep, name=f"Company {i}")
        with pytest.raises(RateLimited):
            availability_check(user=partner_rep, name="Company 4")
        assert AvailabilityCheck.objects.count() == 3

    def test_limit_is_per_user(self, settings, partner_rep, other_partner_rep):
        settings.PRM_AVAILABILITY_RATE = 1
        availability_check(user=partner_rep, name="Company")
        availability_check(user=other_partner_rep, name="Company")  # not limited by the other user's use

    def test_htmx_gets_429_with_a_message(self, settings, client_for, partner_rep):
        settings.PRM_AVAILABILITY_RATE = 1
        client = client_for(partner_rep)
        url = reverse("leads:availability")
        ok = client.post(url, {"name": "Company"}, HTTP_HX_REQUEST="true")
        assert ok.status_code == 200 and 'data-result="free"' in ok.content.decode()
        over = client.post(url, {"name": "Company"}, HTTP_HX_REQUEST="true")
        assert over.status_code == 429
        assert "Too many availability checks" in over.content.decode()


@pytest.mark.django_db
class TestViews:
    def test_protected_answer_hides_holder_and_dates(self, client_for, partner_rep, protected):
        resp = client_for(partner_rep).post(reverse("leads:availability"), {"tax_id": "7701234567"})
        html = resp.content.decode()
        assert resp.status_code == 200
        assert "already protected by another partner" in html
        assert protected.partner.name not in html
        assert protected.protected_until.strftime("%Y-%m-%d") not in html

    def test_empty_form_shows_error(self, client_for, partner_rep):
        resp = client_for(partner_rep).post(reverse("leads:availability"), {})
        assert resp.status_code == 200 and "Enter a tax id" in resp.content.decode()
        assert not AvailabilityCheck.objects.exists()

    def test_registration_page_has_the_check(self, client_for, partner_rep):
        html = client_for(partner_rep).get(reverse("leads:deal_register")).content.decode()
        assert 'id="availability-result"' in html

    def test_access(self, client_for, client, partner_engineer, channel_manager, partner_rep):
        url = reverse("leads:availability")
        assert client.get(url).status_code == 302
        assert client_for(partner_engineer).get(url).status_code == 403
        assert client_for(channel_manager).get(url).status_code == 403

    def test_vendor_log_with_filters(self, client_for, channel_manager, partner_rep, other_partner_rep, protected):
        availability_check(user=partner_rep, tax_id="7701234567")
        availability_check(user=other_partner_rep, name="Zeta Widgets")
        client = client_for(channel_manager)
        resp = client.get(reverse("leads:availability_log"), {"result": "protected"})
        assert resp.status_code == 200
        assert list(resp.context["page"]) == [AvailabilityCheck.objects.get(result="protected")]
        resp = client.get(reverse("leads:availability_log"), {"partner": other_partner_rep.partner_id})
        assert [c.user for c in resp.context["page"]] == [other_partner_rep]

    def test_partner_cannot_see_log(self, client_for, partner_rep):
        assert client_for(partner_rep).get(reverse("leads:availability_log")).status_code == 403
