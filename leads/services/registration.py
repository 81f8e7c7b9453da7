"""Deal registration: conflict detection, decisions, protection windows, extension and expiry.

The database is the referee: ProtectionWindow has a unique index over active (key_kind, key), so when many
partners register one customer at the same moment only one insert can succeed; the others turn into a clean
conflict decision inside a savepoint.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import (
    OPEN_STAGES,
    Customer,
    Lead,
    LeadSource,
    ProtectionWindow,
    Registration,
    RegistrationDecision,
    RegistrationPolicy,
    RegistrationStatus,
    Stage,
)
from leads.normalize import domain_from, name_normalize, tax_id_normalize
from leads.selectors.registration import CustomerConflicts, customer_conflicts
from partners.models import Partner, PartnerStatus
from prm.models import NotificationKind, User
from prm.selectors import channel_managers
from prm.services import audit_record, audit_record_many, connection_supports_skip_locked, notify
from prm.texts import N_, choice, compose, dumps
from prm.webhooks import webhook_emit

DEFAULT_PROTECTION_DAYS = 90
DEFAULT_EXTENSION_DAYS = 30
EXTENSION_ACTIVITY_DAYS = 14
EXPIRY_WARNING_DAYS = 7


class Rule:
    """Decision rules stored on registrations (stable identifiers, shown on the deal)."""

    AUTO_APPROVED = "auto_no_conflict"
    HARD_CONFLICT = "hard_conflict"
    RESERVED = "vendor_named_account"
    OWN_DUPLICATE = "own_duplicate"
    SOFT_CONFLICT = "soft_conflict"
    MANUAL_PROGRAM = "program_requires_review"
    NOT_IN_GOOD_STANDING = "partner_not_in_good_standing"
    RACE_LOST = "protected_concurrently"
    MANUAL_APPROVED = "manual_approved"
    MANUAL_REJECTED = "manual_rejected"


# What a partner is told. Never which partner holds the customer.
def _reason(msgid: str) -> str:
    """A decision reason the system words: stored as code + parameters (prm.texts), shown in the reader's language."""
    return dumps(compose(msgid))


MSG_PROTECTED = "This customer is already protected by another partner."
MSG_RESERVED = "This customer is reserved for the vendor's direct sales."
MSG_OWN = "Your company already protects this customer."
MSG_SOFT = "A similar customer name is already protected; a channel manager will review the registration."


@dataclass(frozen=True)
class CustomerData:
    name: str
    tax_id: str = ""
    website: str = ""
    email: str = ""
    country: str = "RU"
    region: object = None
    industry: object = None
    size: str = ""


@dataclass(frozen=True)
class DealData:
    title: str
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    products: str = ""
    value: Decimal = Decimal("0")
    currency: str = "RUB"
    expected_close: date | None = None
    notes: str = ""


def registration_policy(*, partner: Partner) -> RegistrationPolicy:
    """The partner's program terms; an unsaved default when the vendor has not configured the program."""
    return RegistrationPolicy.objects.filter(program_model=partner.program_model).first() or RegistrationPolicy(
        program_model=partner.program_model
    )


def protection_days(*, partner: Partner, policy: RegistrationPolicy) -> int:
    if partner.tier_id and partner.tier.protection_days:
        return partner.tier.protection_days
    return policy.protection_days or DEFAULT_PROTECTION_DAYS


def deal_register(
    *, partner: Partner, submitted_by: User | None, customer: CustomerData, deal: DealData
) -> Registration:
    """Register a deal: create the customer/lead/registration and decide at once.

    no conflict + good standing + auto-approval → approved with protection windows; soft conflict → review
    queue; hard conflict → rejected (kept, with the reason). Never raises on a conflict, only on bad input.
    """
    tax_id = tax_id_normalize(customer.tax_id)
    domain = domain_from(website=customer.website, email=customer.email or deal.contact_email)
    normalized = name_normalize(customer.name)
    if not normalized:
        raise ValidationError({"customer_name": _("Enter the customer's company name.")})
    policy = registration_policy(partner=partner)

    with transaction.atomic():
        cust = _customer_link(data=customer, tax_id=tax_id, domain=domain, normalized=normalized)
        lead = Lead(
            customer=cust,
            partner=partner,
            owner=submitted_by,
            source=LeadSource.PARTNER_REGISTRATION,
            stage=Stage.REGISTERED,
            region=cust.region,
            title=deal.title,
            contact_name=deal.contact_name,
            contact_email=deal.contact_email,
            contact_phone=deal.contact_phone,
            products=deal.products,
            value=deal.value,
            currency=deal.currency.upper(),
            expected_close=deal.expected_close,
            notes=deal.notes,
        )
        lead.full_clean()
        lead.save()
        registration = Registration.objects.create(lead=lead, partner=partner, submitted_by=submitted_by)
        audit_record(actor=submitted_by, action="registration.submitted", target=registration, partner=partner)

        _auto_decide(registration=registration, policy=policy, tax_id=tax_id, domain=domain, normalized=normalized)
    return registration


