"""Writes shared by every app: the audit trail and notifications."""

import contextlib
import contextvars
import datetime
import functools
import itertools
import json
from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.utils import timezone, translation

from . import texts
from .bulk import rows_insert
from .models import AuditEvent, DigestSent, Notification, User


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


def _audit_reason(reason: str | dict, data: dict | None, english: Callable[[str], str] | None = None) -> dict:
    """A composed reason (prm.texts) is kept in `data["reason"]` and shown in the reader's language; `reason`
    holds its English wording (and a reason a person typed, as typed)."""
    reason = texts.loads(reason)
    if isinstance(reason, dict):
        return {"reason": (english or _english)(json.dumps(reason)), "data": {**(data or {}), "reason": reason}}
    return {"reason": reason, "data": data or {}}


def audit_record_many(
    *, actor: User | None, action: str, items: Iterable[tuple[models.Model, object, str, dict | None]]
) -> None:
    """audit_record for many targets at once, as (target, partner or its id, reason, data): one insert for all."""
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    content_types: dict[type, int] = {}
    english = functools.lru_cache(maxsize=None)(_english)  # a batch repeats a few reasons: each worded once
    rows = []
    for target, partner, reason, data in items:
        kind = type(target)
        if kind not in content_types:
            content_types[kind] = ContentType.objects.get_for_model(target).pk
        rows.append(
            {
                "actor_id": actor_id, "action": action, "content_type_id": content_types[kind],
                "object_id": str(target.pk), "partner_id": getattr(partner, "pk", partner), "ip_address": None,
                **_audit_reason(reason, data, english),
            }
        )  # fmt: skip
    rows_insert(AuditEvent, rows, ids=False)  # held with the next statement inside prm.bulk.writes_held()


def audit_trail(*, target: models.Model, limit: int = 100):
    return (
        AuditEvent.objects.filter(content_type=ContentType.objects.get_for_model(target), object_id=str(target.pk))
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )


def notify(*, users: Iterable[User], kind: str, title: str | dict, body: str | dict = "", url: str = "") -> int:
    """Put a message in each user's inbox; those who opted in get an e-mail, sent by Celery after commit.
    `title` and `body` are composed texts (`prm.texts.compose`), shown in each reader's language."""
    unique = {u.pk: u for u in users if u is not None}.values()
    return notify_many(kind=kind, messages=[(user, title, body, url) for user in unique])


class Recipient(NamedTuple):
    """What an inbox message needs of its reader: a batch (the nightly tier run) reads these as rows instead of
    building a User for each (`recipients`)."""

    pk: int
    partner_id: int | None
    email: str
    email_events: list
    is_active: bool = True


def recipients(users: models.QuerySet) -> list[Recipient]:
    """The readers of a user query (e.g. `prm.selectors.partners_admins`), as rows."""
    return [Recipient(*row) for row in users.values_list("pk", "partner_id", "email", "email_events", "is_active")]


def notify_many(
    *,
    kind: str,
    messages: Iterable[tuple[User | Recipient, str | dict, str | dict, str]],
    summary: Callable[[int], tuple[str | dict, str | dict, str]] | None = None,
) -> int:
    """Many different messages of one kind at once, as (user, title, body, url): one insert for all of them;
    returns how many were written.

    A batch (an import, a bulk upsert, a routing run) is summed up: with `summary`, a user who would get more than
    one message gets one, `summary(count)` -> (title, body, url), instead."""
    buffer = _BATCH.get()
    if buffer is not None:  # inside notifications_batched(): sent, summed up, when the batch ends
        held = buffer.setdefault(kind, {"messages": [], "summary": None})
        held["messages"].extend(messages)
        held["summary"] = held["summary"] or summary
        return 0
    english = functools.lru_cache(maxsize=None)(_english)
    messages = [(user, texts.loads(title), texts.loads(body), url) for user, title, body, url in messages]
    if summary is not None:
        messages = _summarised(messages, summary)
    # Rows, not Notification instances: the nightly run writes one for each of tens of thousands of tier changes.
    rows = [
        {
            "user_id": user.pk,
            "kind": kind,
            "title": english(json.dumps(title))[:200],
            "body": english(json.dumps(body)),
            "text": {k: v for k, v in (("title", title), ("body", body)) if isinstance(v, dict)},
            "url": url,
            "email_wanted": bool(user.email) and kind in (user.email_events or []),
        }
        for user, title, body, url in messages
        if user.is_active
    ]
    rows_insert(Notification, rows, batch_size=2000, ids=False)
    if any(row["email_wanted"] for row in rows):
        transaction.on_commit(_emails_send_soon)
    return len(rows)


