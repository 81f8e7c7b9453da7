"""Retention: history older than a configured age is deleted in batches (one home for every door: the
`prune_history` command and the daily `portal.tasks.history_prune` job).

What is pruned, each after its own age in days (settings PRM_RETAIN_*; 0 keeps everything):
- audit events;
- activities of deals closed (won, lost, rejected) before the cut: open deals keep their whole history, it
  decides disputes, reclaims and hygiene;
- routing decisions (their offers stay; an offer's link to its decision is set to NULL by the foreign key);
- notifications that were read or e-mailed (unread ones stay);
- webhook deliveries that are finished (delivered, failed for good or cancelled).

Every batch is one DELETE of at most `batch` rows chosen by id under `FOR UPDATE SKIP LOCKED` on PostgreSQL,
so several workers may run it at once and no statement holds many locks or a long transaction. Each batch starts
after the last id of the one before: the rows that stay (an open deal's activities, unread notifications) are read
once per run, not once per batch (which made a first prune of 100 M activities quadratic). A row another worker held
(and then did not delete) is left for the next day's run.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from leads.models import CLOSED_STAGES, Activity, Offer, RoutingDecision
from prm.models import AuditEvent, DeliveryStatus, Notification, WebhookDelivery
from prm.services import connection_supports_skip_locked


def _targets(now: datetime.datetime) -> list[tuple[str, QuerySet, int]]:
    """(name, what is old enough to delete, age in days) for each kind of history."""

    def cut(days: int) -> datetime.datetime:
        return now - datetime.timedelta(days=days)

    ages = settings.PRM_RETAIN_DAYS
    return [
        ("audit_events", AuditEvent.objects.filter(at__lt=cut(ages["audit_events"])), ages["audit_events"]),
        (
            "activities",
            Activity.objects.filter(
                occurred_at__lt=cut(ages["activities"]),
                lead__stage__in=CLOSED_STAGES,
                lead__closed_at__lt=cut(ages["activities"]),
            ),
            ages["activities"],
        ),
        (
            "routing_decisions",
            RoutingDecision.objects.filter(decided_at__lt=cut(ages["routing_decisions"])),
            ages["routing_decisions"],
        ),
        (
            "notifications",
            Notification.objects.filter(created_at__lt=cut(ages["notifications"])).filter(
                Q(read_at__isnull=False) | Q(emailed_at__isnull=False)
            ),
            ages["notifications"],
        ),
        (
            "webhook_deliveries",
            WebhookDelivery.objects.filter(created_at__lt=cut(ages["webhook_deliveries"])).exclude(
                status=DeliveryStatus.PENDING
            ),
            ages["webhook_deliveries"],
        ),
    ]


def history_prune(*, now: datetime.datetime | None = None, batch: int = 5000, dry_run: bool = False) -> dict:
    """Delete history older than its retention age, in batches; {name: rows deleted (or found, dry run)}."""
    now = now or timezone.now()
    done: dict[str, int] = {}
    for name, old, days in _targets(now):
        done[name] = 0
        if not days:
            continue
        if dry_run:
            done[name] = old.count()
            continue
        last = 0  # each batch goes on after the previous one: the rows kept are not read again
        while True:
            with transaction.atomic():
                ids = old.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)
                if connection_supports_skip_locked():
                    ids = ids.select_for_update(skip_locked=True, of=("self",))
                chosen = list(ids[:batch])
                if chosen:
                    if old.model is RoutingDecision:  # the offers stay, without their decision
                        Offer.objects.filter(decision_id__in=chosen).update(decision=None)
                    old.model.objects.filter(pk__in=chosen)._raw_delete(old.db)  # one DELETE, no per-row signals
            done[name] += len(chosen)
            if len(chosen) < batch:
                break
            last = chosen[-1]
    return done
