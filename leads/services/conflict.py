"""Channel conflict: availability checks, disputes with decision deadlines, reclaiming untouched leads."""

import contextlib
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.customers import customer_name_key, domain_from, tax_id_canonical
from leads.models import (
    OPEN_STAGES,
    AvailabilityCheck,
    AvailabilityResult,
    CoSell,
    Dispute,
    DisputeOutcome,
    DisputeStatus,
    Lead,
    LeadReclaim,
    LeadSource,
    ProtectionWindow,
    ReclaimReason,
    Registration,
    RegistrationStatus,
    Stage,
)
from leads.selectors.registration import customer_claims
from leads.services.registration import (
    MSG_RECLAIMED,
    _decide,
    _keys,
    _windows_create,
    protection_days,
    registration_policy,
    registration_release,
    vendor_deadline,
)
from partners.models import Partner
from prm.models import NotificationKind, User, WebhookEvent
from prm.selectors import channel_managers, escalation_recipients, partner_admins
from prm.services import audit_record, connection_supports_skip_locked, notify, rate_limit_consume
from prm.texts import N_, choice, compose, compose_plural
from prm.webhooks import webhook_emit, webhook_emit_many

ROUTED_SOURCES = (LeadSource.VENDOR, LeadSource.IMPORT, LeadSource.API)

# What the partner is told; never who holds the customer, never until when.
AVAILABILITY_MESSAGES = {
    AvailabilityResult.FREE: N_("The customer is free: you can register the deal."),
    AvailabilityResult.PROTECTED: N_("This customer is already protected by another partner."),
    AvailabilityResult.RESERVED: N_("This customer is reserved for the vendor's direct sales."),
    AvailabilityResult.SIMILAR: N_("A similar company is protected; your registration will be reviewed."),
    AvailabilityResult.CLAIMED: N_(
        "Another partner works a vendor lead for this customer; your registration will be reviewed."
    ),
}


class RateLimited(Exception):
    pass


# --- Availability check -------------------------------------------------------------------------------------


def _rate_consume(*, user: User, now: datetime) -> bool:
    """Count one check in the user's current hour; False when over PRM_AVAILABILITY_RATE."""
    return rate_limit_consume(
        bucket=f"availability:{user.pk}", limit=settings.PRM_AVAILABILITY_RATE, window_seconds=3600
    )


def availability_check(*, user: User, tax_id: str = "", domain: str = "", name: str = "") -> AvailabilityCheck:
    """Answer whether a customer is free, with the registration's own conflict rule; logged, rate-limited.

    `domain` may be a website or an e-mail address. Raises RateLimited when the user is over the hourly limit.
    """
    now = timezone.now()
    tax = tax_id_canonical(tax_id)
    dom = domain_from(website=domain, email="") if "@" not in domain else domain_from(email=domain)
    normalized = customer_name_key(name)
    if not (tax or dom or normalized):
        raise ValidationError(_("Enter a tax id, a domain or e-mail, or a company name."))
    if not _rate_consume(user=user, now=now):
        raise RateLimited
    claims = customer_claims(tax_id=tax, domain=dom, name=normalized, partner=user.partner)
    if any(m.reserved for m in claims.hard):
        result = AvailabilityResult.RESERVED
    elif claims.hard:
        result = AvailabilityResult.PROTECTED
    elif claims.offered:
        result = AvailabilityResult.CLAIMED
    elif claims.soft:
        result = AvailabilityResult.SIMILAR
    else:
        result = AvailabilityResult.FREE
    return AvailabilityCheck.objects.create(
        user=user, partner_id=user.partner_id, tax_id=tax, domain=dom, name=normalized, result=result
    )


# --- Disputes -----------------------------------------------------------------------------------------------


def _holder(*, tax_id: str, domain: str, name: str, partner: Partner) -> Registration | None:
    """The other partner's registration that currently protects this customer (hard match first)."""
    claims = customer_claims(tax_id=tax_id, domain=domain, name=name, partner=partner)
    for match in claims.hard + claims.soft:
        if match.registration_id:
            return Registration.objects.filter(pk=match.registration_id).first()
    return None


