"""Requests to the vendor through /api/v1/vendor-requests/: a partner's CRM opens and follows its own, the vendor
answers and moves them — the portal's services, so the outcome is the same whatever the door (issue 20, 9)."""

import pytest
from django.urls import reverse

from partners.enablement.models import PartnerRequest, RequestStatus
from prm.models import AuditEvent, Notification, NotificationKind

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _memory_storage(settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


@pytest.fixture
def managed(partner_admin, channel_manager):
    partner_admin.partner.account_manager = channel_manager
    partner_admin.partner.save()
    return partner_admin


@pytest.mark.parametrize("door", ["portal", "api"])
def test_opening_a_request_is_the_same_whatever_the_door(door, managed, channel_manager, client_for, api, make_key):
    body = {"category": "technical", "subject": "Cluster down", "body": "Node 3 does not start."}
    if door == "portal":
        response = client_for(managed).post(reverse("enablement:request_create"), body)
    else:
        response = api(make_key(managed)[1]).post("/api/v1/vendor-requests/", body, format="json")
    assert response.status_code in (201, 302)
    req = PartnerRequest.objects.get()
    assert (req.partner, req.opened_by, req.owner, req.status) == (
        managed.partner,
        managed,
        channel_manager,
        RequestStatus.OPEN,
    )
    assert req.response_due_at <= req.resolution_due_at  # the vendor's SLA, in business hours
    assert [m.body for m in req.messages.all()] == ["Node 3 does not start."]
    assert AuditEvent.objects.filter(action="request.opened", object_id=str(req.pk)).count() == 1
    assert Notification.objects.filter(user=channel_manager, kind=NotificationKind.REQUEST_UPDATED).count() == 1


def test_the_conversation_and_status_flow_through_the_api(managed, vendor_admin, api, make_key, key_b):
    partner = api(make_key(managed)[1])
    vendor = api(make_key(vendor_admin)[1])
    opened = partner.post(
        "/api/v1/vendor-requests/",
        {"category": "presales", "subject": "Sizing", "body": "500 users?"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="open-1",
    )
    replay = partner.post(
        "/api/v1/vendor-requests/",
        {"category": "presales", "subject": "Sizing", "body": "500 users?"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="open-1",
    )
    assert opened.status_code == replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert PartnerRequest.objects.count() == 1
    url = f"/api/v1/vendor-requests/{opened.json()['id']}/"

    answered = vendor.post(url + "messages/", {"body": "Two nodes."}, format="json").json()
    assert answered["status"] == RequestStatus.ANSWERED and answered["responded_at"]
    assert [(m["from_vendor"], m["body"]) for m in answered["messages"]] == [
        (False, "500 users?"),
        (True, "Two nodes."),
    ]

    etag = partner.get(url)["ETag"]
    assert partner.post(url + "status/", {"status": "resolved"}, format="json", HTTP_IF_MATCH='"x"').status_code == 412
    resolved = partner.post(url + "status/", {"status": "resolved"}, format="json", HTTP_IF_MATCH=etag)
    assert resolved.status_code == 200 and resolved.json()["status"] == RequestStatus.RESOLVED
    reopened = partner.post(url + "messages/", {"body": "One more thing."}, format="json").json()
    assert reopened["status"] == RequestStatus.OPEN and reopened["resolved_at"] is None

    not_allowed = partner.post(url + "status/", {"status": "waiting"}, format="json")  # the vendor's move only
    assert not_allowed.status_code == 400 and not_allowed["Content-Type"] == PROBLEM
    assert vendor.post(url + "status/", {"status": "waiting"}, format="json").json()["status"] == "waiting"
    assert vendor.post(url + "status/", {"status": "closed"}, format="json").json()["status"] == "closed"
    closed = partner.post(url + "messages/", {"body": "Hello?"}, format="json")
    assert closed.status_code == 400 and closed["Content-Type"] == PROBLEM

    # Tenancy: the other partner neither lists nor reaches it; the vendor opens none.
    assert api(key_b).get("/api/v1/vendor-requests/").json()["results"] == []
    assert api(key_b).post(url + "messages/", {"body": "hi"}, format="json").status_code == 404
    refused = vendor.post("/api/v1/vendor-requests/", {"category": "mdf", "subject": "x", "body": "x"}, format="json")
    assert refused.status_code == 403 and refused["Content-Type"] == PROBLEM
    in_russian = vendor.post(
        "/api/v1/vendor-requests/", {"category": "mdf", "subject": "x", "body": "x"}, HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert "ключ партнёра" in in_russian.json()["detail"]  # in the reader's language


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "nonsense", "subject": "x", "body": "x"}, "category"),
        ({"category": "technical", "subject": "", "body": "x"}, "subject"),
        ({"category": "technical", "subject": "x" * 201, "body": "x"}, "subject"),
        ({"category": "technical", "subject": "x"}, "body"),
    ],
)
def test_bad_requests_are_400_problems_naming_the_field(body, field, managed, api, make_key):
    response = api(make_key(managed)[1]).post("/api/v1/vendor-requests/", body, format="json")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]
    assert not PartnerRequest.objects.exists()


def test_the_list_costs_the_same_queries_at_two_sizes(managed, api, make_key, django_assert_max_num_queries):
    client = api(make_key(managed)[1])
    for size in (2, 12):
        while PartnerRequest.objects.count() < size:
            client.post(
                "/api/v1/vendor-requests/", {"category": "technical", "subject": "s", "body": "b"}, format="json"
            )
        with django_assert_max_num_queries(12):
            assert len(client.get("/api/v1/vendor-requests/").json()["results"]) == size
