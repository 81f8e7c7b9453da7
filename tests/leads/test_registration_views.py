from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Registration, RegistrationStatus
from tests.leads.factories import valid_inn
from tests.partners.factories import PartnerFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db


def form_data(**over):
    data = {
        "customer_name": "ООО «Ромашка»",
        "tax_id": "7701234560",
        "website": "romashka.ru",
        "contact_name": "Ivan Petrov",
        "contact_email": "ivan@romashka.ru",
        "title": "ERP licences",
        "products": "ERP",
        "value": "1500000",
        "currency": "RUB",
        "expected_close": (timezone.localdate() + timedelta(days=30)).isoformat(),
        "notes": "Budget approved",
    }
    data.update(over)
    return data


def test_partner_registers_a_deal(client_for, partner_rep):
    resp = client_for(partner_rep).post(reverse("leads:deal_register"), form_data())
    reg = Registration.objects.get()
    assert resp.status_code == 302 and resp.url == reverse("leads:deal_detail", args=[reg.lead_id])
    assert reg.status == RegistrationStatus.APPROVED
    assert reg.lead.value == 1500000 and reg.lead.contact_email == "ivan@romashka.ru"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"customer_name": ""}, "customer_name"),
        ({"customer_name": "ООО «»"}, "customer_name"),
        ({"tax_id": "12"}, "tax_id"),
        ({"tax_id": "", "website": "", "contact_email": "ivan@gmail.com"}, "tax_id"),
        ({"value": "-5"}, "value"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"expected_close": "2001-01-01"}, "expected_close"),
    ],
)
def test_bad_input_shows_field_errors_and_keeps_data(client_for, partner_rep, over, field):
    resp = client_for(partner_rep).post(reverse("leads:deal_register"), form_data(**over))
    assert resp.status_code == 200
    assert field in resp.context["form"].errors
    assert "Budget approved" in resp.content.decode()  # nothing typed is lost
    assert not Lead.objects.exists()


def test_conflict_message_hides_the_other_partner(client_for, partner_rep, other_partner_rep):
    client_for(partner_rep).post(reverse("leads:deal_register"), form_data())
    client = client_for(other_partner_rep)
    resp = client.post(reverse("leads:deal_register"), form_data(title="Other deal"), follow=True)
    body = resp.content.decode()
    assert "already protected by another partner" in body
    assert partner_rep.partner.name not in body
    listing = client.get(reverse("leads:registration_list")).content.decode()
    assert "Rejected" in listing and "already protected by another partner" in listing
    assert partner_rep.partner.name not in listing and "ERP licences" not in listing


def test_engineers_and_vendor_cannot_register(client_for, partner_engineer, channel_manager):
    assert client_for(partner_engineer).get(reverse("leads:deal_register")).status_code == 403
    assert client_for(channel_manager).get(reverse("leads:deal_register")).status_code == 403


def test_anonymous_is_sent_to_login(client):
    for name in ("leads:deal_register", "leads:registration_list", "leads:registration_review"):
        resp = client.get(reverse(name))
        assert resp.status_code == 302 and "login" in resp.url


def test_my_registrations_lists_only_own(client_for, register, partner, partner_rep, other_partner, other_partner_rep):
    register(partner, partner_rep, tax_id="7701234560", title="Mine")
    register(other_partner, other_partner_rep, name="Other", tax_id="7709999995", title="Theirs")
    body = client_for(partner_rep).get(reverse("leads:registration_list")).content.decode()
    assert "Mine" in body and "Theirs" not in body


def test_vendor_sees_all_registrations_with_filters(
    client_for, channel_manager, register, partner, partner_rep, other_partner, other_partner_rep
):
    register(partner, partner_rep, tax_id="7701234560", title="Mine")
    register(other_partner, other_partner_rep, name="Other", tax_id="7709999995", title="Theirs")
    client = client_for(channel_manager)
    body = client.get(reverse("leads:registration_list")).content.decode()
    assert "Mine" in body and "Theirs" in body
    body = client.get(reverse("leads:registration_list"), {"partner": other_partner.pk}).content.decode()
    assert "Mine" not in body and "Theirs" in body
    body = client.get(reverse("leads:registration_list"), {"status": "rejected"}).content.decode()
    assert "Mine" not in body and "Theirs" not in body


def _many(register, n):
    for i in range(n):
        p = PartnerFactory()
        register(p, PartnerUserFactory(partner=p), name=f"Company {i} x", tax_id=valid_inn(i), title=f"D{i}")


@pytest.mark.parametrize("n", [2, 12])
def test_registration_list_query_count_is_constant(
    client_for, channel_manager, register, n, django_assert_max_num_queries
):
    _many(register, n)
    client = client_for(channel_manager)
    with django_assert_max_num_queries(7):
        assert client.get(reverse("leads:registration_list")).status_code == 200


@pytest.mark.parametrize("n", [2, 12])
def test_deal_list_query_count_is_constant(client_for, channel_manager, register, n, django_assert_max_num_queries):
    _many(register, n)
    client = client_for(channel_manager)
    # + the totals, the exchange rates, and the region and partner filter choices: still the same for any n.
    with django_assert_max_num_queries(10):
        assert client.get(reverse("leads:deal_list")).status_code == 200


