import datetime
import threading
from datetime import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kpi.models import KpiSnapshot
from partners.enablement import selectors, services
from partners.enablement.models import PartnerRequest, RequestCategory, RequestMessage, RequestStatus, VendorSla
from prm.models import AuditEvent, Notification, NotificationKind, Role
from tests.partners.factories import PartnerFactory
from tests.prm.factories import UserFactory

from .factories import PartnerRequestFactory

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
def sla(db):
    return VendorSla.objects.create(
        category=RequestCategory.TECHNICAL,
        response_hours=Decimal("4"),
        resolution_hours=Decimal("16"),
        timezone="Europe/Moscow",
        country="RU",
        work_start=time(9),
        work_end=time(18),
    )


def open_at(moment, user, monkeypatch, **kwargs):
    monkeypatch.setattr("partners.enablement.services.timezone.now", lambda: moment)
    params = {"category": RequestCategory.TECHNICAL, "subject": "Install fails", "body": "Error 42"} | kwargs
    return services.request_open(actor=user, **params)


def test_deadlines_in_business_hours_across_a_weekend(sla, partner_rep, channel_manager, monkeypatch):
    friday = datetime.datetime(2026, 11, 27, 17, 0, tzinfo=MSK)
    req = open_at(friday, partner_rep, monkeypatch)
    assert req.response_due_at == datetime.datetime(2026, 11, 30, 12, 0, tzinfo=MSK)
    # 16 h: Fri 1 h + Mon 9 h + Tue 6 h -> Tuesday 15:00.
    assert req.resolution_due_at == datetime.datetime(2026, 12, 1, 15, 0, tzinfo=MSK)


def test_deadlines_skip_a_public_holiday(sla, partner_rep, channel_manager, monkeypatch):
    req = open_at(datetime.datetime(2026, 6, 11, 17, 0, tzinfo=MSK), partner_rep, monkeypatch)
    assert req.response_due_at == datetime.datetime(2026, 6, 15, 12, 0, tzinfo=MSK)


def test_default_sla_applies_without_a_published_one(partner_rep, channel_manager, monkeypatch):
    req = open_at(datetime.datetime(2026, 11, 24, 9, 0, tzinfo=MSK), partner_rep, monkeypatch)
    assert req.response_due_at == datetime.datetime(2026, 11, 24, 17, 0, tzinfo=MSK)  # 8 h


def test_owner_is_the_account_manager(partner, partner_rep, channel_manager):
    UserFactory(role=Role.CHANNEL_MANAGER, is_channel_lead=True)
    partner.account_manager = channel_manager
    partner.save()
    req = services.request_open(actor=partner_rep, category="presales", subject="Demo", body="Need a demo")
    assert req.owner == channel_manager
    assert Notification.objects.filter(user=channel_manager, kind=NotificationKind.REQUEST_UPDATED).exists()


def test_owner_falls_back_to_a_channel_lead_then_any_channel_manager(partner_rep):
    manager = UserFactory(role=Role.CHANNEL_MANAGER)
    assert services.request_default_owner(partner=partner_rep.partner) == manager
    lead = UserFactory(role=Role.CHANNEL_MANAGER, is_channel_lead=True)
    assert services.request_default_owner(partner=partner_rep.partner) == lead
    inactive = UserFactory(role=Role.CHANNEL_MANAGER, is_active=False)
    partner_rep.partner.account_manager = inactive
    assert services.request_default_owner(partner=partner_rep.partner) == lead


