"""Writes for enablement: publishing resources and announcements, counting downloads, partner requests and the SLA."""

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Partner
from prm.business_hours import business_deadline
from prm.models import NotificationKind, Role, User
from prm.permissions import is_partner_user, is_vendor
from prm.selectors import escalation_recipients
from prm.services import audit_record, connection_supports_skip_locked, notify
from prm.texts import N_, choice, compose

from .models import (
    Announcement,
    AnnouncementRead,
    LibraryVisit,
    PartnerRequest,
    RequestMessage,
    RequestStatus,
    Resource,
    ResourceDownload,
    ResourceVersion,
    VendorSla,
)
from .selectors import requests_overdue

# --- Resource library ----------------------------------------------------------------------------------------


def resource_create(*, actor: User, fields: dict, program_models=(), file=None, url: str = "", notes: str = ""):
    """A new resource with its first version."""
    with transaction.atomic():
        resource = Resource(created_by=actor, **fields)
        resource.set_program_models(program_models)
        resource.full_clean()
        resource.save()
        audit_record(actor=actor, action="resource.created", target=resource)
        resource_version_add(actor=actor, resource=resource, file=file, url=url, notes=notes)
    return resource


def resource_update(*, actor: User, resource: Resource, fields: dict, program_models=()) -> Resource:
    with transaction.atomic():
        for name, value in fields.items():
            setattr(resource, name, value)
        resource.set_program_models(program_models)
        resource.full_clean()
        resource.save()
        audit_record(actor=actor, action="resource.updated", target=resource, data={"fields": sorted(fields)})
    return resource


def resource_version_add(*, actor: User, resource: Resource, file=None, url: str = "", notes: str = ""):
    """Publish a new version: it becomes the current one; older versions stay in the history."""
    with transaction.atomic():
        locked = Resource.objects.select_for_update().get(pk=resource.pk)
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = ResourceVersion(
            resource=locked, number=number, file=file or "", url=url or "", notes=notes, uploaded_by=actor
        )
        version.full_clean()
        version.save()
        now = timezone.now()
        Resource.objects.filter(pk=locked.pk).update(current_version=version, published_at=now, updated_at=now)
        resource.current_version, resource.published_at = version, now
        audit_record(actor=actor, action="resource.version_published", target=resource, data={"number": number})
    return version


def resource_download(*, resource: Resource, user: User) -> ResourceVersion:
    """Count a download for the user's partner (vendor staff are not counted) and return the current version."""
    if is_partner_user(user):
        now = timezone.now()
        counter = ResourceDownload.objects.filter(resource=resource, partner_id=user.partner_id)
        if not counter.update(count=F("count") + 1, last_at=now):
            try:
                with transaction.atomic():
                    ResourceDownload.objects.create(resource=resource, partner_id=user.partner_id, count=1, last_at=now)
            except IntegrityError:  # a concurrent first download created the row
                counter.update(count=F("count") + 1, last_at=now)
    return resource.current_version


def library_visit_record(*, user: User, at: datetime | None = None) -> None:
    at = at or timezone.now()
    if not LibraryVisit.objects.filter(user=user).update(visited_at=at):
        LibraryVisit.objects.get_or_create(user=user, defaults={"visited_at": at})


# --- Announcements -------------------------------------------------------------------------------------------


def announcement_save(*, actor: User, announcement: Announcement, program_models=()) -> Announcement:
    """Create or edit an announcement (published_at defaults to now)."""
    created = announcement.pk is None
    with transaction.atomic():
        if announcement.published_at is None:
            announcement.published_at = timezone.now()
        if created:
            announcement.created_by = actor
        announcement.set_program_models(program_models)
        announcement.full_clean()
        announcement.save()
        audit_record(
            actor=actor, action="announcement.created" if created else "announcement.updated", target=announcement
        )
    return announcement


def announcement_mark_read(*, announcement: Announcement, user: User) -> None:
    """Idempotent: the unique (announcement, user) row records the first read."""
    AnnouncementRead.objects.get_or_create(announcement=announcement, user=user, defaults={"read_at": timezone.now()})


# --- Partner requests ----------------------------------------------------------------------------------------


def vendor_sla_for(*, category: str) -> VendorSla:
    """The published SLA of a category; an unsaved default row when the vendor has not published one."""
    return VendorSla.objects.filter(category=category).first() or VendorSla(category=category)


