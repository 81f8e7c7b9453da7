"""Customer check-ins over the API: read-only for partner keys, scoped, cursor-paged, in the change feed, and the
webhook `checkin.received` when the customer answers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.delivery import checkins
from leads.delivery.models import CheckIn
from leads.delivery.services import implementation_open, implementation_sign_off
from prm.models import WebhookDelivery
from prm.webhooks import webhook_subscribe
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _live(partner, actor, *, days_ago=31):
    lead = LeadFactory(partner=partner, stage="won", won_at=timezone.now() - timedelta(days=days_ago + 30))
    implementation = implementation_open(lead=lead, actor=actor)
    implementation_sign_off(implementation=implementation, name="Ivan", at=timezone.now() - timedelta(days=days_ago))
    return implementation


@pytest.fixture
def answered(partner_admin):
    implementation = _live(partner_admin.partner, partner_admin)
    checkins.checkins_create_due()
    checkin = CheckIn.objects.get(implementation=implementation)
    checkins.checkin_answer(checkin=checkin, rating=4, comment="Quick engineers", author_name="Olga")
    return CheckIn.objects.get(pk=checkin.pk)


def test_a_partner_key_reads_its_checkins_without_the_token(api, key_a, answered):
    body = api(key_a).get("/api/v1/checkins/").json()
    assert [r["id"] for r in body["results"]] == [answered.pk]
    row = body["results"][0]
    assert (row["rating"], row["comment"], row["answered"], row["day"]) == (4, "Quick engineers", True, 30)
    assert row["customer"] == answered.implementation.customer_id and row["lead"] == answered.implementation.lead_id
    assert "token" not in row and answered.token not in str(body)
    detail = api(key_a).get(f"/api/v1/checkins/{answered.pk}/")
    assert detail.status_code == 200 and detail["ETag"]


def test_another_partners_key_sees_nothing_and_gets_404(api, key_b, answered):
    client = api(key_b)
    assert client.get("/api/v1/checkins/").json()["results"] == []
    response = client.get(f"/api/v1/checkins/{answered.pk}/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/problem+json")


def test_the_scope_is_required_and_writes_are_not_allowed(api, make_key, partner_admin, answered):
    _key, raw = make_key(partner_admin, scopes=["tickets:read"])
    assert api(raw).get("/api/v1/checkins/").status_code == 403
    _key, raw = make_key(partner_admin, scopes=["checkins:read", "checkins:write"])
    client = api(raw)
    assert client.get("/api/v1/checkins/").status_code == 200
    assert client.post("/api/v1/checkins/", {"rating": 5}, format="json").status_code == 405
    assert client.patch(f"/api/v1/checkins/{answered.pk}/", {"rating": 1}, format="json").status_code == 405
    answered.refresh_from_db()
    assert answered.rating == 4


def test_cursor_pages_filters_and_updated_since(api, key_a, partner_admin):
    for days in (31, 32, 33):
        _live(partner_admin.partner, partner_admin, days_ago=days)
    checkins.checkins_create_due()
    first = CheckIn.objects.order_by("pk").first()
    checkins.checkin_answer(checkin=first, rating=5)
    client = api(key_a)
    page = client.get("/api/v1/checkins/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = client.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    ids = {r["id"] for r in page["results"] + rest["results"]}
    assert ids == set(CheckIn.objects.values_list("pk", flat=True))
    assert [r["id"] for r in client.get("/api/v1/checkins/?answered=true").json()["results"]] == [first.pk]
    assert len(client.get("/api/v1/checkins/?answered=false").json()["results"]) == 2
    since = CheckIn.objects.get(pk=first.pk).updated_at.isoformat()
    assert [r["id"] for r in client.get("/api/v1/checkins/", {"updated_since": since}).json()["results"]] == [first.pk]
    assert client.get("/api/v1/checkins/?cursor=nonsense").status_code == 400


def test_an_answer_appears_in_the_change_feed_and_sends_checkin_received(api, key_a, partner_admin, make_key):
    key, _raw = make_key(partner_admin)
    webhook_subscribe(api_key=key, url="http://127.0.0.1:9/hook", events=["checkin.received"], actor=partner_admin)
    implementation = _live(partner_admin.partner, partner_admin)
    checkins.checkins_create_due()
    checkin = CheckIn.objects.get(implementation=implementation)
    client = api(key_a)
    feed = client.get("/api/v1/changes/").json()
    cursor = feed["next_cursor"]
    checkins.checkin_answer(checkin=checkin, rating=2, comment="Slow")
    payload = WebhookDelivery.objects.get(event="checkin.received").payload
    assert payload["data"]["implementation"] == implementation.pk and payload["data"]["rating"] == 2
    after = client.get("/api/v1/changes/", {"since": cursor}).json()
    rows = [r for r in after["results"] if r["resource"] == "checkins"]
    assert rows and rows[-1]["id"] == checkin.pk and rows[-1]["data"]["rating"] == 2