def dispute_open(
    *,
    user: User,
    first_contact_date: date,
    description: str,
    registration: Registration | None = None,
    customer_name: str = "",
    tax_id: str = "",
    attachment=None,
) -> Dispute:
    """Open a dispute on the partner's own registration, or on a customer name / tax id."""
    if registration is not None and registration.partner_id != user.partner_id:
        raise ValidationError({"registration": _("Choose one of your company's registrations.")})
    if registration is None and not (customer_name.strip() or tax_id.strip()):
        raise ValidationError({"customer_name": _("Choose a registration or name the customer.")})
    if first_contact_date > timezone.localdate():
        raise ValidationError({"first_contact_date": _("The first contact cannot be in the future.")})
    if registration is not None:
        cust = registration.lead.customer
        holder = _holder(tax_id=cust.tax_id, domain=cust.domain, name=cust.normalized_name, partner=user.partner)
    else:
        holder = _holder(tax_id=tax_id, domain="", name=customer_name, partner=user.partner)
    now = timezone.now()
    dispute = Dispute(
        partner_id=user.partner_id,
        opened_by=user,
        registration=registration,
        held_registration=holder,
        customer_name=customer_name.strip(),
        tax_id=tax_id_canonical(tax_id),
        first_contact_date=first_contact_date,
        description=description.strip(),
        due_at=vendor_deadline(start=now, hours=settings.PRM_DISPUTE_DECISION_HOURS),
    )
    if attachment:
        dispute.attachment = attachment
    dispute.full_clean()
    with transaction.atomic():
        dispute.save()
        audit_record(actor=user, action="dispute.opened", target=dispute, reason=dispute.description[:500])
        notify(
            users=channel_managers(),
            kind=NotificationKind.REVIEW_QUEUE,
            title=compose(N_("New dispute #%(id)s waiting for a decision"), id=dispute.pk),
            url=reverse("leads:dispute_detail", args=[dispute.pk]),
        )
    return dispute


def _partner_users(*registrations_or_none, extra=()) -> list[User]:
    users = list(extra)
    for reg in registrations_or_none:
        if reg is not None:
            users += [reg.submitted_by, reg.lead.owner]
    return [u for u in users if u is not None]


def dispute_decide(
    *, dispute: Dispute, actor: User, outcome: str, reason: str, share: Decimal | None = None
) -> Dispute:
    """Apply a channel manager's decision. The dispute row lock makes a decision apply exactly once."""
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the decision.")})
    if outcome not in DisputeOutcome.values:
        raise ValidationError({"outcome": _("Choose a decision.")})
    with transaction.atomic():
        d = Dispute.objects.select_for_update().get(pk=dispute.pk)
        if d.status != DisputeStatus.OPEN:
            raise ValidationError(_("This dispute was already decided."))
        held, own = d.held_registration, d.registration
        data = {"outcome": outcome}
        if outcome in (DisputeOutcome.TRANSFER, DisputeOutcome.COSELL) and held is None:
            raise ValidationError(_("No other partner holds this customer; only “uphold” applies."))
        if outcome == DisputeOutcome.TRANSFER:
            if own is None:
                raise ValidationError(_("The dispute names no registration of the disputing partner to approve."))
            _transfer(held=held, own=own, actor=actor, reason=reason.strip())
            data.update(held_registration=held.pk, registration=own.pk)
        elif outcome == DisputeOutcome.COSELL:
            if share is None or not (Decimal("0") < share <= Decimal("100")):
                raise ValidationError({"share": _("Give the disputing partner's share (0–100%).")})
            CoSell.objects.update_or_create(
                lead_id=held.lead_id, partner_id=d.partner_id, defaults={"share_percent": share, "role": "dispute"}
            )
            d.cosell_share = share
            data.update(lead=held.lead_id, share=str(share))
        d.status, d.outcome, d.decision_reason = DisputeStatus.DECIDED, outcome, reason.strip()
        d.decided_by, d.decided_at = actor, timezone.now()
        d.save()
        audit_record(actor=actor, action=f"dispute.{outcome}", target=d, reason=d.decision_reason, data=data)
        # The disputing partner's CRM (never the holder's: it must not learn who disputed its customer).
        webhook_emit(
            event=WebhookEvent.DISPUTE_DECIDED,
            partner=d.partner_id,
            payload={
                "dispute": d.pk,
                "registration": d.registration_id,
                "outcome": d.outcome,
                "cosell_share": None if d.cosell_share is None else f"{d.cosell_share:.2f}",
                "decided_at": d.decided_at.isoformat(),
            },
        )
        title = compose(N_("Dispute #%(id)s decided: %(outcome)s"), id=d.pk, outcome=choice(d, "outcome"))
        notify(
            users=_partner_users(own, extra=[d.opened_by]),
            kind=NotificationKind.REQUEST_UPDATED,
            title=title,
            body=d.decision_reason,
            url=reverse("leads:dispute_detail", args=[d.pk]),
        )
        if held is not None:
            # The holder learns the outcome on its deal, not who disputed it.
            notify(
                users=_partner_users(held),
                kind=NotificationKind.REQUEST_UPDATED,
                title=compose(
                    N_("A dispute about %(deal)s was decided: %(outcome)s"),
                    deal=held.lead.title,
                    outcome=choice(d, "outcome"),
                ),
                body=d.decision_reason,
                url=reverse("leads:deal_detail", args=[held.lead_id]),
            )
    return d


