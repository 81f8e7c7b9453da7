"""Writes for the partner program: applications, the onboarding pipeline, contacts and reviews (tier changes:
`kpi.services.tiers`)."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from prm.models import PARTNER_ROLES, NotificationKind, Role, User
from prm.selectors import channel_managers, partner_admins
from prm.services import audit_record, notify
from prm.taxids import tax_id_clean
from prm.texts import N_, choice, compose

from . import selectors
from .models import (
    Agreement,
    AgreementStatus,
    ContactRole,
    CustomerReview,
    Partner,
    PartnerContact,
    PartnerStatus,
    ReviewStatus,
)

S = PartnerStatus
# The onboarding pipeline. Reactivation: suspended -> active; terminated/rejected partners re-enter review.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.APPLIED: (S.UNDER_REVIEW, S.REJECTED),
    S.UNDER_REVIEW: (S.AGREEMENT_SIGNED, S.REJECTED),
    S.AGREEMENT_SIGNED: (S.ONBOARDING, S.TERMINATED),
    S.ONBOARDING: (S.ACTIVE, S.SUSPENDED, S.TERMINATED),
    S.ACTIVE: (S.SUSPENDED, S.TERMINATED),
    S.SUSPENDED: (S.ACTIVE, S.TERMINATED),
    S.TERMINATED: (S.UNDER_REVIEW,),
    S.REJECTED: (S.UNDER_REVIEW,),
}

# The applicant is recorded as the executive contact; that person becomes the partner admin.
APPLICANT_ROLE = ContactRole.EXECUTIVE


def _site_url(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason: it is recorded and shown to both sides.")})
    return reason


def tax_id_check(*, country: str, tax_id: str, exclude_pk: int | None = None) -> str:
    """Return the canonical tax id (the one tax id rule, prm.taxids: Russian INN checksum, EU VAT and other
    countries' VAT where python-stdnum has a validator) or raise; a tax id another partner holds is refused."""
    country = (country or "").upper()
    try:
        tax_id = tax_id_clean(tax_id, country or "RU")
    except ValidationError as exc:
        raise ValidationError({"tax_id": exc.messages}) from exc
    taken = Partner.objects.filter(country=country, tax_id=tax_id)
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError({"tax_id": _("A partner with this tax id is already registered or has applied.")})
    return tax_id


def partner_apply(
    *,
    name: str,
    legal_name: str,
    country: str,
    tax_id: str,
    website: str,
    regions,
    competencies,
    industries,
    program_model: str,
    partner_type: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str = "",
) -> Partner:
    """A company applies through the public form; channel managers are told."""
    country = country.upper()
    tax_id = tax_id_check(country=country, tax_id=tax_id)
    regions = list(regions)
    with transaction.atomic():
        partner = Partner(
            name=name,
            legal_name=legal_name,
            country=country,
            tax_id=tax_id,
            website=website,
            program_model=program_model,
            partner_type=partner_type,
            status=PartnerStatus.APPLIED,
            status_changed_at=timezone.now(),
            home_region=regions[0] if regions else None,
        )
        partner.full_clean()
        try:
            with transaction.atomic():
                partner.save()
        except IntegrityError as exc:  # a concurrent application with the same tax id won the race
            raise ValidationError(
                {"tax_id": _("A partner with this tax id is already registered or has applied.")}
            ) from exc
        partner.regions.set(regions)
        partner.competencies.set(competencies)
        partner.industries.set(industries)
        contact = PartnerContact(
            partner=partner, role=APPLICANT_ROLE, name=contact_name, email=contact_email.lower(), phone=contact_phone
        )
        contact.full_clean()
        contact.save()
        audit_record(actor=None, action="partner.applied", target=partner, data={"contact": contact.email})
        notify(
            users=channel_managers(),
            kind=NotificationKind.PARTNER_STATUS,
            title=compose(N_("New partner application: %(name)s"), name=partner.name),
            body=compose(
                N_("%(name)s (%(tax_id)s) applied as %(model)s."),
                name=partner.name,
                tax_id=partner.tax_id,
                model=choice(partner, "program_model"),
            ),
            url=reverse("partners:detail", args=[partner.pk]),
        )
    return partner


def _agreement_sign(*, partner: Partner, actor: User, terms: dict | None) -> Agreement:
    """Mark the partner's draft agreement signed, or create a signed one from the given terms."""
    agreement = partner.agreements.filter(status=AgreementStatus.SIGNED).first()
    if agreement and not terms:
        return agreement
    if not terms:
        agreement = partner.agreements.filter(status=AgreementStatus.DRAFT).order_by("-created_at").first()
        if agreement is None:
            raise ValidationError(_("Enter the agreement terms to sign the agreement."))
    else:
        # Re-signing replaces the previous signed version (only one may be signed at a time).
        partner.agreements.filter(status=AgreementStatus.SIGNED).update(status=AgreementStatus.TERMINATED)
        territory = terms.pop("territory", None)
        agreement = Agreement(partner=partner, **terms)
    agreement.status = AgreementStatus.SIGNED
    agreement.signed_at = timezone.now()
    agreement.signed_by_vendor = actor
    agreement.full_clean()
    agreement.save()
    if terms and territory is not None:
        agreement.territory.set(territory)
    partner.sla_policy = agreement.sla_policy
    audit_record(
        actor=actor, action="agreement.signed", target=agreement, partner=partner, data={"number": agreement.number}
    )
    return agreement


def _partner_admin_create(*, partner: Partner, actor: User) -> User | None:
    """The applicant becomes the partner admin with no password; they set one through an e-mailed link."""
    contact = partner.contacts.filter(role=APPLICANT_ROLE).first() or partner.contacts.first()
    if contact is None or contact.user_id:
        return None
    user = User.objects.filter(email__iexact=contact.email).first()
    if user is not None:
        if user.partner_id != partner.pk:
            raise ValidationError(
                _("The applicant's e-mail %(email)s already belongs to another account.") % {"email": contact.email}
            )
    else:
        first, _sep, last = contact.name.partition(" ")
        user = User(
            email=contact.email.lower(),
            first_name=first,
            last_name=last,
            phone=contact.phone,
            role=Role.PARTNER_ADMIN,
            partner=partner,
            email_events=[NotificationKind.PARTNER_STATUS, NotificationKind.TIER_CHANGED],
        )
        user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        audit_record(actor=actor, action="partner.admin_created", target=partner, data={"email": user.email})
        transaction.on_commit(lambda: _set_password_email(user=user))
    contact.user = user
    contact.save(update_fields=["user", "updated_at"])
    return user


def _set_password_email(*, user: User, body: str = "", **context) -> None:
    """The link a new account without a password uses to set one (onboarding and team invitations).

    `body` is the message with a %(link)s placeholder (and any `context` ones); the onboarding text by default."""
    body = body or _("Your company's partner agreement is signed. Set your password to sign in:\n\n%(link)s")
    link = _site_url(
        reverse(
            "password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
    )
    send_mail(
        _("Your partner portal account"),
        body % {**context, "link": link},
        None,
        [user.email],
    )


def partner_status_change(
    *, partner: Partner, to_status: str, actor: User, reason: str, agreement_terms: dict | None = None
) -> Partner:
    """The one place a partner's status moves; `agreement_terms` is used when moving to agreement_signed."""
    reason = _require_reason(reason)
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        from_status = partner.status
        if to_status not in TRANSITIONS.get(from_status, ()):
            raise ValidationError(
                {
                    "to_status": _("A partner cannot move from “%(from)s” to “%(to)s”.")
                    % {"from": PartnerStatus(from_status).label, "to": PartnerStatus(to_status).label}
                }
            )
        if to_status == S.ACTIVE:
            readiness = selectors.partner_onboarding_readiness(partner=partner)
            if not readiness["ready"]:
                raise ValidationError(
                    {
                        "to_status": _("Onboarding is not complete: %(missing)s")
                        % {"missing": "; ".join(readiness["missing"])}
                    }
                )
            partner.joined_at = partner.joined_at or timezone.localdate()
        agreement = None
        if to_status == S.AGREEMENT_SIGNED:
            agreement = _agreement_sign(partner=partner, actor=actor, terms=dict(agreement_terms or {}) or None)
        if to_status == S.TERMINATED:
            partner.agreements.filter(status=AgreementStatus.SIGNED).update(status=AgreementStatus.TERMINATED)
        partner.status = to_status
        partner.status_reason = reason
        partner.status_changed_at = timezone.now()
        partner.save(
            update_fields=["status", "status_reason", "status_changed_at", "joined_at", "sla_policy", "updated_at"]
        )
        if agreement is not None:
            _partner_admin_create(partner=partner, actor=actor)
        audit_record(
            actor=actor,
            action="partner.status_changed",
            target=partner,
            reason=reason,
            data={"from": from_status, "to": to_status},
        )
        notify(
            users=[partner.account_manager, *partner_admins(partner=partner)],
            kind=NotificationKind.PARTNER_STATUS,
            title=compose(N_("%(name)s: %(status)s"), name=partner.name, status=choice(partner, "status")),
            body=reason,
            url=reverse("partners:detail", args=[partner.pk]),
        )
    return partner


def partner_account_manager_set(*, partner: Partner, account_manager: User | None, actor: User, reason: str) -> Partner:
    reason = _require_reason(reason)
    if account_manager is not None and not account_manager.is_vendor:
        raise ValidationError({"account_manager": _("The account manager must be a vendor employee.")})
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        previous = partner.account_manager
        if previous == account_manager:
            raise ValidationError({"account_manager": _("This person already manages the partner.")})
        partner.account_manager = account_manager
        partner.save(update_fields=["account_manager", "updated_at"])
        audit_record(
            actor=actor,
            action="partner.account_manager_changed",
            target=partner,
            reason=reason,
            data={"from": str(previous or ""), "to": str(account_manager or "")},
        )
        notify(
            users=[account_manager],
            kind=NotificationKind.PARTNER_STATUS,
            title=compose(N_("You now manage %(name)s"), name=partner.name),
            body=reason,
            url=reverse("partners:detail", args=[partner.pk]),
        )
    return partner


def partner_contact_set(
    *, partner: Partner, role: str, name: str, email: str, phone: str = "", actor: User
) -> PartnerContact:
    """Name the person answerable for one area (sales, technical, support, executive)."""
    with transaction.atomic():
        contact = PartnerContact.objects.filter(partner=partner, role=role).first() or PartnerContact(
            partner=partner, role=role
        )
        before = {"name": contact.name, "email": contact.email}
        contact.name, contact.email, contact.phone = name, email.lower(), phone
        contact.user = User.objects.filter(partner=partner, email__iexact=email).first()
        contact.full_clean()
        contact.save()
        audit_record(
            actor=actor,
            action="partner.contact_changed",
            target=partner,
            data={"role": role, "from": before, "to": {"name": contact.name, "email": contact.email}},
        )
    return contact


def partner_profile_update(*, partner: Partner, actor: User, description: str, website: str) -> Partner:
    """Fields a partner admin may edit on its own company (never status, tier or program model)."""
    with transaction.atomic():
        partner.description, partner.website = description, website
        partner.full_clean()
        partner.save(update_fields=["description", "website", "updated_at"])
        audit_record(actor=actor, action="partner.profile_updated", target=partner)
    return partner


def review_invite(*, lead, email: bool = True) -> CustomerReview:
    """Invite the customer of a won deal to review the partner, once per deal, by a one-time link (e-mailed unless
    `email` is false: a check-in answered with consent submits it at once)."""
    if not lead.is_won or lead.partner_id is None:
        raise ValidationError(_("Only won deals with a partner can be reviewed."))
    with transaction.atomic():
        review, created = CustomerReview.objects.get_or_create(lead=lead, defaults={"partner_id": lead.partner_id})
        if created:
            audit_record(actor=None, action="review.invited", target=review, partner=lead.partner)
            if email and lead.contact_email:
                link = _site_url(reverse("partners:review_submit", args=[review.token]))
                transaction.on_commit(
                    lambda: send_mail(
                        _("How did %(partner)s do?") % {"partner": lead.partner.name},
                        _(
                            "Thank you for choosing %(partner)s. Please rate their work (the link works once):\n\n%(link)s"
                        )
                        % {"partner": lead.partner.name, "link": link},
                        None,
                        [lead.contact_email],
                    )
                )
    return review


def review_submit(*, token: str, rating: int, text: str, author_name: str) -> CustomerReview:
    with transaction.atomic():
        review = CustomerReview.objects.select_for_update().filter(token=token).first()
        if review is None:
            raise CustomerReview.DoesNotExist
        if review.status != ReviewStatus.INVITED:
            raise ValidationError(_("This review link has already been used. Thank you, your review is recorded."))
        review.rating, review.text, review.author_name = rating, text, author_name
        review.status = ReviewStatus.SUBMITTED
        review.submitted_at = timezone.now()
        review.full_clean()
        review.save()
        audit_record(actor=None, action="review.submitted", target=review)
        notify(
            users=channel_managers(),
            kind=NotificationKind.REVIEW_QUEUE,
            title=compose(N_("A customer review of %(partner)s waits for moderation"), partner=review.partner.name),
            url=reverse("partners:review_queue"),
        )
    return review


def review_moderate(*, review: CustomerReview, publish: bool, actor: User, reason: str = "") -> CustomerReview:
    if not publish:
        reason = _require_reason(reason)
    with transaction.atomic():
        review = CustomerReview.objects.select_for_update().get(pk=review.pk)
        if review.status != ReviewStatus.SUBMITTED:
            raise ValidationError(_("Only submitted reviews can be moderated."))
        review.status = ReviewStatus.PUBLISHED if publish else ReviewStatus.REJECTED
        review.moderated_by = actor
        review.moderation_reason = reason
        review.save(update_fields=["status", "moderated_by", "moderation_reason", "updated_at"])
        audit_record(actor=actor, action=f"review.{review.status}", target=review, reason=reason)
    return review


# --- Partner staff: a partner admin manages the company's own user accounts ------------------------------------


def _team_lock(*, partner_id: int, actor: User) -> None:
    """Serialise team changes per company (the partner row lock) and re-check the actor under it, so two admins
    demoting or deactivating each other at once cannot leave the company without an active admin."""
    Partner.objects.select_for_update().filter(pk=partner_id).first()
    if not partner_admins(partner=partner_id).filter(pk=actor.pk).exists():
        raise PermissionDenied


def _keep_an_admin(*, user: User) -> None:
    """Raise when `user` is the company's last active partner admin."""
    others = partner_admins(partner=user.partner_id).exclude(pk=user.pk)
    if user.role == Role.PARTNER_ADMIN and user.is_active and not others.exists():
        raise ValidationError(_("%(name)s is the company's only active partner admin.") % {"name": user})


def _role_check(role: str) -> None:
    if role not in PARTNER_ROLES:
        raise ValidationError({"role": _("Choose a partner role.")})


def partner_user_invite(
    *, partner: Partner, actor: User, email: str, first_name: str, last_name: str, role: str
) -> User:
    """Create a colleague's account without a password and e-mail the set-password link (as onboarding does)."""
    _role_check(role)
    email = email.strip().lower()
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None and existing.partner_id == partner.pk:
        raise ValidationError({"email": _("A colleague already has this e-mail: change or reactivate that account.")})
    if existing is not None:
        raise ValidationError({"email": _("An account with this e-mail already exists.")})
    user = User(email=email, first_name=first_name.strip(), last_name=last_name.strip(), role=role, partner=partner)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    with transaction.atomic():
        _team_lock(partner_id=partner.pk, actor=actor)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # invited by someone else a moment ago
            raise ValidationError({"email": _("An account with this e-mail already exists.")}) from exc
        audit_record(
            actor=actor,
            action="security.user_created",
            target=user,
            partner=partner,
            data={"email": email, "role": role},
        )
        body = _(
            "%(name)s invited you to the partner portal account of %(company)s. Set your password to sign in:\n\n%(link)s"
        )
        context = {"name": str(actor), "company": partner.name}
        transaction.on_commit(lambda: _set_password_email(user=user, body=body, **context))
    return user


def partner_user_role_set(*, user: User, role: str, actor: User) -> User:
    """Change a colleague's (or one's own) role; a security event in the audit trail."""
    _role_check(role)
    with transaction.atomic():
        _team_lock(partner_id=user.partner_id, actor=actor)
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.role == role:
            raise ValidationError({"role": _("%(name)s already has this role.") % {"name": user}})
        if role != Role.PARTNER_ADMIN:
            _keep_an_admin(user=user)
        previous = user.role
        user.role = role
        user.save(update_fields=["role", "updated_at"])
        audit_record(
            actor=actor,
            action="security.role_changed",
            target=user,
            partner=user.partner,
            data={"role": role, "from": previous},
        )
    return user


def _active_set(*, user: User, actor: User, active: bool) -> User:
    with transaction.atomic():
        _team_lock(partner_id=user.partner_id, actor=actor)
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.pk == actor.pk:
            raise ValidationError(_("You cannot deactivate or reactivate your own account."))
        if user.is_active == active:
            raise ValidationError(_("Nothing to change: the account is already in this state."))
        if not active:
            _keep_an_admin(user=user)
        user.is_active = active
        user.save(update_fields=["is_active", "updated_at"])
        audit_record(
            actor=actor,
            action="security.user_reactivated" if active else "security.user_deactivated",
            target=user,
            partner=user.partner,
            data={"is_active": active},
        )
    return user


def partner_user_deactivate(*, user: User, actor: User) -> User:
    """The colleague can no longer sign in (their session ends at the next request); history stays theirs."""
    return _active_set(user=user, actor=actor, active=False)


def partner_user_reactivate(*, user: User, actor: User) -> User:
    return _active_set(user=user, actor=actor, active=True)
