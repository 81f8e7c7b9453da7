"""The customer's voice after go-live: check-ins 30, 90 and 180 days after sign-off by one-time links.

`checkins_create_due` (daily job) creates the due check-ins in one set-based statement (the unique constraint on
implementation + day makes a second worker's insert a no-op) and `checkins_invite_pending` e-mails the links,
claiming rows with SKIP LOCKED so no link is sent twice. `checkin_answer` records the answer once; it feeds the
check-in score KPI (leads.delivery.kpis) and, with the customer's consent, becomes the public review of the deal.
"""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from partners.services import review_invite, review_submit
from prm.models import NotificationKind, WebhookEvent
from prm.selectors import partner_admins
from prm.services import audit_record, connection_supports_skip_locked, notify
from prm.texts import N_, compose
from prm.webhooks import webhook_emit

from .models import CheckIn, Implementation, ImplementationStatus


class CheckInInvalid(Exception):
    """Unknown token (the page answers 404)."""


def checkins_create_due(*, today: datetime.date | None = None) -> int:
    """Create every check-in that is due (go-live day + 30/90/180 ≤ today) and does not exist yet; idempotent."""
    today = today or timezone.localdate()
    if connection.vendor == "postgresql":
        table, impl = CheckIn._meta.db_table, Implementation._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table} (implementation_id, partner_id, day, due_on, token, created_at, comment,
                                     author_name, consent_publish)
                SELECT i.id, i.partner_id, d.day, (i.signed_off_at AT TIME ZONE %(tz)s)::date + d.day,
                       md5(random()::text || clock_timestamp()::text || i.id || '-' || d.day)
                       || md5(random()::text || i.id), now(), '', '', false
                FROM {impl} i CROSS JOIN unnest(%(days)s::int[]) AS d(day)
                WHERE i.status = %(live)s AND i.signed_off_at IS NOT NULL
                  AND (i.signed_off_at AT TIME ZONE %(tz)s)::date + d.day <= %(today)s
                ON CONFLICT (implementation_id, day) DO NOTHING
                """,
                {
                    "tz": settings.TIME_ZONE,
                    "days": list(CheckIn.DAYS),
                    "live": ImplementationStatus.LIVE,
                    "today": today,
                },
            )
            return cursor.rowcount
    rows = [
        CheckIn(implementation_id=pk, partner_id=partner_id, day=day, due_on=due)
        for pk, partner_id, signed in Implementation.objects.filter(
            status=ImplementationStatus.LIVE, signed_off_at__isnull=False
        ).values_list("pk", "partner_id", "signed_off_at")
        for day in CheckIn.DAYS
        if (due := timezone.localdate(signed) + datetime.timedelta(days=day)) <= today
    ]
    # bulk_create returns the rows it was given, ignored ones too: count only the check-ins not there yet
    there = set(
        CheckIn.objects.filter(implementation_id__in={r.implementation_id for r in rows}).values_list(
            "implementation_id", "day"
        )
    )
    rows = [r for r in rows if (r.implementation_id, r.day) not in there]
    CheckIn.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def checkin_url(*, checkin: CheckIn) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{reverse('delivery:checkin', args=[checkin.token])}"


def checkins_invite_pending(*, batch: int = 500) -> int:
    """E-mail the customer contact of each new check-in its one-time link (once, whichever worker claims it)."""
    with transaction.atomic():
        qs = CheckIn.objects.filter(invited_at__isnull=True).select_related(
            "implementation__lead", "implementation__partner"
        )
        if connection_supports_skip_locked():
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        due = list(qs.order_by("created_at", "id")[:batch])
        for checkin in due:
            lead = checkin.implementation.lead
            if not lead.contact_email:
                continue
            partner = checkin.implementation.partner.name
            with translation.override(settings.LANGUAGE_CODE):
                send_mail(
                    _("%(days)s days with %(partner)s: how is it going?") % {"days": checkin.day, "partner": partner},
                    _("Please rate the service of %(partner)s in one click (the link works once):\n\n%(link)s")
                    % {"partner": partner, "link": checkin_url(checkin=checkin)},
                    None,
                    [lead.contact_email],
                )
        now = timezone.now()
        CheckIn.objects.filter(pk__in=[c.pk for c in due]).update(invited_at=now, updated_at=now)
    return len(due)


def checkin_resolve(*, token: str) -> CheckIn:
    checkin = (
        CheckIn.objects.select_related("implementation__partner", "implementation__customer", "implementation__lead")
        .filter(token=token or "")
        .first()
    )
    if checkin is None:
        raise CheckInInvalid
    return checkin


def checkin_answer(
    *, checkin: CheckIn, rating: int, comment: str = "", author_name: str = "", consent_publish: bool = False
) -> CheckIn:
    """The customer's answer, once: feeds the check-in score; with consent, it is submitted as the deal's public
    review (moderated like every review). Webhook `checkin.received`; the partner's admins are told."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError({"rating": _("Choose 1 to 5 stars.")})
    if consent_publish and not author_name.strip():
        raise ValidationError({"author_name": _("Give your name to publish your review.")})
    with transaction.atomic():
        checkin = CheckIn.objects.select_for_update().select_related("implementation__lead").get(pk=checkin.pk)
        if checkin.answered_at is not None:
            raise ValidationError(_("This check-in has already been answered. Thank you."))
        checkin.rating, checkin.comment = rating, comment.strip()
        checkin.author_name, checkin.consent_publish = author_name.strip()[:200], consent_publish
        checkin.answered_at = timezone.now()
        checkin.save()
        implementation = checkin.implementation
        audit_record(
            actor=None,
            action="checkin.received",
            target=implementation,
            partner=implementation.partner,
            data={"day": checkin.day, "rating": rating, "consent": consent_publish},
        )
        if consent_publish:
            review = review_invite(lead=implementation.lead, email=False)
            if review.status == "invited":  # one public review per deal: a later check-in does not replace it
                review_submit(token=review.token, rating=rating, text=checkin.comment, author_name=checkin.author_name)
        webhook_emit(
            event=WebhookEvent.CHECKIN_RECEIVED,
            partner=implementation.partner_id,
            payload={
                "implementation": implementation.pk,
                "lead": implementation.lead_id,
                "customer": implementation.customer_id,
                "day": checkin.day,
                "rating": rating,
                "comment": checkin.comment,
            },
        )
        notify(
            users=[*partner_admins(partner=implementation.partner_id), implementation.owner],
            kind=NotificationKind.SERVICE_SLA,
            title=compose(
                N_("Customer check-in after %(days)s days: %(rating)s of 5"), days=checkin.day, rating=rating
            ),
            body=compose(
                N_("%(customer)s: %(comment)s"), customer=implementation.customer.name, comment=checkin.comment
            ),
            url=reverse("delivery:implementation_detail", args=[implementation.pk]),
        )
    return checkin