EMAILS_WINDOW = 5  # seconds: the e-mails of the notifications written meanwhile go out together
EMAILS_QUEUED = "prm:notification-emails:queued"  # cache key: a send task is queued for the open window


def _emails_send_soon() -> None:
    """After a commit that wrote notifications to be e-mailed: one send task per EMAILS_WINDOW, however many such
    commits (a router commits hundreds a second; a task each cost every one of them an enqueue and filled the
    queue). The first commit of a window enqueues the task to run when the window closes, so it finds every
    notification committed while the window was open; the periodic sweep (settings: notifications-email) is the
    net under a lost task. With eager tasks (no queue: the tests) it sends at once."""
    from .tasks import notification_emails_send_pending

    if settings.CELERY_TASK_ALWAYS_EAGER:
        notification_emails_send_pending.delay()
    elif cache.add(EMAILS_QUEUED, 1, timeout=EMAILS_WINDOW):
        notification_emails_send_pending.apply_async(countdown=EMAILS_WINDOW + 1)


_BATCH: contextvars.ContextVar[dict | None] = contextvars.ContextVar("notifications_batch", default=None)


@contextlib.contextmanager
def notifications_batched(*, summaries: dict[str, Callable[[int], tuple[str | dict, str | dict, str]]]):
    """Hold back the notifications a batch (a CSV import, a bulk upsert's checks) sends, then send them summed up:
    per kind with a summary in `summaries`, a user who would get several gets one."""
    if _BATCH.get() is not None:  # already inside a batch: the outer one sends
        yield
        return
    buffer: dict[str, dict] = {}
    token = _BATCH.set(buffer)
    try:
        yield
    finally:
        _BATCH.reset(token)
        for kind, held in buffer.items():
            notify_many(kind=kind, messages=held["messages"], summary=summaries.get(kind) or held["summary"])


def _summarised(messages: list, summary: Callable) -> list:
    per_user: dict[int, list] = {}
    for message in messages:
        per_user.setdefault(message[0].pk, []).append(message)
    out = []
    for batch in per_user.values():
        if len(batch) == 1:
            out.append(batch[0])
        else:
            title, body, url = summary(len(batch))
            out.append((batch[0][0], texts.loads(title), texts.loads(body), url))
    return out


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


def notification_digests_send(*, day: datetime.date | None = None) -> int:
    """The daily digest: each user who chose it gets one e-mail listing the notifications of `day` (default:
    yesterday, in the portal's time zone) that were not already e-mailed. A DigestSent row per (user, day), under a
    unique constraint and in the same transaction as the e-mail, makes it one digest per user and day however many
    workers run the job."""
    day = day or timezone.localdate() - datetime.timedelta(days=1)
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    end = start + datetime.timedelta(days=1)
    users = User.objects.filter(is_active=True, email_digest=True).exclude(email="")
    users = users.exclude(pk__in=DigestSent.objects.filter(day=day).values("user_id"))
    due = (
        Notification.objects.filter(user__in=users, created_at__gte=start, created_at__lt=end, email_wanted=False)
        .select_related("user")
        .order_by("user_id", "created_at", "id")
    )
    sent = 0
    for _user_id, group in itertools.groupby(due.iterator(chunk_size=2000), key=lambda n: n.user_id):
        items = list(group)
        try:
            with transaction.atomic():
                DigestSent.objects.create(user=items[0].user, day=day, items=len(items))
                _digest_mail(user=items[0].user, day=day, items=items)
        except IntegrityError:  # another worker took this user's digest
            continue
        sent += 1
    return sent


def _digest_mail(*, user: User, day: datetime.date, items: list[Notification]) -> None:
    from django.utils.translation import gettext, ngettext

    from . import l10n

    site = settings.SITE_URL.rstrip("/")
    with translation.override(user.language or settings.LANGUAGE_CODE):
        shown = items[:100]
        subject = ngettext(
            "Your digest for %(day)s: %(n)s notification", "Your digest for %(day)s: %(n)s notifications", len(items)
        ) % {"day": l10n.date_format(day), "n": l10n.number_format(len(items))}
        lines = [f"- {n.title_display}" + (f"\n  {site}{n.url}" if n.url else "") for n in shown]
        if len(items) > len(shown):
            lines.append(gettext("More in the portal: %(url)s") % {"url": f"{site}/notifications/"})
        lines.append("")
        lines.append(gettext("Change what you receive: %(url)s") % {"url": f"{site}/preferences/"})
        send_mail(subject, "\n".join(lines), None, [user.email], fail_silently=False)


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at=None)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())


def connection_supports_skip_locked() -> bool:
    from django.db import connection

    return connection.features.has_select_for_update_skip_locked