def test_conversation_status_flow_and_first_response(client_for, partner_rep, channel_manager):
    partner_rep.partner.account_manager = channel_manager
    partner_rep.partner.save()
    partner_client = client_for(partner_rep)
    response = partner_client.post(
        reverse("enablement:request_create"),
        {
            "category": "technical",
            "subject": "Cluster down",
            "body": "Help",
            "attachment": SimpleUploadedFile("log.zip", b"PK"),
        },
    )
    req = PartnerRequest.objects.get()
    assert response.status_code == 302 and req.status == RequestStatus.OPEN and req.responded_at is None
    assert req.messages.get().attachment.name.endswith(".zip")

    vendor_client = client_for(channel_manager)
    vendor_client.post(reverse("enablement:request_detail", args=[req.pk]), {"body": "Looking into it"})
    req.refresh_from_db()
    first_response = req.responded_at
    assert req.status == RequestStatus.ANSWERED and first_response is not None
    vendor_client.post(reverse("enablement:request_transition", args=[req.pk]), {"status": "waiting"})
    vendor_client.post(reverse("enablement:request_detail", args=[req.pk]), {"body": "Send logs please"})
    req.refresh_from_db()
    assert req.status == RequestStatus.WAITING and req.responded_at == first_response

    partner_client = client_for(partner_rep)
    partner_client.post(reverse("enablement:request_detail", args=[req.pk]), {"body": "Here"})
    req.refresh_from_db()
    assert req.status == RequestStatus.OPEN
    client_for(channel_manager).post(reverse("enablement:request_transition", args=[req.pk]), {"status": "resolved"})
    req.refresh_from_db()
    assert req.status == RequestStatus.RESOLVED and req.resolved_at is not None
    assert Notification.objects.filter(user=partner_rep, kind=NotificationKind.REQUEST_UPDATED).count() >= 2

    page = client_for(partner_rep).get(reverse("enablement:request_detail", args=[req.pk]))
    assert page.status_code == 200
    assert [m.body for m in page.context["conversation"]] == ["Help", "Looking into it", "Send logs please", "Here"]
    actions = {e.action for e in page.context["audit"]}
    assert {"request.opened", "request.message", "request.status"} <= actions


def test_invalid_transition_changes_nothing(partner_rep, channel_manager):
    req = PartnerRequestFactory(partner=partner_rep.partner, status=RequestStatus.CLOSED)
    with pytest.raises(Exception, match="cannot move"):
        services.request_transition(actor=channel_manager, request=req, status=RequestStatus.WAITING)
    req.refresh_from_db()
    assert req.status == RequestStatus.CLOSED


def test_bad_attachment_is_a_field_error_and_nothing_is_saved(client_for, partner_rep, channel_manager):
    response = client_for(partner_rep).post(
        reverse("enablement:request_create"),
        {"category": "technical", "subject": "x", "body": "y", "attachment": SimpleUploadedFile("x.exe", b"MZ")},
    )
    assert response.status_code == 200 and response.context["form"].errors["attachment"]
    assert not PartnerRequest.objects.exists()
    req = PartnerRequestFactory(partner=partner_rep.partner)
    response = client_for(partner_rep).post(
        reverse("enablement:request_detail", args=[req.pk]),
        {"body": "y", "attachment": SimpleUploadedFile("a.js", b"1")},
    )
    assert response.status_code == 200 and response.context["form"].errors["attachment"]
    assert not RequestMessage.objects.exists()