def _customer_link(*, data: CustomerData, tax_id: str, domain: str, normalized: str) -> Customer:
    """The existing customer with this tax id (else domain), or a new one. Duplicates are harmless here:
    protection is keyed on normalised values, not on the customer row."""
    existing = None
    if tax_id:
        existing = Customer.objects.filter(tax_id=tax_id).order_by("-reserved_for_direct", "id").first()
    if existing is None and domain:
        existing = Customer.objects.filter(domain=domain).order_by("-reserved_for_direct", "id").first()
    if existing is not None:
        return existing
    cust = Customer(
        name=data.name.strip(),
        normalized_name=normalized,
        country=data.country or "RU",
        tax_id=tax_id,
        domain=domain,
        region=data.region,
        industry=data.industry,
        size=data.size,
    )
    cust.full_clean()
    cust.save()
    return cust


def _auto_decide(*, registration: Registration, policy: RegistrationPolicy, tax_id: str, domain: str, normalized: str):
    """Check conflicts and decide at once: approve with protection windows, queue for review, or reject."""
    partner = registration.partner
    keys = _keys(tax_id=tax_id, domain=domain, normalized=normalized)
    conflicts = customer_conflicts(tax_id=tax_id, domain=domain, name=normalized)
    decision = _auto_decision(partner=partner, policy=policy, conflicts=conflicts)
    if decision is None:
        # Keys the partner itself already holds (a fuzzy own match) need no second window.
        own = {(m.key_kind, m.key) for m in conflicts.soft if m.partner_id == partner.pk}
        try:
            with transaction.atomic():
                _windows_create(
                    registration=registration,
                    keys=[k for k in keys if k not in own],
                    days=protection_days(partner=partner, policy=policy),
                )
        except IntegrityError:
            # Someone protected one of the keys between our check and our insert: decide again on what
            # is committed now.
            conflicts = customer_conflicts(tax_id=tax_id, domain=domain, name=normalized)
            decision = _auto_decision(partner=partner, policy=policy, conflicts=conflicts) or (
                RegistrationStatus.REJECTED,
                Rule.RACE_LOST,
                _reason(MSG_PROTECTED),
            )
        else:
            decision = (RegistrationStatus.APPROVED, Rule.AUTO_APPROVED, _reason(N_("No conflicting registration.")))
    status, rule, reason = decision
    _decide(registration=registration, status=status, rule=rule, reason=reason, actor=None, matches=conflicts.as_json())
    if status == RegistrationStatus.PENDING_REVIEW:
        _notify_reviewers(registration)


def registrations_submit(*, lead_ids: list[int], submitted_by: User | None) -> None:
    """A partner's own deals created through the API (its CRM) are deal registrations like the portal's: checked
    right after the commit by `registrations_check` in a task (the conflict check is per customer; a batch has
    5,000). Until then such a deal has no registration, no protection window and cannot move
    (pipeline.deal_allowed_moves)."""
    from leads.tasks import registrations_check_task

    ids, submitted_by_id = list(lead_ids), getattr(submitted_by, "pk", None)
    transaction.on_commit(lambda: registrations_check_task.delay(lead_ids=ids, submitted_by_id=submitted_by_id))


