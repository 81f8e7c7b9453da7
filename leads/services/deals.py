"""Working a deal: stage moves, activities and co-selling."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import CLOSED_STAGES, Activity, ActivityKind, CoSell, Lead, LeadSource, RegistrationStatus, Stage
from partners.models import Partner
from prm.models import PARTNER_ROLES, User
from prm.permissions import is_vendor
from prm.services import audit_record
from prm.webhooks import webhook_emit


class DealAudit:
    UPDATED = "deal.updated"
    STAGE_CHANGED = "deal.stage_changed"
    COSELL_SET = "deal.cosell_set"


# Forward one step or back one step while open; won only from proposal or negotiation; lost from any open stage.
ALLOWED_MOVES: dict[str, set[str]] = {
    Stage.REGISTERED: {Stage.QUALIFIED, Stage.LOST},
    Stage.QUALIFIED: {Stage.PROPOSAL, Stage.REGISTERED, Stage.LOST},
    Stage.PROPOSAL: {Stage.NEGOTIATION, Stage.QUALIFIED, Stage.WON, Stage.LOST},
    Stage.NEGOTIATION: {Stage.PROPOSAL, Stage.WON, Stage.LOST},
    Stage.WON: set(),
    Stage.LOST: set(),
    Stage.REJECTED: set(),  # closed by the registration decision (leads.services.registration)
}
# A registered deal can only be worked once its registration is (or was) approved.
WORKABLE_REGISTRATION = (RegistrationStatus.APPROVED, RegistrationStatus.EXPIRED)


def deal_allowed_moves(*, lead: Lead, actor: User | None = None) -> list[str]:
    if lead.stage == Stage.WON:
        # Vendor staff reverse a win (cancelled or refunded): the deal becomes lost and its commission is clawed back.
        return [Stage.LOST] if is_vendor(actor) else []
    registration = getattr(lead, "registration", None)
    if registration is not None and registration.status not in WORKABLE_REGISTRATION:
        return []
    if registration is None and lead.source == LeadSource.PARTNER_REGISTRATION and lead.external_id:
        return []  # a deal a partner's CRM created through the API waits for its registration check
    return [s for s in Stage.values if s in ALLOWED_MOVES.get(lead.stage, set())]


def deal_stage_change(*, lead: Lead, to_stage: str, actor: User | None, lost_reason: str = "") -> Lead:
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if to_stage not in deal_allowed_moves(lead=lead, actor=actor):
            raise ValidationError(
                {
                    "to_stage": _("A deal cannot move from %(a)s to %(b)s.")
                    % {"a": lead.get_stage_display(), "b": to_stage}
                }
            )
        if to_stage == Stage.LOST and not lost_reason.strip():
            raise ValidationError({"lost_reason": _("Say why the deal was lost.")})
        now = timezone.now()
        old = lead.stage
        lead.stage = to_stage
        if to_stage == Stage.WON:
            lead.won_at = lead.closed_at = now
        elif to_stage == Stage.LOST:
            lead.closed_at = now
            lead.lost_reason = lost_reason.strip()
        lead.full_clean()
        lead.save()
        if to_stage == Stage.LOST:
            from leads.services.registration import registration_release

            registration_release(lead=lead, actor=actor)  # a lost deal holds its customer no longer
        if old == Stage.WON:
            from kpi.payouts.services import commission_clawback  # the ledger sits above the pipeline

            commission_clawback(lead=lead, actor=actor, reason=lead.lost_reason)
        audit_record(
            actor=actor,
            action=DealAudit.STAGE_CHANGED,
            target=lead,
            reason=lead.lost_reason if to_stage == Stage.LOST else "",
            data={"from": old, "to": to_stage},
        )
        webhook_emit(
            event="deal.stage_changed",
            partner=lead.partner_id,
            payload={"lead": lead.pk, "from": old, "to": to_stage, "value": lead.value, "currency": lead.currency},
        )
        if to_stage == Stage.WON:
            from leads.delivery.services import implementation_open

            implementation_open(lead=lead, actor=actor)  # the people who stay with the customer after the sale
            # The partners app asks the customer for a review; optional until that service exists.
            try:
                from partners import services as partners_services
            except ImportError:
                partners_services = None
            review_invite = getattr(partners_services, "review_invite", None)
            if review_invite is not None:
                transaction.on_commit(lambda: review_invite(lead=lead))
    return lead


def activity_log(
    *, lead: Lead, user: User, kind: str, occurred_at: datetime, subject: str, notes: str = ""
) -> Activity:
    """Log a call, meeting, e-mail or note; keeps the deal's first-contact and last-activity times current."""
    if occurred_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"occurred_at": _("An activity cannot be in the future.")})
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        activity = Activity(
            lead=lead,
            partner_id=user.partner_id or lead.partner_id,
            user=user,
            kind=kind,
            occurred_at=occurred_at,
            subject=subject.strip(),
            notes=notes,
        )
        if kind not in ActivityKind.values:
            raise ValidationError({"kind": _("Unknown activity kind.")})
        activity.full_clean()
        activity.save()
        leads_activity_clock(lead_ids=[lead.pk])
    return activity