def request_deadlines(*, category: str, start: datetime) -> tuple[datetime, datetime]:
    sla = vendor_sla_for(category=category)
    calendar = {
        "tz": sla.timezone,
        "country": sla.country,
        "subdivision": sla.subdivision,
        "work_start": _as_time(sla.work_start),
        "work_end": _as_time(sla.work_end),
    }
    return (
        business_deadline(start=start, hours=sla.response_hours, **calendar),
        business_deadline(start=start, hours=sla.resolution_hours, **calendar),
    )


def _as_time(value):
    # An unsaved default row still holds the "09:00" string default.
    return datetime.strptime(value, "%H:%M").time() if isinstance(value, str) else value


def request_default_owner(*, partner: Partner) -> User | None:
    """The partner's account manager, else a channel lead, else any channel manager."""
    manager = partner.account_manager
    if manager is not None and manager.is_active and is_vendor(manager):
        return manager
    vendors = User.objects.filter(is_active=True, role__in=[Role.CHANNEL_MANAGER, Role.VENDOR_ADMIN])
    return (
        vendors.filter(is_channel_lead=True).order_by("id").first()
        or vendors.filter(role=Role.CHANNEL_MANAGER).order_by("id").first()
    )


def _request_url(request: PartnerRequest) -> str:
    return reverse("enablement:request_detail", args=[request.pk])


def request_open(*, actor: User, category: str, subject: str, body: str, attachment=None) -> PartnerRequest:
    """A partner user opens a request: owner and business-hours deadlines come from the vendor's SLA."""
    if not is_partner_user(actor):
        raise PermissionDenied
    partner = Partner.objects.select_related("account_manager").get(pk=actor.partner_id)
    now = timezone.now()
    response_due, resolution_due = request_deadlines(category=category, start=now)
    with transaction.atomic():
        request = PartnerRequest(
            partner=partner,
            opened_by=actor,
            category=category,
            subject=subject,
            owner=request_default_owner(partner=partner),
            response_due_at=response_due,
            resolution_due_at=resolution_due,
        )
        request.full_clean()
        request.save()
        message = RequestMessage(
            request=request, author=actor, body=body, attachment=attachment or "", from_vendor=False
        )
        message.full_clean()
        message.save()
        audit_record(
            actor=actor,
            action="request.opened",
            target=request,
            data={
                "category": category,
                "owner": request.owner_id,
                "response_due_at": response_due.isoformat(),
                "resolution_due_at": resolution_due.isoformat(),
            },
        )
        if request.owner:
            notify(
                users=[request.owner],
                kind=NotificationKind.REQUEST_UPDATED,
                title=compose(N_("New request from %(partner)s: %(subject)s"), partner=partner, subject=subject),
                url=_request_url(request),
            )
    return request


def request_message_add(*, actor: User, request: PartnerRequest, body: str, attachment=None) -> RequestMessage:
    """A message in the conversation. The vendor's first answer sets responded_at; a partner reply reopens."""
    from_vendor = is_vendor(actor)
    if not from_vendor and not (is_partner_user(actor) and actor.partner_id == request.partner_id):
        raise PermissionDenied
    with transaction.atomic():
        locked = PartnerRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status == RequestStatus.CLOSED:
            raise ValidationError(_("The request is closed."))
        message = RequestMessage(
            request=locked, author=actor, body=body, attachment=attachment or "", from_vendor=from_vendor
        )
        message.full_clean()
        message.save()
        now = timezone.now()
        before = locked.status
        if from_vendor:
            if locked.responded_at is None:
                locked.responded_at = now
            if locked.status == RequestStatus.OPEN:
                locked.status = RequestStatus.ANSWERED
        elif locked.status in (RequestStatus.ANSWERED, RequestStatus.WAITING, RequestStatus.RESOLVED):
            locked.status = RequestStatus.OPEN
            locked.resolved_at = None
        locked.save(update_fields=["responded_at", "status", "resolved_at", "updated_at"])
        audit_record(
            actor=actor,
            action="request.message",
            target=locked,
            data={"from": before, "to": locked.status} if before != locked.status else {},
        )
        recipients = [locked.opened_by] if from_vendor else [locked.owner]
        notify(
            users=[u for u in recipients if u is not None and u.pk != actor.pk],
            kind=NotificationKind.REQUEST_UPDATED,
            title=compose(N_("New message on request #%(id)s: %(subject)s"), id=locked.pk, subject=locked.subject),
            url=_request_url(locked),
        )
    request.refresh_from_db()
    return message