def registrations_check(*, lead_ids: list[int] | None = None, submitted_by_id: int | None = None, limit=5000) -> int:
    """Register partner-registered deals that have no registration yet and decide them by the rules of
    `deal_register`: the ones `registrations_submit` queued, or with no ids any left over (a lost task). Each in
    its own transaction; the one registration per deal is a unique key, so a duplicated task registers nothing
    twice. Returns how many it registered."""
    todo = Lead.objects.filter(source=LeadSource.PARTNER_REGISTRATION, partner__isnull=False, registration=None)
    if lead_ids is not None:
        todo = todo.filter(pk__in=lead_ids)
    done = 0
    for lead in todo.select_related("customer", "partner__tier").order_by("pk")[:limit]:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    registration = Registration.objects.create(
                        lead=lead, partner=lead.partner, submitted_by_id=submitted_by_id
                    )
            except IntegrityError:
                continue  # registered meanwhile
            audit_record(actor=registration.submitted_by, action="registration.submitted", target=registration)
            customer = lead.customer
            _auto_decide(
                registration=registration,
                policy=registration_policy(partner=lead.partner),
                tax_id=tax_id_normalize(customer.tax_id),
                domain=customer.domain or domain_from(email=lead.contact_email),
                normalized=name_normalize(customer.name),
            )
            done += 1
    return done


def _keys(*, tax_id: str, domain: str, normalized: str) -> list[tuple[str, str]]:
    kinds = ProtectionWindow.KeyKind
    return [(k, v) for k, v in ((kinds.TAX_ID, tax_id), (kinds.DOMAIN, domain), (kinds.NAME, normalized)) if v]


def _auto_decision(*, partner: Partner, policy: RegistrationPolicy, conflicts: CustomerConflicts):
    """(status, rule, reason) when the registration cannot be approved automatically, else None."""
    others_hard = [m for m in conflicts.hard if m.partner_id != partner.pk or m.reserved]
    if any(m.reserved for m in others_hard):
        return RegistrationStatus.REJECTED, Rule.RESERVED, _reason(MSG_RESERVED)
    if others_hard:
        return RegistrationStatus.REJECTED, Rule.HARD_CONFLICT, _reason(MSG_PROTECTED)
    if conflicts.hard:
        return RegistrationStatus.REJECTED, Rule.OWN_DUPLICATE, _reason(MSG_OWN)
    if any(m.partner_id != partner.pk or m.reserved for m in conflicts.soft):
        return RegistrationStatus.PENDING_REVIEW, Rule.SOFT_CONFLICT, _reason(MSG_SOFT)
    if partner.status != PartnerStatus.ACTIVE:
        return (
            RegistrationStatus.PENDING_REVIEW,
            Rule.NOT_IN_GOOD_STANDING,
            _reason(N_("Your partnership is not active; a channel manager will review the registration.")),
        )
    if not policy.auto_approve:
        return (
            RegistrationStatus.PENDING_REVIEW,
            Rule.MANUAL_PROGRAM,
            _reason(N_("Registrations in your program are reviewed by a channel manager.")),
        )
    return None


def _windows_create(*, registration: Registration, keys: list[tuple[str, str]], days: int) -> None:
    now = timezone.now()
    until = now + timedelta(days=days)
    ProtectionWindow.objects.bulk_create(
        [
            ProtectionWindow(
                registration=registration,
                partner_id=registration.partner_id,
                key_kind=kind,
                key=key,
                starts_at=now,
                ends_at=until,
            )
            for kind, key in keys
        ]
    )
    registration.protected_from, registration.protected_until = now, until


def _decide(
    *, registration: Registration, status: str, rule: str, reason: str, actor: User | None, matches: list
) -> None:
    registration.status = status
    registration.decision_rule = rule
    registration.decision_reason = reason
    registration.decided_by = actor
    registration.decided_at = timezone.now()
    registration.matches = matches
    registration.save()
    RegistrationDecision.objects.create(
        registration=registration, actor=actor, status=status, rule=rule, reason=reason, matches=matches
    )
    _deal_follow_decision(registration=registration, actor=actor, reason=reason)
    audit_record(
        actor=actor,
        action=f"registration.{status}",
        target=registration,
        reason=reason,
        data={"rule": rule, "matches": matches},
    )
    if status != RegistrationStatus.PENDING_REVIEW:
        _notify_partner(registration)
        # Matches name other partners' registrations: never part of the partner's payload.
        webhook_emit(
            event="registration.decided",
            partner=registration.partner_id,
            payload={
                "registration": registration.pk,
                "lead": registration.lead_id,
                "status": status,
                "reason": reason,
                "protected_until": registration.protected_until,
            },
        )