def _transfer(*, held: Registration, own: Registration, actor: User, reason: str) -> None:
    """Release the holder's windows and approve the disputer's registration with new windows (caller's atomic)."""
    regs = {
        r.pk: r
        for r in Registration.objects.select_for_update(of=("self",))
        .select_related("partner__tier", "lead__customer", "lead__owner", "submitted_by")
        .filter(pk__in=[held.pk, own.pk])
        .order_by("pk")
    }
    held, own = regs[held.pk], regs[own.pk]
    ProtectionWindow.objects.filter(registration=held, active=True).update(active=False)
    if held.status == RegistrationStatus.APPROVED:
        held.status = RegistrationStatus.EXPIRED
        held.decision_reason = _("Protection transferred after a dispute.")
        held.save(update_fields=["status", "decision_reason", "updated_at"])
    audit_record(actor=actor, action="registration.protection_released", target=held, reason=reason)
    cust = own.lead.customer
    keys = _keys(tax_id=cust.tax_id, domain=cust.domain, normalized=cust.normalized_name)
    # The disputer may already hold some keys (e.g. its own name window); don't protect them twice.
    own_keys = set(ProtectionWindow.objects.filter(registration=own, active=True).values_list("key_kind", "key"))
    try:
        with transaction.atomic():
            _windows_create(
                registration=own,
                keys=[k for k in keys if k not in own_keys],
                days=protection_days(partner=own.partner, policy=registration_policy(partner=own.partner)),
            )
    except IntegrityError as exc:
        raise ValidationError(_("Another registration still protects this customer; decide that one first.")) from exc
    _decide(registration=own, status=RegistrationStatus.APPROVED, rule="dispute_transfer", reason=reason, actor=actor,
            matches=own.matches)  # fmt: skip


