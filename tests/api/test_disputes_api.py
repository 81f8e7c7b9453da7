"""Disputes through /api/v1/disputes/: a partner's CRM opens and follows its own, a vendor key decides — with the
portal's services, so the outcome is the same whatever the door (issue 20, 9)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Dispute, DisputeStatus, RegistrationStatus
from leads.services.registration import CustomerData, DealData, deal_register
from prm.models import AuditEvent, Notification, NotificationKind

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _register(partner, user, title):
    return deal_register(
        partner=partner,
        submitted_by=user,
        customer=CustomerData(name="ООО Ромашка", tax_id="7701234567"),
        deal=DealData(title=title, value=Decimal("500000"), expected_close=timezone.localdate() + timedelta(days=60)),
    )


@pytest.fixture
def contested(partner_admin, other_partner_rep, channel_manager):
    """Partner B holds the customer; partner A's registration of it was rejected."""
    held = _register(other_partner_rep.partner, other_partner_rep, "Holder secret deal")
    own = _register(partner_admin.partner, partner_admin, "Our deal")
    assert (held.status, own.status) == (RegistrationStatus.APPROVED, RegistrationStatus.REJECTED)
    return {"held": held, "own": own}


def _open(door, contested, partner_admin, client_for, api, key, **extra):
    body = {
        "registration": contested["own"].pk,
        "first_contact_date": (timezone.localdate() - timedelta(days=40)).isoformat(),
        "description": "We met them at a conference in spring.",
        **extra,
    }
    if door == "portal":
        return client_for(partner_admin).post(reverse("leads:dispute_new"), body)
    return api(key).post("/api/v1/disputes/", body, format="json")


@pytest.mark.parametrize("door", ["portal", "api"])
def test_opening_a_dispute_is_the_same_whatever_the_door(
    door, contested, partner_admin, channel_manager, client_for, api, make_key
):
    response = _open(door, contested, partner_admin, client_for, api, make_key(partner_admin)[1])
    assert response.status_code in (201, 302)
    dispute = Dispute.objects.get()
    assert (dispute.partner, dispute.opened_by, dispute.registration) == (
        partner_admin.partner,
        partner_admin,
        contested["own"],
    )
    assert dispute.held_registration == contested["held"]  # found by the service, whatever the door
    assert dispute.status == DisputeStatus.OPEN and dispute.due_at > timezone.now()
    assert AuditEvent.objects.filter(action="dispute.opened", object_id=str(dispute.pk)).count() == 1
    assert Notification.objects.filter(user=channel_manager, kind=NotificationKind.REVIEW_QUEUE).count() == 1


@pytest.mark.parametrize("door", ["portal", "api"])
def test_deciding_a_dispute_is_the_same_whatever_the_door(
    door, contested, partner_admin, vendor_admin, client_for, api, make_key
):
    _open("api", contested, partner_admin, client_for, api, make_key(partner_admin)[1])
    dispute = Dispute.objects.get()
    body = {"outcome": "transfer", "reason": "Their evidence is older."}
    if door == "portal":
        response = client_for(vendor_admin).post(reverse("leads:dispute_decide", args=[dispute.pk]), body)
    else:
        response = api(make_key(vendor_admin)[1]).post(f"/api/v1/disputes/{dispute.pk}/decide/", body, format="json")
    assert response.status_code in (200, 302)
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome, dispute.decided_by) == ("decided", "transfer", vendor_admin)
    contested["held"].refresh_from_db()
    contested["own"].refresh_from_db()
    assert contested["held"].status == RegistrationStatus.EXPIRED
    assert contested["own"].status == RegistrationStatus.APPROVED
    assert AuditEvent.objects.filter(action="dispute.transfer", object_id=str(dispute.pk)).count() == 1


def test_partner_keys_see_their_own_disputes_only_and_never_the_other_side(
    contested, partner_admin, other_partner_rep, vendor_admin, client_for, api, make_key, key_b
):
    mine = api(make_key(partner_admin)[1])
    created = mine.post(
        "/api/v1/disputes/",
        {"customer_name": "Kama Retail", "first_contact_date": "2026-01-10", "description": "First met in January."},
        format="json",
    )
    assert created.status_code == 201, created.content
    _open("api", contested, partner_admin, client_for, api, make_key(partner_admin)[1])
    on_registration = Dispute.objects.get(registration=contested["own"])

    listed = mine.get("/api/v1/disputes/").json()["results"]
    assert sorted(d["id"] for d in listed) == sorted([created.json()["id"], on_registration.pk])
    assert all(d["held_registration"] is None for d in listed)  # who holds the customer is the vendor's to see
    assert api(key_b).get("/api/v1/disputes/").json()["results"] == []
    foreign = api(key_b).get(f"/api/v1/disputes/{on_registration.pk}/")
    assert foreign.status_code == 404 and foreign["Content-Type"] == PROBLEM

    vendor_view = api(make_key(vendor_admin)[1]).get(f"/api/v1/disputes/{on_registration.pk}/").json()
    assert vendor_view["held_registration"] == contested["held"].pk

    feed = mine.get("/api/v1/changes/", {"limit": 1000}).json()["results"]
    assert {("disputes", on_registration.pk)} <= {(c["resource"], c["id"]) for c in feed}
    assert all(c["data"]["held_registration"] is None for c in feed if c["resource"] == "disputes")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_contact_date": "2099-01-01", "description": "x", "customer_name": "Kama"}, "first_contact_date"),
        ({"first_contact_date": "2026-01-10", "description": "x"}, "customer_name"),
        ({"first_contact_date": "2026-01-10", "description": "", "customer_name": "Kama"}, "description"),
        ({"first_contact_date": "not a date", "description": "x", "customer_name": "Kama"}, "first_contact_date"),
    ],
)
def test_bad_disputes_are_400_problems_naming_the_field(body, field, partner_admin, api, make_key):
    response = api(make_key(partner_admin)[1]).post("/api/v1/disputes/", body, format="json")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]
    assert not Dispute.objects.exists()