def _deal_follow_decision(*, registration: Registration, actor: User | None, reason: str) -> None:
    """A rejected registration closes its deal (stage "rejected", closed at the decision time); a later decision
    that overturns the rejection (a dispute transferring protection to it) puts the deal back to registered.

    Every decision goes through _decide, so every path that decides a registration inherits this."""
    lead = registration.lead
    if registration.status == RegistrationStatus.REJECTED and lead.stage in OPEN_STAGES:
        stage, closed_at = Stage.REJECTED, registration.decided_at
    elif registration.status != RegistrationStatus.REJECTED and lead.stage == Stage.REJECTED:
        stage, closed_at = Stage.REGISTERED, None
    else:
        return
    old = lead.stage
    lead.stage, lead.closed_at = stage, closed_at
    lead.save(update_fields=["stage", "closed_at", "updated_at"])
    audit_record(actor=actor, action="deal.stage_changed", target=lead, reason=reason, data={"from": old, "to": stage})


def _notify_partner(registration: Registration) -> None:
    notify(
        users=[registration.submitted_by],
        kind=NotificationKind.REGISTRATION_DECIDED,
        title=compose(
            N_("Registration %(deal)s: %(status)s"), deal=registration.lead.title, status=choice(registration, "status")
        ),
        body=registration.decision_reason,
        url=reverse("leads:deal_detail", args=[registration.lead_id]),
    )


def _notify_reviewers(registration: Registration) -> None:
    notify(
        users=channel_managers(),
        kind=NotificationKind.REVIEW_QUEUE,
        title=compose(N_("Deal registration waiting for review: %(deal)s"), deal=registration.lead.title),
        url=reverse("leads:registration_review"),
    )


def _locked(registration: Registration) -> Registration:
    return (
        Registration.objects.select_for_update(of=("self",))
        .select_related("partner__tier", "lead__customer")
        .get(pk=registration.pk)
    )


def registration_approve(*, registration: Registration, actor: User, reason: str) -> Registration:
    """A channel manager approves a pending registration. Tax id and domain must still be free; a name held by
    another partner is allowed (the reviewer judged it a different company) and simply not protected twice."""
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the decision.")})
    with transaction.atomic():
        reg = _locked(registration)
        if reg.status != RegistrationStatus.PENDING_REVIEW:
            raise ValidationError(_("This registration was already decided."))
        cust = reg.lead.customer
        keys = _keys(tax_id=cust.tax_id, domain=cust.domain, normalized=cust.normalized_name)
        days = protection_days(partner=reg.partner, policy=registration_policy(partner=reg.partner))
        conflicts = customer_conflicts(tax_id=cust.tax_id, domain=cust.domain, name=cust.normalized_name)
        if any(m.reserved for m in conflicts.hard):
            raise ValidationError(_("The customer is a vendor named account; it cannot be approved."))
        if conflicts.hard:
            raise ValidationError(_("Meanwhile another registration protects this tax id or domain; reject instead."))
        try:
            with transaction.atomic():
                _windows_create(registration=reg, keys=[k for k in keys if k[0] != "name"], days=days)
        except IntegrityError as exc:
            raise ValidationError(_("Meanwhile another registration protects this tax id or domain.")) from exc
        name_keys = [k for k in keys if k[0] == "name"]
        if name_keys:
            try:
                with transaction.atomic():
                    _windows_create(registration=reg, keys=name_keys, days=days)
            except IntegrityError:
                pass  # the name stays with its current holder
        _decide(
            registration=reg,
            status=RegistrationStatus.APPROVED,
            rule=Rule.MANUAL_APPROVED,
            reason=reason.strip(),
            actor=actor,
            matches=conflicts.as_json(),
        )
    return reg


def registration_reject(*, registration: Registration, actor: User, reason: str) -> Registration:
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the decision.")})
    with transaction.atomic():
        reg = _locked(registration)
        if reg.status != RegistrationStatus.PENDING_REVIEW:
            raise ValidationError(_("This registration was already decided."))
        _decide(
            registration=reg,
            status=RegistrationStatus.REJECTED,
            rule=Rule.MANUAL_REJECTED,
            reason=reason.strip(),
            actor=actor,
            matches=reg.matches,
        )
    return reg