def disputes_escalate(*, now: datetime | None = None, batch: int = 500) -> int:
    """Escalate overdue open disputes once each to channel leads (vendor admins if none). Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Dispute.objects.filter(status=DisputeStatus.OPEN, due_at__lte=now, escalated_at__isnull=True)
        if connection_supports_skip_locked():
            due = due.select_for_update(skip_locked=True)
        ids = list(due.order_by("due_at").values_list("pk", flat=True)[:batch])
        if not ids:
            return 0
        # The conditional UPDATE is the claim: a row escalated by someone else meanwhile is not counted again.
        claimed = Dispute.objects.filter(pk__in=ids, escalated_at__isnull=True).update(escalated_at=now)
        notify(
            users=escalation_recipients(),
            kind=NotificationKind.ESCALATION,
            title=compose_plural(
                N_("%(n)s dispute overdue for a decision"), N_("%(n)s disputes overdue for a decision"), claimed
            ),
            body=", ".join(f"#{pk}" for pk in ids),
            url=reverse("leads:dispute_list"),
        )
    return claimed


# --- Reclaiming untouched leads -----------------------------------------------------------------------------


def _open_flags():
    return LeadReclaim.objects.filter(cleared_at__isnull=True, reclaimed_at__isnull=True)


def _partner_notify_users(lead: Lead) -> list[User]:
    if lead.owner_id:
        return [lead.owner]
    return list(partner_admins(partner=lead.partner_id))


def leads_reclaim(*, now: datetime | None = None, batch: int = 500) -> dict:
    """Clear flags of worked leads, flag newly untouched leads, reclaim flagged ones past their grace period.

    Idempotent and safe with several workers: rows are claimed with SKIP LOCKED, one open flag per lead is a
    unique constraint, and a reclaimed flag is never reclaimed again.
    """
    now = now or timezone.now()
    skip = connection_supports_skip_locked()
    # 1. A flag is cleared by any activity after it was raised, or when the lead left the partner / open stages.
    cleared = (
        _open_flags()
        .filter(
            Q(lead__last_activity_at__gt=F("flagged_at"))
            | ~Q(lead__stage__in=OPEN_STAGES)
            | Q(lead__partner__isnull=True)
            | ~Q(lead__partner_id=F("partner_id"))
            | Q(reason=ReclaimReason.NO_FIRST_CONTACT, lead__first_contact_at__isnull=False)
        )
        .update(cleared_at=now)
    )

    # 2. Flag.
    idle_since = now - timedelta(days=settings.PRM_RECLAIM_IDLE_DAYS)
    flagged = []
    with transaction.atomic():
        candidates = (
            Lead.objects.filter(stage__in=OPEN_STAGES, partner__isnull=False)
            .exclude(pk__in=_open_flags().values("lead_id"))
            .annotate(idle_from=Coalesce("last_activity_at", "accepted_at", "created_at", output_field=DateTimeField()))
            .filter(
                Q(source__in=ROUTED_SOURCES, first_contact_at__isnull=True, first_contact_due__lt=now)
                | (
                    Q(idle_from__lt=idle_since)
                    & (Q(source__in=ROUTED_SOURCES) | Q(registration__status=RegistrationStatus.APPROVED))
                )
            )
            .select_related("owner")
            .order_by("pk")
        )
        if skip:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        leads = list(candidates[:batch])
        due = vendor_deadline(start=now, hours=settings.PRM_RECLAIM_GRACE_HOURS)
        for lead in leads:
            no_contact = (
                lead.source in ROUTED_SOURCES
                and lead.first_contact_at is None
                and lead.first_contact_due is not None
                and lead.first_contact_due < now
            )
            flagged.append(
                LeadReclaim(
                    lead=lead,
                    partner_id=lead.partner_id,
                    reason=ReclaimReason.NO_FIRST_CONTACT if no_contact else ReclaimReason.IDLE,
                    flagged_at=now,
                    reclaim_due=due,
                )
            )
        LeadReclaim.objects.bulk_create(flagged, ignore_conflicts=True)
        # The partner's CRM hears it too: work the deal before `reclaim_due` or lose it.
        webhook_emit_many(
            event=WebhookEvent.LEAD_RECLAIM_FLAGGED,
            items=[
                (
                    flag.partner_id,
                    {
                        "lead": flag.lead_id,
                        "reason": flag.reason,
                        "flagged_at": flag.flagged_at.isoformat(),
                        "reclaim_due": flag.reclaim_due.isoformat(),
                    },
                )
                for flag in flagged
            ],
        )
        for flag in flagged:
            notify(
                users=_partner_notify_users(flag.lead),
                kind=NotificationKind.SYSTEM,
                title=compose(
                    N_("%(deal)s will be reclaimed on %(due)s unless you work it"), deal=flag.lead.title, due=due
                ),
                body=choice(flag, "reason"),
                url=reverse("leads:deal_detail", args=[flag.lead_id]),
            )

    # 3. Reclaim.
    reroute = []
    with transaction.atomic():
        flags = _open_flags().filter(reclaim_due__lte=now).select_related("lead__owner", "lead__registration")
        if skip:
            flags = flags.select_for_update(skip_locked=True, of=("self",))
        flags = list(flags.order_by("reclaim_due", "pk")[:batch])
        locked = Lead.objects.select_for_update().in_bulk([f.lead_id for f in flags]) if flags else {}
        # Taking routed leads back lowers their partners' open_load (a trigger): lock those rows in id order first,
        # as the router does, so a reclaim and a router never wait on each other.
        from leads.services.routing import partners_lock

        partners_lock(ids=[lead.partner_id for lead in locked.values() if lead.source in ROUTED_SOURCES])
        for flag in flags:
            lead = locked[flag.lead_id]
            if lead.last_activity_at and lead.last_activity_at > flag.flagged_at:
                flag.cleared_at = now  # worked meanwhile
                flag.save(update_fields=["cleared_at"])
                continue
            users = _partner_notify_users(flag.lead)
            if lead.source in ROUTED_SOURCES:
                Lead.objects.filter(pk=lead.pk).update(
                    stage=Stage.NEW,
                    partner=None,
                    owner=None,
                    offered_at=None,
                    accepted_at=None,
                    first_contact_due=None,
                    first_contact_at=None,
                    route_failures=F("route_failures") + 1,
                    updated_at=now,
                )
                reroute.append(lead.pk)
            else:
                registration_release(lead=lead, actor=None, reason=MSG_RECLAIMED)
            flag.reclaimed_at = now
            flag.save(update_fields=["reclaimed_at"])
            audit_record(
                actor=None,
                action="lead.reclaimed",
                target=lead,
                partner=Partner(pk=flag.partner_id),
                reason=flag.get_reason_display(),
                data={"flagged_at": flag.flagged_at.isoformat()},
            )
            notify(
                users=users,
                kind=NotificationKind.SYSTEM,
                title=compose(N_("%(deal)s was reclaimed"), deal=lead.title),
                body=choice(flag, "reason"),
            )
        reclaimed = sum(1 for f in flags if f.reclaimed_at)

    from leads.services.routing import lead_route

    for pk in reroute:
        with contextlib.suppress(ValidationError):  # routed meanwhile by someone else
            lead_route(lead=Lead(pk=pk), retry=True)
    return {"cleared": cleared, "flagged": len(flagged), "reclaimed": reclaimed}