def test_another_partners_request_is_404(client_for, partner_rep, other_partner_rep):
    mine = PartnerRequestFactory(partner=partner_rep.partner)
    theirs = PartnerRequestFactory(partner=other_partner_rep.partner)
    client = client_for(partner_rep)
    assert client.get(reverse("enablement:request_detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("enablement:request_detail", args=[theirs.pk]), {"body": "x"}).status_code == 404
    assert (
        client.post(reverse("enablement:request_transition", args=[theirs.pk]), {"status": "closed"}).status_code == 404
    )
    listed = client.get(reverse("enablement:requests")).context["requests"]
    assert [r.pk for r in listed] == [mine.pk]


def test_vendor_pages_are_forbidden_to_partners(client_for, partner_admin):
    client = client_for(partner_admin)
    assert client.get(reverse("enablement:vendor_sla")).status_code == 403
    req = PartnerRequestFactory(partner=partner_admin.partner)
    assert (
        client.post(reverse("enablement:request_assign", args=[req.pk]), {"owner": partner_admin.pk}).status_code == 403
    )


# --- Escalation ----------------------------------------------------------------------------------------------


@pytest.fixture
def leads(db):
    return [UserFactory(role=Role.CHANNEL_MANAGER, is_channel_lead=True) for _ in range(2)]


def test_escalation_selects_only_overdue_unescalated_active_requests(partner, leads):
    now = timezone.now()
    past, future = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1)
    no_response = PartnerRequestFactory(partner=partner, response_due_at=past, resolution_due_at=future)
    no_resolution = PartnerRequestFactory(
        partner=partner, response_due_at=past - datetime.timedelta(hours=5), resolution_due_at=past, responded_at=past
    )
    PartnerRequestFactory(
        partner=partner, response_due_at=past, resolution_due_at=future, responded_at=past
    )  # answered
    PartnerRequestFactory(partner=partner, response_due_at=future, resolution_due_at=future)  # not due
    PartnerRequestFactory(partner=partner, response_due_at=past, resolution_due_at=past, status=RequestStatus.RESOLVED)
    PartnerRequestFactory(partner=partner, response_due_at=past, resolution_due_at=past, escalated_at=past)
    assert set(selectors.requests_overdue(now=now)) == {no_response, no_resolution}


def test_escalation_twice_notifies_once(partner, leads, channel_manager):
    past = timezone.now() - datetime.timedelta(hours=1)
    req = PartnerRequestFactory(partner=partner, owner=channel_manager, response_due_at=past, resolution_due_at=past)
    assert services.requests_escalate() == 1
    assert services.requests_escalate() == 0
    from partners.enablement.tasks import requests_escalate

    assert requests_escalate.delay().get() == 0
    notes = Notification.objects.filter(kind=NotificationKind.ESCALATION)
    assert sorted(notes.values_list("user_id", flat=True)) == sorted([u.pk for u in leads] + [channel_manager.pk])
    req.refresh_from_db()
    assert req.escalated_at is not None
    assert AuditEvent.objects.filter(action="request.escalated", object_id=str(req.pk)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_escalation_workers_escalate_each_request_once(postgres_only):
    lead = UserFactory(role=Role.CHANNEL_MANAGER, is_channel_lead=True)
    partner = PartnerFactory()
    past = timezone.now() - datetime.timedelta(hours=1)
    for _ in range(10):
        PartnerRequestFactory(partner=partner, response_due_at=past, resolution_due_at=past)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(services.requests_escalate(batch=5))
            results.append(services.requests_escalate(batch=5))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(results) == 10
    assert Notification.objects.filter(user=lead, kind=NotificationKind.ESCALATION).count() == 10


# --- Vendor SLA report ---------------------------------------------------------------------------------------


def test_vendor_sla_report_figures(partner):
    now = timezone.now()
    h = datetime.timedelta(hours=1)

    def make(category, created_ago, response_due_in, responded_after=None, resolved_after=None, resolution_due_in=None):
        created = now - created_ago
        req = PartnerRequestFactory(
            partner=partner,
            category=category,
            response_due_at=created + response_due_in,
            resolution_due_at=created + (resolution_due_in or response_due_in),
            responded_at=created + responded_after if responded_after else None,
            resolved_at=created + resolved_after if resolved_after else None,
        )
        PartnerRequest.objects.filter(pk=req.pk).update(created_at=created)

    # Technical: answered in 1 h (ok), answered in 3 h after a 2 h deadline (late), unanswered and overdue (late).
    make("technical", 10 * h, 2 * h, responded_after=1 * h, resolved_after=5 * h, resolution_due_in=8 * h)
    make("technical", 10 * h, 2 * h, responded_after=3 * h, resolved_after=9 * h, resolution_due_in=8 * h)
    make("technical", 10 * h, 2 * h)
    # Commercial: answered in 2 h within 4 h; not due yet for resolution.
    make("commercial", 3 * h, 4 * h, responded_after=2 * h, resolution_due_in=40 * h)
    # Outside the window: ignored.
    make("commercial", datetime.timedelta(days=120), 2 * h)

    report = selectors.vendor_sla_report(now=now)
    assert report["overall"] == {
        "total": 4,
        "response_pct": 50.0,  # 2 of 4 on time
        "resolution_pct": 33.3,  # 1 of 3 due (two resolved, one overdue)
        "median_response_minutes": 120.0,  # 60, 120, 180
    }
    by_category = {c["category"]: c for c in report["categories"]}
    assert by_category["Technical help"]["response_pct"] == 33.3
    assert by_category["Technical help"]["median_response_minutes"] == 120.0
    assert by_category["Commercial question"] == {
        "category": "Commercial question",
        "total": 1,
        "response_pct": 100.0,
        "resolution_pct": None,
        "median_response_minutes": 120.0,
    }
    assert report["partner_sla_pct"] is None


def test_report_shows_network_partner_sla_from_latest_snapshots(client_for, channel_manager, partner, other_partner):
    today = timezone.localdate()
    KpiSnapshot.objects.create(partner=partner, date=today - datetime.timedelta(days=1), accepted_in_sla_pct=10)
    KpiSnapshot.objects.create(partner=partner, date=today, accepted_in_sla_pct=80)
    KpiSnapshot.objects.create(partner=other_partner, date=today, accepted_in_sla_pct=90)
    page = client_for(channel_manager).get(reverse("enablement:vendor_sla"))
    assert page.context["report"]["partner_sla_pct"] == {"date": today, "pct": 85.0}
    assert b"85.0%" in page.content


def test_report_says_when_there_are_no_snapshots(client_for, partner_rep):
    page = client_for(partner_rep).get(reverse("enablement:requests"))
    assert b"no KPI snapshots yet" in page.content


@pytest.mark.parametrize("size", [3, 25])
def test_request_list_query_count(client_for, partner_rep, channel_manager, size, django_assert_max_num_queries):
    for _ in range(size):
        req = PartnerRequestFactory(partner=partner_rep.partner, owner=channel_manager, opened_by=partner_rep)
        RequestMessage.objects.create(request=req, author=partner_rep, body="x", from_vendor=False)
    for user in (partner_rep, channel_manager):
        client = client_for(user)
        with django_assert_max_num_queries(12):
            response = client.get(reverse("enablement:requests"))
        assert len(response.context["requests"]) == size


def test_vendor_reassigns_from_the_detail_page(client_for, channel_manager, partner_rep):
    other = UserFactory(role=Role.CHANNEL_MANAGER)
    req = PartnerRequestFactory(partner=partner_rep.partner, owner=channel_manager, opened_by=partner_rep)
    client = client_for(channel_manager)
    page = client.get(reverse("enablement:request_detail", args=[req.pk]))
    assert page.status_code == 200 and page.context["assign_form"] is not None
    assert client.post(reverse("enablement:request_assign", args=[req.pk]), {"owner": other.pk}).status_code == 302
    req.refresh_from_db()
    assert req.owner == other
    assert Notification.objects.filter(user=other, kind=NotificationKind.REQUEST_UPDATED).exists()


def test_admin_pages_render(client_for, vendor_admin, partner_rep, sla):
    PartnerRequestFactory(partner=partner_rep.partner)
    client = client_for(vendor_admin)
    for model in ("resource", "announcement", "vendorsla", "partnerrequest"):
        assert client.get(reverse(f"admin:partners_{model}_changelist")).status_code == 200


def test_request_attachment_is_private_to_the_partner_and_the_vendor(
    client, client_for, partner_rep, other_partner_rep, channel_manager
):
    client_for(partner_rep).post(
        reverse("enablement:request_create"),
        {
            "category": "technical",
            "subject": "Logs",
            "body": "See attached",
            "attachment": SimpleUploadedFile("log.zip", b"PK"),
        },
    )
    req = PartnerRequest.objects.get()
    url = reverse("enablement:request_attachment", args=[req.pk, req.messages.get().pk])
    assert b"".join(client_for(partner_rep).get(url).streaming_content) == b"PK"
    assert client_for(channel_manager).get(url).status_code == 200
    assert client_for(other_partner_rep).get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page