# Who may move a request where: vendor staff run the flow, the partner may confirm a resolution or close.
VENDOR_TRANSITIONS = {
    RequestStatus.OPEN: {RequestStatus.WAITING, RequestStatus.RESOLVED, RequestStatus.CLOSED},
    RequestStatus.ANSWERED: {RequestStatus.WAITING, RequestStatus.RESOLVED, RequestStatus.CLOSED},
    RequestStatus.WAITING: {RequestStatus.RESOLVED, RequestStatus.CLOSED},
    RequestStatus.RESOLVED: {RequestStatus.CLOSED, RequestStatus.OPEN},
}
PARTNER_TRANSITIONS = {
    RequestStatus.OPEN: {RequestStatus.CLOSED},
    RequestStatus.ANSWERED: {RequestStatus.RESOLVED, RequestStatus.CLOSED},
    RequestStatus.WAITING: {RequestStatus.RESOLVED, RequestStatus.CLOSED},
    RequestStatus.RESOLVED: {RequestStatus.CLOSED, RequestStatus.OPEN},
}


def request_allowed_transitions(*, actor: User, request: PartnerRequest) -> list[str]:
    table = VENDOR_TRANSITIONS if is_vendor(actor) else PARTNER_TRANSITIONS
    return sorted(table.get(request.status, set()))


def request_transition(*, actor: User, request: PartnerRequest, status: str, reason: str = "") -> PartnerRequest:
    if not is_vendor(actor) and not (is_partner_user(actor) and actor.partner_id == request.partner_id):
        raise PermissionDenied
    with transaction.atomic():
        locked = PartnerRequest.objects.select_for_update().get(pk=request.pk)
        if status not in request_allowed_transitions(actor=actor, request=locked):
            raise ValidationError(
                _("A request cannot move from “%(from)s” to “%(to)s”.")
                % {"from": locked.get_status_display(), "to": RequestStatus(status).label}
            )
        before = locked.status
        now = timezone.now()
        locked.status = status
        if status == RequestStatus.RESOLVED:
            locked.resolved_at = now
        elif status == RequestStatus.CLOSED:
            locked.resolved_at = locked.resolved_at or now
        elif status == RequestStatus.OPEN:
            locked.resolved_at = None
        locked.save(update_fields=["status", "resolved_at", "updated_at"])
        audit_record(
            actor=actor, action="request.status", target=locked, reason=reason, data={"from": before, "to": status}
        )
        other = locked.opened_by if is_vendor(actor) else locked.owner
        notify(
            users=[other] if other is not None else [],
            kind=NotificationKind.REQUEST_UPDATED,
            title=compose(N_("Request #%(id)s is now %(status)s"), id=locked.pk, status=choice(locked, "status")),
            url=_request_url(locked),
        )
    request.refresh_from_db()
    return request


def request_assign(*, actor: User, request: PartnerRequest, owner: User) -> PartnerRequest:
    if not is_vendor(actor) or not is_vendor(owner):
        raise PermissionDenied
    with transaction.atomic():
        before = request.owner_id
        PartnerRequest.objects.filter(pk=request.pk).update(owner=owner, updated_at=timezone.now())
        request.owner = owner
        audit_record(actor=actor, action="request.assigned", target=request, data={"from": before, "to": owner.pk})
        if owner.pk != actor.pk:
            notify(
                users=[owner],
                kind=NotificationKind.REQUEST_UPDATED,
                title=compose(N_("Request #%(id)s was assigned to you"), id=request.pk),
                url=_request_url(request),
            )
    return request


def requests_escalate(*, now: datetime | None = None, batch: int = 200) -> int:
    """Escalate overdue requests to the channel leads, each once.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED and marked escalated in the same transaction, so
    concurrent workers never take the same request and a second run finds nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        qs = requests_overdue(now=now).select_related("partner", "owner")
        if connection_supports_skip_locked():
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        due = list(qs.order_by("response_due_at", "id")[:batch])
        if not due:
            return 0
        # The conditional UPDATE is a second guard where row locks are not available.
        PartnerRequest.objects.filter(pk__in=[r.pk for r in due], escalated_at__isnull=True).update(
            escalated_at=now, updated_at=now
        )
        leads = escalation_recipients()
        for request in due:
            missed = "response" if request.responded_at is None and request.response_due_at < now else "resolution"
            audit_record(actor=None, action="request.escalated", target=request, data={"missed": missed})
            notify(
                users=[*leads, request.owner],
                kind=NotificationKind.ESCALATION,
                title=compose(
                    N_("Overdue request #%(id)s from %(partner)s: %(subject)s"),
                    id=request.pk,
                    partner=request.partner,
                    subject=request.subject,
                ),
                body=compose(
                    N_("The %(deadline)s deadline has passed."),
                    deadline=compose(N_("response") if missed == "response" else N_("resolution")),
                ),
                url=_request_url(request),
            )
    return len(due)