def registration_extension_error(*, registration: Registration, now: datetime | None = None) -> str:
    """Why the protection cannot be extended now, or "" when it can (also used to show the button)."""
    now = now or timezone.now()
    if registration.status != RegistrationStatus.APPROVED:
        return _("Only an active protection can be extended.")
    if registration.extended:
        return _("The protection was already extended once.")
    last = registration.lead.last_activity_at
    if last is None or last < now - timedelta(days=EXTENSION_ACTIVITY_DAYS):
        return _("Log an activity on the deal first: extension needs activity in the last %(days)s days.") % {
            "days": EXTENSION_ACTIVITY_DAYS
        }
    return ""


def registration_extend(*, registration: Registration, actor: User) -> Registration:
    """Extend the protection once, by the program's extension days, when the deal is being worked."""
    with transaction.atomic():
        reg = _locked(registration)
        if error := registration_extension_error(registration=reg):
            raise ValidationError(error)
        days = registration_policy(partner=reg.partner).extension_days or DEFAULT_EXTENSION_DAYS
        old = reg.protected_until
        reg.protected_until = old + timedelta(days=days)
        reg.extended = True
        reg.expiry_warned_at = None  # warn again before the new end
        reg.save(update_fields=["protected_until", "extended", "expiry_warned_at", "updated_at"])
        reg.windows.filter(active=True).update(ends_at=reg.protected_until)
        audit_record(
            actor=actor,
            action="registration.extended",
            target=reg,
            data={"from": old.isoformat(), "to": reg.protected_until.isoformat(), "days": days},
        )
    return reg


def protections_expire(*, now: datetime | None = None, batch: int = 1000) -> int:
    """End protections whose time ran out and warn partners 7 days before. Idempotent; with several workers
    each due registration is claimed by one of them (SKIP LOCKED). Returns how many expired."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Registration.objects.filter(status=RegistrationStatus.APPROVED, protected_until__lte=now)
        if connection_supports_skip_locked():
            due = due.select_for_update(skip_locked=True)
        ids = list(due.order_by("protected_until").values_list("pk", flat=True)[:batch])
        if ids:
            Registration.objects.filter(pk__in=ids).update(status=RegistrationStatus.EXPIRED, updated_at=now)
            _audit_bulk(ids=ids, action="registration.expired", reason=compose(N_("Protection period ended.")))
        # Windows end with their registration; also any stray window whose end passed. One claim in id order with
        # SKIP LOCKED, so workers running this at once never wait on each other's windows (no deadlock).
        ending = ProtectionWindow.objects.filter(Q(registration_id__in=ids) | Q(ends_at__lte=now), active=True)
        if connection_supports_skip_locked():
            ending = ending.select_for_update(skip_locked=True)
        ProtectionWindow.objects.filter(pk__in=list(ending.order_by("pk").values_list("pk", flat=True))).update(
            active=False
        )

    with transaction.atomic():
        soon = Registration.objects.filter(
            status=RegistrationStatus.APPROVED,
            expiry_warned_at=None,
            protected_until__gt=now,
            protected_until__lte=now + timedelta(days=EXPIRY_WARNING_DAYS),
        ).select_related("lead", "submitted_by", "lead__owner")
        if connection_supports_skip_locked():
            soon = soon.select_for_update(skip_locked=True, of=("self",))
        warned = list(soon[:batch])
        for reg in warned:
            notify(
                users=[reg.submitted_by, reg.lead.owner],
                kind=NotificationKind.PROTECTION_EXPIRING,
                title=compose(
                    N_("Protection of %(deal)s ends on %(date)s"),
                    deal=reg.lead.title,
                    date=timezone.localdate(reg.protected_until),
                ),
                body=compose(N_("Log recent activity and request an extension on the deal page if the deal is alive.")),
                url=reverse("leads:deal_detail", args=[reg.lead_id]),
            )
        Registration.objects.filter(pk__in=[r.pk for r in warned]).update(expiry_warned_at=now)
    return len(ids)


def _audit_bulk(*, ids: list[int], action: str, reason: str | dict) -> None:
    rows = Registration.objects.filter(pk__in=ids).values_list("pk", "partner_id")
    audit_record_many(actor=None, action=action, items=[(Registration(pk=pk), p, reason, None) for pk, p in rows])