def leads_activity_clock(*, lead_ids) -> int:
    """The one rule of when a deal was touched, for any number of deals in one UPDATE; every door that writes
    activities calls it after writing (portal log, API create/update/delete, API bulk upsert).

    - last_activity_at: the latest activity on the deal, whoever logged it (hygiene, reclaiming, extension);
    - first_contact_at: the earliest activity logged for the deal's current partner (the first-contact SLA); a
      co-seller's activities and those of a partner the lead was reclaimed from do not count.
    Both are recomputed from the activities, so a deleted or corrected activity moves them too.
    """
    activities = Activity.objects.filter(lead=OuterRef("pk")).order_by().values("lead")
    latest = activities.annotate(at=Max("occurred_at")).values("at")
    first = activities.filter(partner_id=OuterRef("partner_id")).annotate(at=Min("occurred_at")).values("at")
    return Lead.objects.filter(pk__in=list(lead_ids)).update(
        last_activity_at=Subquery(latest), first_contact_at=Subquery(first), updated_at=timezone.now()
    )


def deal_cosell_set(
    *, lead: Lead, shares: dict[Partner, Decimal], actor: User, roles: dict | None = None
) -> list[CoSell]:
    """Replace the deal's co-sellers. Shares are percents of the deal; together at most 100, the owner keeps
    the rest. An empty dict removes all co-sellers."""
    roles = roles or {}
    errors = []
    if not deal_allowed_moves(lead=lead):
        errors.append(_("Co-selling is declared on an open deal with an approved registration."))
    if any(p.pk == lead.partner_id for p in shares):
        errors.append(_("The owning partner keeps the remainder; do not list it as a co-seller."))
    if any(s is None or s <= 0 or s > 100 for s in shares.values()):
        errors.append(_("Each share must be above 0 and at most 100 percent."))
    if sum(shares.values(), Decimal("0")) > 100:
        errors.append(_("Shares add up to more than 100 percent."))
    if errors:
        raise ValidationError({"shares": errors})
    with transaction.atomic():
        Lead.objects.select_for_update().get(pk=lead.pk)
        lead.cosells.all().delete()
        rows = CoSell.objects.bulk_create(
            [CoSell(lead=lead, partner=p, share_percent=s, role=roles.get(p, "")) for p, s in shares.items()]
        )
        audit_record(
            actor=actor,
            action=DealAudit.COSELL_SET,
            target=lead,
            data={"shares": {p.name: str(s) for p, s in shares.items()}},
        )
    return rows


# What the owning partner (or vendor staff) may change on a deal's record; everything else is set by the flow.
DEAL_EDITABLE = (
    "contact_name",
    "contact_email",
    "contact_phone",
    "products",
    "value",
    "currency",
    "expected_close",
    "notes",
    "owner",
)


def deal_owner_choices(*, lead: Lead):
    """Who may own a deal: the active staff of the partner that holds it."""
    if not lead.partner_id:
        return User.objects.none()
    return User.objects.filter(partner_id=lead.partner_id, is_active=True, role__in=PARTNER_ROLES).order_by(
        "first_name", "last_name", "email"
    )


def deal_update(*, lead: Lead, actor: User | None, **changes) -> Lead:
    """Change the deal's customer contact, products, value and currency, expected close, notes or owner.

    Only the fields in DEAL_EDITABLE; a closed deal keeps its value (commission was booked on it). One audit row
    lists each changed field with its old and new value."""
    unknown = set(changes) - set(DEAL_EDITABLE)
    if unknown:
        raise ValidationError(_("These fields cannot be changed here: %(f)s") % {"f": ", ".join(sorted(unknown))})
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        errors = {}
        if "currency" in changes:
            changes["currency"] = (changes["currency"] or "").strip().upper()
            if len(changes["currency"]) != 3 or not changes["currency"].isalpha():
                errors["currency"] = _("Use a three-letter currency code such as RUB, USD or EUR.")
        owner = changes.get("owner")
        if owner is not None and not deal_owner_choices(lead=lead).filter(pk=owner.pk).exists():
            errors["owner"] = _("The owner must be an active member of the partner's staff.")
        if lead.stage in CLOSED_STAGES and any(
            f in changes and changes[f] != getattr(lead, f) for f in ("value", "currency")
        ):
            errors["value"] = _("A closed deal keeps its value and currency.")
        if errors:
            raise ValidationError(errors)
        changed = {}
        for field, new in changes.items():
            old = getattr(lead, field)
            if isinstance(new, str):
                new = new.strip()
            if old != new:
                changed[field] = [_audit_value(old), _audit_value(new)]
                setattr(lead, field, new)
        if not changed:
            return lead
        lead.full_clean()
        lead.save()
        audit_record(actor=actor, action=DealAudit.UPDATED, target=lead, data={"changed": changed})
    return lead


def _audit_value(value):
    if value is None:
        return None
    if isinstance(value, User):
        return {"id": value.pk, "name": value.get_full_name() or value.email}
    return str(value)