def test_a_dispute_on_another_partners_registration_is_refused(contested, other_partner_rep, api, key_b):
    """Partner B's key naming A's registration: "not one of yours", and nothing is opened."""
    response = api(key_b).post(
        "/api/v1/disputes/",
        {"registration": contested["own"].pk, "first_contact_date": "2026-01-10", "description": "Ours."},
        format="json",
    )
    assert response.status_code == 400 and "registration" in response.json()["errors"]
    assert not Dispute.objects.exists()


def test_only_vendor_keys_decide_and_decisions_honour_if_match_and_idempotency(
    contested, partner_admin, vendor_admin, client_for, api, make_key
):
    partner_client = api(make_key(partner_admin)[1])
    _open("api", contested, partner_admin, client_for, api, make_key(partner_admin)[1])
    dispute = Dispute.objects.get()
    url = f"/api/v1/disputes/{dispute.pk}/"
    body = {"outcome": "uphold", "reason": "The holder was first."}

    refused = partner_client.post(url + "decide/", body, format="json")
    assert refused.status_code == 403 and refused["Content-Type"] == PROBLEM
    opened_by_vendor = api(make_key(vendor_admin)[1]).post(
        "/api/v1/disputes/", {"customer_name": "X", "first_contact_date": "2026-01-10", "description": "x"}
    )
    assert opened_by_vendor.status_code == 403  # disputes are opened by partners

    vendor = api(make_key(vendor_admin)[1])
    etag = vendor.get(url)["ETag"]
    assert vendor.post(url + "decide/", body, format="json", HTTP_IF_MATCH='"stale"').status_code == 412
    first = vendor.post(url + "decide/", body, format="json", HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="d-1")
    again = vendor.post(url + "decide/", body, format="json", HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="d-1")
    assert first.status_code == again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == "decided" and first.json()["outcome"] == "uphold"
    twice = vendor.post(url + "decide/", body, format="json")
    assert twice.status_code == 400 and twice["Content-Type"] == PROBLEM
    assert AuditEvent.objects.filter(action="dispute.uphold").count() == 1

    cosell_without_share = api(make_key(vendor_admin)[1])
    dispute2 = Dispute.objects.create(
        partner=partner_admin.partner,
        held_registration=contested["held"],
        customer_name="Y",
        first_contact_date=timezone.localdate(),
        description="y",
        due_at=timezone.now(),
    )
    missing = cosell_without_share.post(
        f"/api/v1/disputes/{dispute2.pk}/decide/", {"outcome": "cosell", "reason": "Split"}, format="json"
    )
    assert missing.status_code == 400 and "share" in missing.json()["errors"]


def test_the_decision_reaches_the_disputing_partners_crm_only(contested, partner_admin, vendor_admin, api, make_key):
    """`dispute.decided` goes to the partner that disputed, whatever the door decided it; the holder's CRM hears
    nothing (it must not learn who disputed its customer)."""
    from leads.services.conflict import dispute_decide
    from prm.models import ApiKey, WebhookDelivery, WebhookSubscription
    from tests.prm.factories import PartnerUserFactory

    holder_admin = PartnerUserFactory(role="partner_admin", partner=contested["held"].partner)
    subs = {}
    for name, user in (("disputer", partner_admin), ("holder", holder_admin)):
        make_key(user)
        subs[name] = WebhookSubscription.objects.create(
            api_key=ApiKey.objects.filter(created_by=user).latest("pk"),
            url="https://crm.example/hook",
            events=["dispute.decided"],
            secret="s",
        )
    api(make_key(partner_admin)[1]).post(
        "/api/v1/disputes/",
        {"registration": contested["own"].pk, "first_contact_date": "2026-01-10", "description": "First."},
        format="json",
    )
    dispute = Dispute.objects.get()
    dispute_decide(dispute=dispute, actor=vendor_admin, outcome="cosell", reason="Both worked it.", share=Decimal("40"))

    [delivery] = WebhookDelivery.objects.filter(subscription=subs["disputer"])
    assert delivery.event == "dispute.decided"
    data = delivery.payload["data"]
    assert (data["dispute"], data["registration"], data["outcome"]) == (dispute.pk, contested["own"].pk, "cosell")
    assert data["cosell_share"] == "40.00"
    assert not WebhookDelivery.objects.filter(subscription=subs["holder"]).exists()


def test_a_partner_key_whose_creator_is_not_its_staff_cannot_open(contested, vendor_admin, partner, api, make_key):
    """A vendor admin's key for partner A acts as the vendor admin: it reads A's disputes, but opening one needs a
    user of A (the service's opener), so it is a 403 naming the remedy, and nothing is opened."""
    client = api(make_key(vendor_admin, partner=partner)[1])
    response = client.post(
        "/api/v1/disputes/",
        {"customer_name": "Kama", "first_contact_date": "2026-01-10", "description": "x"},
        format="json",
    )
    assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    assert "re-assign" in response.json()["detail"]
    assert not Dispute.objects.exists()
    assert client.get("/api/v1/disputes/").status_code == 200