# --- review queue ---


@pytest.fixture
def pending(register, partner, partner_rep, other_partner, other_partner_rep):
    register(partner, partner_rep, name="Romashka Plus", tax_id="7701234560", title="First deal")
    reg = register(
        other_partner, other_partner_rep, name="Romashka Plus Group", tax_id="7709999995", title="Second deal"
    )
    assert reg.status == RegistrationStatus.PENDING_REVIEW
    return reg


def test_review_queue_shows_both_registrations_side_by_side(
    client_for, channel_manager, pending, partner, other_partner
):
    body = client_for(channel_manager).get(reverse("leads:registration_review")).content.decode()
    assert "Second deal" in body and "First deal" in body
    assert partner.name in body and other_partner.name in body


# Firms whose names are not alike (the similar-name check compares every protected name, not one first word's).
FIRMS = ["Romashka", "Vasilek", "Tulpan", "Orkhideia", "Landysh", "Siren"]


@pytest.mark.parametrize("n", [1, 6])
def test_review_queue_query_count_is_constant(client_for, channel_manager, register, n, django_assert_max_num_queries):
    for i in range(n):
        a, b = PartnerFactory(), PartnerFactory()
        register(a, PartnerUserFactory(partner=a), name=f"{FIRMS[i]} Plus", tax_id=valid_inn(i))
        register(b, PartnerUserFactory(partner=b), name=f"{FIRMS[i]} Plus Group", tax_id=valid_inn(i, region="78"))
    client = client_for(channel_manager)
    with django_assert_max_num_queries(7):
        resp = client.get(reverse("leads:registration_review"))
    assert len(resp.context["pending"]) == n


def test_review_queue_is_paginated_oldest_first(client_for, channel_manager, register, monkeypatch):
    from leads.selectors import registration as selectors

    monkeypatch.setattr(selectors, "REVIEW_PAGE_SIZE", 2)
    for i in range(3):
        a, b = PartnerFactory(), PartnerFactory()
        register(a, PartnerUserFactory(partner=a), name=f"{FIRMS[i]} Plus", tax_id=valid_inn(i))
        register(b, PartnerUserFactory(partner=b), name=f"{FIRMS[i]} Plus Group", tax_id=valid_inn(i, region="78"))
    client = client_for(channel_manager)
    first = client.get(reverse("leads:registration_review"))
    last = client.get(reverse("leads:registration_review") + "?page=2")
    assert [len(first.context["pending"]), len(last.context["pending"])] == [2, 1]
    assert "page=2" in first.content.decode()
    assert first.context["pending"][0].created_at <= last.context["pending"][0].created_at


def test_partner_cannot_open_review_queue(client_for, partner_admin, pending):
    client = client_for(partner_admin)
    assert client.get(reverse("leads:registration_review")).status_code == 403
    resp = client.post(reverse("leads:registration_decide", args=[pending.pk]), {"decision": "approve", "reason": "x"})
    assert resp.status_code == 403
    pending.refresh_from_db()
    assert pending.status == RegistrationStatus.PENDING_REVIEW


def test_one_click_approve(client_for, channel_manager, pending):
    client_for(channel_manager).post(
        reverse("leads:registration_decide", args=[pending.pk]), {"decision": "approve", "reason": "Different firm"}
    )
    pending.refresh_from_db()
    assert pending.status == RegistrationStatus.APPROVED and pending.decision_reason == "Different firm"


def test_decision_without_reason_is_refused(client_for, channel_manager, pending):
    resp = client_for(channel_manager).post(
        reverse("leads:registration_decide", args=[pending.pk]), {"decision": "reject", "reason": ""}, follow=True
    )
    assert "give a reason" in resp.content.decode()
    pending.refresh_from_db()
    assert pending.status == RegistrationStatus.PENDING_REVIEW


def test_deal_page_shows_decision_to_vendor_with_matches_but_not_to_partner(
    client_for, channel_manager, pending, partner, other_partner_rep
):
    vendor_body = client_for(channel_manager).get(reverse("leads:deal_detail", args=[pending.lead_id])).content
    soft = "a similar customer is protected; sent for review"  # the rule soft_conflict, in words
    assert partner.name in vendor_body.decode() and soft in vendor_body.decode()
    partner_body = client_for(other_partner_rep).get(reverse("leads:deal_detail", args=[pending.lead_id])).content
    assert soft in partner_body.decode()  # the rule is shown
    assert partner.name not in partner_body.decode() and "First deal" not in partner_body.decode()


def test_extension_button_on_deal_page(client_for, register, partner, partner_rep):
    reg = register(partner, partner_rep, tax_id="7701234560")
    client = client_for(partner_rep)
    url = reverse("leads:deal_detail", args=[reg.lead_id])
    assert "Extend protection" not in client.get(url).content.decode()
    Lead.objects.filter(pk=reg.lead_id).update(last_activity_at=timezone.now())
    assert "Extend protection" in client.get(url).content.decode()
    client.post(reverse("leads:registration_extend", args=[reg.lead_id]))
    reg.refresh_from_db()
    assert reg.extended
