"""Retention: every door (the service, `manage.py prune_history`, the daily job) deletes the same old history and
keeps what is young, unread, pending or still needed by an open deal."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from leads.models import Activity, Offer, RoutingDecision, Stage
from portal import tasks
from portal.retention import history_prune
from prm.api_auth import api_key_create
from prm.models import AuditEvent, DeliveryStatus, Notification, Role, WebhookDelivery, WebhookSubscription
from tests.leads.factories import ActivityFactory, LeadFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db

OLD = timedelta(days=4000)  # older than every default age


def aged(model, obj, field: str, age: timedelta):
    model.objects.filter(pk=obj.pk).update(**{field: timezone.now() - age})
    return obj


@pytest.fixture
def history():
    closed = LeadFactory(stage=Stage.LOST, closed_at=timezone.now() - OLD)
    open_ = LeadFactory(partner=closed.partner)
    user = PartnerUserFactory(partner=closed.partner, role=Role.PARTNER_ADMIN)
    key, _raw = api_key_create(created_by=user, name="crm", scopes=["leads:read"])
    hook = WebhookSubscription.objects.create(api_key=key, url="https://crm.example/hook", events=["lead.offered"])
    decision = RoutingDecision.objects.create(lead=closed, chosen=closed.partner, rule="score_swrr", candidates=[])
    offer = Offer.objects.create(
        lead=closed, partner=closed.partner, decision=decision, status="accepted", offered_at=timezone.now() - OLD,
        deadline=timezone.now() - OLD + timedelta(hours=4),
    )  # fmt: skip
    gone = {
        "audit": aged(AuditEvent, AuditEvent.objects.create(action="lead.offered"), "at", OLD),
        "activity": ActivityFactory(lead=closed, occurred_at=timezone.now() - OLD),
        "decision": aged(RoutingDecision, decision, "decided_at", OLD),
        "read": aged(Notification, Notification.objects.create(user=user, kind="x", title="t", read_at=timezone.now() - OLD), "created_at", OLD),
        "delivered": aged(WebhookDelivery, WebhookDelivery.objects.create(subscription=hook, event="lead.offered", status=DeliveryStatus.SUCCEEDED), "created_at", OLD),
    }  # fmt: skip
    kept = {
        "young audit": AuditEvent.objects.create(action="lead.offered"),
        "open deal's activity": ActivityFactory(lead=open_, occurred_at=timezone.now() - OLD),
        "unread": aged(Notification, Notification.objects.create(user=user, kind="x", title="t"), "created_at", OLD),
        "pending delivery": aged(WebhookDelivery, WebhookDelivery.objects.create(subscription=hook, event="lead.offered"), "created_at", OLD),
    }  # fmt: skip
    return gone, kept, offer


DOORS = {
    "service": lambda: history_prune(batch=2),
    "command": lambda: call_command("prune_history", "--batch", "2", stdout=StringIO()),
    "job": lambda: tasks.history_prune.apply().get(),
}


@pytest.mark.parametrize("door", DOORS)
def test_old_history_goes_and_what_is_still_needed_stays(history, door):
    gone, kept, offer = history
    DOORS[door]()
    for name, obj in gone.items():
        assert not type(obj).objects.filter(pk=obj.pk).exists(), name
    for name, obj in kept.items():
        assert type(obj).objects.filter(pk=obj.pk).exists(), name
    offer.refresh_from_db()
    assert offer.decision_id is None  # the offer stays without its decision
    assert Activity.objects.count() == 1


def test_dry_run_counts_and_deletes_nothing(history):
    gone, _kept, _offer = history
    assert history_prune(dry_run=True) == {
        "audit_events": 1, "activities": 1, "routing_decisions": 1, "notifications": 1, "webhook_deliveries": 1,
    }  # fmt: skip
    assert all(type(obj).objects.filter(pk=obj.pk).exists() for obj in gone.values())


def test_an_age_of_zero_keeps_everything(history, settings):
    settings.PRM_RETAIN_DAYS = dict.fromkeys(settings.PRM_RETAIN_DAYS, 0)
    assert set(history_prune().values()) == {0}


def test_the_job_is_daily_and_on_the_long_queue():
    assert "portal.tasks.history_prune" in {job["task"] for job in settings.CELERY_BEAT_SCHEDULE.values()}
    assert settings.CELERY_TASK_ROUTES["portal.tasks.history_prune"] == {"queue": "long"}
