"""Writes shared by every app: the audit trail and notifications."""

import functools
import json
from collections.abc import Iterable

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone, translation

from . import texts
from .models import AuditEvent, Notification, User


def rate_limit_consume(*, bucket: str, limit: int, window_seconds: int, now: float | None = None) -> bool:
    """Count one use of `bucket` in the current fixed window (shared cache, atomic incr); False when over `limit`.

    Atomic in the shared cache, so several processes together never let more than `limit` through a window."""
    window = int(timezone.now().timestamp() if now is None else now) // window_seconds
    key = f"rate:{bucket}:{window}"
    cache.add(key, 0, timeout=window_seconds + 10)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window_seconds + 10)
        count = 1
    return count <= limit


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    partner=None,
    reason: str | dict = "",
    data: dict | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one audit row. `partner` defaults to the target's partner so partners see their own history."""
    if partner is None and target is not None:
        partner = target if target._meta.label == "partners.Partner" else getattr(target, "partner", None)
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        content_type=ContentType.objects.get_for_model(target) if target is not None else None,
        object_id=str(target.pk) if target is not None else "",
        partner=partner,
        **_audit_reason(reason, data),
        ip_address=ip_address,
    )


def _audit_reason(reason: str | dict, data: dict | None) -> dict:
    """A composed reason (prm.texts) is kept in `data["reason"]` and shown in the reader's language; `reason`
    holds its English wording (and a reason a person typed, as typed)."""
    reason = texts.loads(reason)
    if isinstance(reason, dict):
        return {"reason": _english(json.dumps(reason)), "data": {**(data or {}), "reason": reason}}
    return {"reason": reason, "data": data or {}}


def audit_record_many(
    *, actor: User | None, action: str, items: Iterable[tuple[models.Model, object, str, dict | None]]
) -> None:
    """audit_record for many targets at once, as (target, partner or its id, reason, data): one insert for all."""
    rows = []
    for target, partner, reason, data in items:
        rows.append(
            AuditEvent(
                actor=actor if actor is not None and actor.is_authenticated else None,
                action=action,
                content_type=ContentType.objects.get_for_model(target),
                object_id=str(target.pk),
                partner_id=getattr(partner, "pk", partner),
                **_audit_reason(reason, data),
            )
        )
    AuditEvent.objects.bulk_create(rows, batch_size=2000)


def audit_trail(*, target: models.Model, limit: int = 100):
    return (
        AuditEvent.objects.filter(content_type=ContentType.objects.get_for_model(target), object_id=str(target.pk))
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )


def notify(
    *, users: Iterable[User], kind: str, title: str | dict, body: str | dict = "", url: str = ""
) -> list[Notification]:
    """Put a message in each user's inbox; those who opted in get an e-mail, sent by Celery after commit.
    `title` and `body` are composed texts (`prm.texts.compose`), shown in each reader's language."""
    unique = {u.pk: u for u in users if u is not None}.values()
    return notify_many(kind=kind, messages=[(user, title, body, url) for user in unique])


def notify_many(*, kind: str, messages: Iterable[tuple[User, str | dict, str | dict, str]]) -> list[Notification]:
    """Many different messages of one kind at once, as (user, title, body, url): one insert for all of them."""
    english = functools.lru_cache(maxsize=None)(_english)
    messages = [(user, texts.loads(title), texts.loads(body), url) for user, title, body, url in messages]
    rows = [
        Notification(
            user=user,
            kind=kind,
            title=english(json.dumps(title))[:200],
            body=english(json.dumps(body)),
            text={k: v for k, v in (("title", title), ("body", body)) if isinstance(v, dict)},
            url=url,
            email_wanted=bool(user.email) and kind in (user.email_events or []),
        )
        for user, title, body, url in messages
        if user.is_active
    ]
    created = Notification.objects.bulk_create(rows, batch_size=2000)
    if any(n.email_wanted for n in created):
        from .tasks import notification_emails_send_pending

        transaction.on_commit(notification_emails_send_pending.delay)
    return created


def _english(dumped: str) -> str:
    with translation.override("en"):
        return texts.render(json.loads(dumped))


def notification_emails_send_pending(*, batch: int = 500) -> int:
    """Send e-mails that are due. Claiming rows with SKIP LOCKED makes concurrent workers never send one twice."""
    sent = 0
    with transaction.atomic():
        qs = Notification.objects.filter(email_wanted=True, emailed_at=None).select_related("user")
        if connection_supports_skip_locked():
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        due = list(qs.order_by("created_at")[:batch])
        for n in due:
            link = f"\n\n{settings.SITE_URL.rstrip('/')}{n.url}" if n.url else ""
            with translation.override(getattr(n.user, "language", "") or settings.LANGUAGE_CODE):
                send_mail(n.title_display, f"{n.body_display}{link}", None, [n.user.email], fail_silently=False)
            sent += 1
        Notification.objects.filter(pk__in=[n.pk for n in due]).update(emailed_at=timezone.now())
    return sent


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at=None)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())


def connection_supports_skip_locked() -> bool:
    from django.db import connection

    return connection.features.has_select_for_update_skip_locked
