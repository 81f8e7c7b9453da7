"""Writes for market development funds. Every door (portal pages, API, admin, jobs) calls these.

budget_create → allocation_set / allocations_by_rule → fund_request_submit → fund_request_decide (within the
vendor's SLA for the "mdf" category, escalated when late) → fund_claim_submit (proof of performance) →
fund_claim_decide (an approved claim becomes one reimbursement entry in the commission ledger) → budgets_expire.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.enablement.models import RequestCategory
from partners.enablement.services import request_deadlines, request_default_owner
from partners.models import Partner, PartnerStatus
from prm.models import NotificationKind, User, WebhookEvent
from prm.permissions import is_partner_user, is_vendor
from prm.selectors import escalation_recipients
from prm.services import audit_record, audit_record_many, connection_supports_skip_locked, notify
from prm.texts import N_, choice, compose
from prm.webhooks import webhook_emit

from ..models import CommissionEntry, EntryKind
from ..services.ledger import Rates, ledger_entries_place
from .models import Allocation, Budget, ClaimStatus, FundClaim, FundRequest, FundRequestStatus

CENT = Decimal("0.01")


class FundEvent:
    REQUEST_DECIDED = WebhookEvent.MDF_REQUEST_DECIDED
    CLAIM_DECIDED = WebhookEvent.MDF_CLAIM_DECIDED


def _user(actor) -> User | None:
    """API keys act through a viewer object; audit rows and `…_by` columns take the key's creator."""
    user = getattr(actor, "user", actor)
    return user if isinstance(user, User) else None


def _vendor_only(actor) -> None:
    if not is_vendor(actor):
        raise PermissionDenied


def _money(value, field: str, *, allow_zero: bool = False) -> Decimal:
    if value is None:
        raise ValidationError({field: _("This field is required.")})
    value = Decimal(value).quantize(CENT, ROUND_HALF_UP)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationError({field: _("Give an amount above zero.")})
    return value


# --- budgets and allocations ----------------------------------------------------------------------------------


def budget_create(
    *,
    actor,
    name: str,
    period_start: datetime.date,
    period_end: datetime.date,
    amount,
    currency: str,
    region=None,
    program_model: str = "",
) -> Budget:
    _vendor_only(actor)
    budget = Budget(
        name=name,
        period_start=period_start,
        period_end=period_end,
        amount=_money(amount, "amount"),
        currency=currency.upper(),
        region=region,
        program_model=program_model,
        created_by=_user(actor),
    )
    if period_start and period_end and period_end < period_start:
        raise ValidationError({"period_end": _("The period ends before it starts.")})
    if Rates().on(budget.currency, period_start) is None:
        raise ValidationError({"currency": _("No exchange rate to the reporting currency is stored for it.")})
    with transaction.atomic():
        budget.full_clean()
        budget.save()
        audit_record(actor=_user(actor), action="mdf.budget_created", target=budget, data={"amount": str(amount)})
    return budget


def budget_eligible_partners(*, budget: Budget):
    """Active partners the budget may fund: in its region and of its program model, when it names them."""
    qs = Partner.objects.filter(status=PartnerStatus.ACTIVE)
    if budget.region_id:
        qs = qs.filter(Q(home_region_id=budget.region_id) | Q(regions=budget.region_id)).distinct()
    if budget.program_model:
        qs = qs.filter(program_model=budget.program_model)
    return qs


def _budget_open(budget: Budget) -> None:
    if budget.expired_at is not None:
        raise ValidationError(_("The budget's period is over; its balances have expired."))


def allocation_set(*, budget: Budget, partner: Partner, amount, actor, rule: str = "") -> Allocation:
    """Give a partner its share of a budget, or change it (never below what its approved requests committed)."""
    _vendor_only(actor)
    amount = _money(amount, "amount", allow_zero=True)
    if not budget_eligible_partners(budget=budget).filter(pk=partner.pk).exists():
        raise ValidationError({"partner": _("This budget is not for this partner's region or program model.")})
    with transaction.atomic():
        locked = Budget.objects.select_for_update().get(pk=budget.pk)
        _budget_open(locked)
        allocation = Allocation.objects.select_for_update().filter(budget=locked, partner=partner).first()
        before = allocation.amount if allocation else Decimal(0)
        if allocation and amount < allocation.committed:
            raise ValidationError({"amount": _("Approved requests already use %(n)s.") % {"n": allocation.committed}})
        if locked.allocated - before + amount > locked.amount:
            raise ValidationError(
                {"amount": _("Only %(n)s of the budget is left to allocate.") % {"n": locked.amount - locked.allocated}}
            )
        if allocation is None:
            allocation = Allocation.objects.create(
                budget=locked, partner=partner, amount=amount, rule=rule, created_by=_user(actor)
            )
        else:
            Allocation.objects.filter(pk=allocation.pk).update(amount=amount, rule=rule, updated_at=timezone.now())
            allocation.refresh_from_db()
        Budget.objects.filter(pk=locked.pk).update(
            allocated=F("allocated") + amount - before, updated_at=timezone.now()
        )
        audit_record(
            actor=_user(actor),
            action="mdf.allocated",
            target=allocation,
            partner=partner,
            data={"from": str(before), "to": str(amount), "rule": rule},
        )
    budget.refresh_from_db()
    return allocation


def allocations_by_rule(
    *, budget: Budget, actor, amount_each, program_models=(), min_tier_rank: int | None = None
) -> int:
    """Allocate `amount_each` to every eligible partner that has no allocation yet, narrowed like enablement
    targeting (program models, minimum tier rank). All or nothing: refused when the budget cannot cover them."""
    _vendor_only(actor)
    amount_each = _money(amount_each, "amount_each")
    partners = budget_eligible_partners(budget=budget).exclude(fund_allocations__budget=budget)
    if program_models:
        partners = partners.filter(program_model__in=list(program_models))
    if min_tier_rank is not None:
        partners = partners.filter(tier__rank__gte=min_tier_rank)
    rule = "rule:" + ",".join([*sorted(program_models), f"tier>={min_tier_rank}" if min_tier_rank is not None else ""])
    with transaction.atomic():
        locked = Budget.objects.select_for_update().get(pk=budget.pk)
        _budget_open(locked)
        ids = list(partners.values_list("pk", flat=True))
        total = amount_each * len(ids)
        if locked.allocated + total > locked.amount:
            raise ValidationError(
                {
                    "amount_each": _("%(count)s partners need %(total)s; only %(left)s is left.")
                    % {"count": len(ids), "total": total, "left": locked.amount - locked.allocated}
                }
            )
        created = Allocation.objects.bulk_create(
            [
                Allocation(
                    budget=locked, partner_id=pk, amount=amount_each, rule=rule.rstrip(","), created_by=_user(actor)
                )
                for pk in ids
            ]
        )
        Budget.objects.filter(pk=locked.pk).update(allocated=F("allocated") + total, updated_at=timezone.now())
        audit_record_many(
            actor=_user(actor),
            action="mdf.allocated",
            items=[(a, a.partner_id, "", {"to": str(amount_each), "rule": a.rule}) for a in created],
        )
    budget.refresh_from_db()
    return len(created)


# --- fund requests ---------------------------------------------------------------------------------------------


def _mdf_deadline(start: datetime.datetime) -> datetime.datetime:
    """The vendor decides within its published SLA for MDF (business hours of its calendar)."""
    return request_deadlines(category=RequestCategory.MDF, start=start)[1]


def _own_partner(actor, partner_id: int) -> None:
    if not (is_partner_user(actor) and actor.partner_id == partner_id):
        raise PermissionDenied


def fund_request_submit(
    *,
    actor,
    allocation: Allocation,
    activity_type: str,
    title: str,
    starts_on: datetime.date,
    ends_on: datetime.date,
    planned_cost,
    requested_amount,
    expected_leads: int = 0,
    expected_pipeline=0,
    description: str = "",
) -> FundRequest:
    """A partner asks for funds from its own allocation for an activity inside the budget's period."""
    _own_partner(actor, allocation.partner_id)
    budget = allocation.budget
    errors = {}
    planned_cost = _money(planned_cost, "planned_cost")
    requested_amount = _money(requested_amount, "requested_amount")
    if requested_amount > planned_cost:
        errors["requested_amount"] = _("Funds can cover at most the planned cost.")
    elif requested_amount > allocation.available:
        errors["requested_amount"] = _("Your available balance is %(n)s %(cur)s.") % {
            "n": allocation.available,
            "cur": budget.currency,
        }
    if starts_on and ends_on and ends_on < starts_on:
        errors["ends_on"] = _("The activity ends before it starts.")
    for field, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if day and not budget.period_start <= day <= budget.period_end:
            errors[field] = _("The fund period is %(start)s – %(end)s.") % {
                "start": budget.period_start,
                "end": budget.period_end,
            }
    if expected_pipeline is not None and Decimal(expected_pipeline) < 0:
        errors["expected_pipeline"] = _("Give an amount of zero or more.")
    if budget.expired_at is not None:
        errors["allocation"] = _("The budget's period is over; its balances have expired.")
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        request = FundRequest(
            allocation=allocation,
            partner_id=allocation.partner_id,
            activity_type=activity_type,
            title=title.strip(),
            description=description,
            starts_on=starts_on,
            ends_on=ends_on,
            planned_cost=planned_cost,
            requested_amount=requested_amount,
            expected_leads=expected_leads or 0,
            expected_pipeline=expected_pipeline or 0,
            decision_due_at=_mdf_deadline(now),
            submitted_by=_user(actor),
        )
        request.full_clean()
        request.save()
        audit_record(
            actor=_user(actor),
            action="mdf.request_submitted",
            target=request,
            data={"amount": str(requested_amount), "decision_due_at": request.decision_due_at.isoformat()},
        )
        owner = request_default_owner(
            partner=Partner.objects.select_related("account_manager").get(pk=request.partner_id)
        )
        if owner:
            notify(
                users=[owner],
                kind=NotificationKind.REVIEW_QUEUE,
                title=compose(
                    N_("MDF request from %(partner)s: %(title)s"), partner=request.partner, title=request.title
                ),
                url=reverse("kpi:funds:request_detail", args=[request.pk]),
            )
    return request


def _decision_payload(obj, kind: str) -> dict:
    return {
        kind: obj.pk,
        "status": obj.status,
        "approved_amount": obj.approved_amount,
        "reason": obj.decision_reason,
        "decided_at": obj.decided_at,
    }


def fund_request_decide(
    *, actor, request: FundRequest, approve: bool, approved_amount=None, reason: str = ""
) -> FundRequest:
    """Approve (all or part of the requested amount, committed against the allocation) or reject with a reason."""
    _vendor_only(actor)
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = FundRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != FundRequestStatus.SUBMITTED:
            raise ValidationError(
                _("This request was already decided (%(status)s).") % {"status": locked.get_status_display()}
            )
        allocation = Allocation.objects.select_for_update().select_related("budget").get(pk=locked.allocation_id)
        if approve:
            amount = _money(
                approved_amount if approved_amount is not None else locked.requested_amount, "approved_amount"
            )
            if amount > locked.requested_amount:
                raise ValidationError({"approved_amount": _("At most the requested amount.")})
            if allocation.expired_amount is not None:
                raise ValidationError(_("The budget's period is over; its balances have expired."))
            if allocation.committed + amount > allocation.amount:
                raise ValidationError(
                    {
                        "approved_amount": _("The partner's balance is %(n)s.")
                        % {"n": allocation.amount - allocation.committed}
                    }
                )
            Allocation.objects.filter(pk=allocation.pk).update(
                committed=F("committed") + amount, updated_at=timezone.now()
            )
            locked.status, locked.approved_amount = FundRequestStatus.APPROVED, amount
        else:
            if not reason:
                raise ValidationError({"reason": _("Say why the request is rejected.")})
            locked.status = FundRequestStatus.REJECTED
        locked.decided_at, locked.decided_by, locked.decision_reason = timezone.now(), _user(actor), reason
        locked.save(
            update_fields=["status", "approved_amount", "decided_at", "decided_by", "decision_reason", "updated_at"]
        )
        audit_record(
            actor=_user(actor),
            action="mdf.request_decided",
            target=locked,
            reason=reason,
            data={"status": locked.status, "approved_amount": str(locked.approved_amount or "")},
        )
        webhook_emit(
            event=FundEvent.REQUEST_DECIDED, partner=locked.partner_id, payload=_decision_payload(locked, "request")
        )
        if locked.submitted_by:
            notify(
                users=[locked.submitted_by],
                kind=NotificationKind.REQUEST_UPDATED,
                title=compose(
                    N_("Your MDF request “%(title)s” is %(status)s"),
                    title=locked.title,
                    status=choice(locked, "status"),
                ),
                url=reverse("kpi:funds:request_detail", args=[locked.pk]),
            )
    return locked


# --- claims ----------------------------------------------------------------------------------------------------


def fund_claim_submit(
    *, actor, request: FundRequest, amount, proof, notes: str = "", leads_generated: int = 0
) -> FundClaim:
    """Claim what the approved activity cost, with proof of performance; at most the approved amount, once."""
    _own_partner(actor, request.partner_id)
    amount = _money(amount, "amount")
    if request.status != FundRequestStatus.APPROVED:
        raise ValidationError(_("Only an approved request can be claimed."))
    if amount > request.approved_amount:
        raise ValidationError({"amount": _("At most the approved %(n)s.") % {"n": request.approved_amount}})
    if not proof:
        raise ValidationError({"proof": _("Attach the proof of performance.")})
    if FundClaim.objects.filter(request=request).exists():
        raise ValidationError(_("This request already has a claim."))
    now = timezone.now()
    claim = FundClaim(
        request=request,
        partner_id=request.partner_id,
        amount=amount,
        cap=request.approved_amount,
        proof=proof,
        notes=notes,
        leads_generated=leads_generated or 0,
        decision_due_at=_mdf_deadline(now),
        submitted_by=_user(actor),
    )
    claim.full_clean()
    try:
        with transaction.atomic():
            claim.save()
            audit_record(actor=_user(actor), action="mdf.claim_submitted", target=claim, data={"amount": str(amount)})
    except IntegrityError:  # a concurrent claim on the same request won
        raise ValidationError(_("This request already has a claim.")) from None
    owner = request_default_owner(partner=Partner.objects.select_related("account_manager").get(pk=claim.partner_id))
    if owner:
        notify(
            users=[owner],
            kind=NotificationKind.REVIEW_QUEUE,
            title=compose(N_("MDF claim from %(partner)s: %(title)s"), partner=claim.partner, title=request.title),
            url=reverse("kpi:funds:request_detail", args=[request.pk]),
        )
    return claim


def fund_claim_decide(*, actor, claim: FundClaim, approve: bool, approved_amount=None, reason: str = "") -> FundClaim:
    """Approve (up to the claimed amount) — one reimbursement entry in the partner's open period — or reject."""
    _vendor_only(actor)
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = FundClaim.objects.select_for_update().select_related("request__allocation__budget").get(pk=claim.pk)
        if locked.status != ClaimStatus.SUBMITTED:
            raise ValidationError(
                _("This claim was already decided (%(status)s).") % {"status": locked.get_status_display()}
            )
        now = timezone.now()
        if approve:
            amount = _money(approved_amount if approved_amount is not None else locked.amount, "approved_amount")
            if amount > locked.amount:
                raise ValidationError({"approved_amount": _("At most the claimed amount.")})
            currency = locked.request.allocation.budget.currency
            today = timezone.localdate()
            fx = Rates().on(currency, today)
            if fx is None:
                raise ValidationError(_("No exchange rate for %(c)s is stored.") % {"c": currency})
            locked.status, locked.approved_amount = ClaimStatus.APPROVED, amount
            entry = CommissionEntry(
                partner_id=locked.partner_id,
                kind=EntryKind.REIMBURSEMENT,
                entry_date=today,
                amount=amount,
                currency=currency,
                amount_reporting=(amount * fx).quantize(CENT, ROUND_HALF_UP),
                text=compose(N_("MDF claim reimbursed: %(activity)s"), activity=locked.request.title),
                source_key=f"mdf:claim:{locked.pk}",
                fund_claim=locked,
            )
            ledger_entries_place(entries=[entry])
        else:
            if not reason:
                raise ValidationError({"reason": _("Say why the claim is rejected.")})
            locked.status = ClaimStatus.REJECTED
        locked.decided_at, locked.decided_by, locked.decision_reason = now, _user(actor), reason
        locked.save(
            update_fields=["status", "approved_amount", "decided_at", "decided_by", "decision_reason", "updated_at"]
        )
        audit_record(
            actor=_user(actor),
            action="mdf.claim_decided",
            target=locked,
            reason=reason,
            data={"status": locked.status, "approved_amount": str(locked.approved_amount or "")},
        )
        webhook_emit(
            event=FundEvent.CLAIM_DECIDED, partner=locked.partner_id, payload=_decision_payload(locked, "claim")
        )
        if locked.submitted_by:
            notify(
                users=[locked.submitted_by],
                kind=NotificationKind.REQUEST_UPDATED,
                title=compose(
                    N_("Your MDF claim for “%(title)s” is %(status)s"),
                    title=locked.request.title,
                    status=choice(locked, "status"),
                ),
                url=reverse("kpi:funds:request_detail", args=[locked.request_id]),
            )
    return locked


# --- deals sourced by a fund -----------------------------------------------------------------------------------


def lead_fund_link(*, actor, lead, fund_request: FundRequest | None):
    """Name (or clear) the MDF activity that sourced a deal; only the deal's partner's own approved activities."""
    if not (is_vendor(actor) or (is_partner_user(actor) and actor.partner_id == lead.partner_id)):
        raise PermissionDenied
    if fund_request is not None and (
        fund_request.partner_id != lead.partner_id or fund_request.status != FundRequestStatus.APPROVED
    ):
        raise ValidationError({"fund_request": _("Choose an approved MDF activity of the deal's partner.")})
    with transaction.atomic():
        type(lead).objects.filter(pk=lead.pk).update(fund_request=fund_request, updated_at=timezone.now())
        lead.fund_request = fund_request
        audit_record(
            actor=_user(actor),
            action="mdf.lead_linked",
            target=lead,
            data={"fund_request": fund_request.pk if fund_request else None},
        )
    return lead


# --- jobs ------------------------------------------------------------------------------------------------------


def funds_escalate(*, now: datetime.datetime | None = None, batch: int = 200) -> int:
    """Requests and claims past their decision deadline go to the channel leads, each once (SKIP LOCKED)."""
    now = now or timezone.now()
    count = 0
    leads = None
    for model, label in ((FundRequest, _("MDF request")), (FundClaim, _("MDF claim"))):
        with transaction.atomic():
            qs = model.objects.filter(
                status=FundRequestStatus.SUBMITTED, decision_due_at__lt=now, escalated_at__isnull=True
            ).select_related("partner")
            if connection_supports_skip_locked():
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            due = list(qs.order_by("decision_due_at", "id")[:batch])
            if not due:
                continue
            model.objects.filter(pk__in=[d.pk for d in due], escalated_at__isnull=True).update(
                escalated_at=now, updated_at=now
            )
            leads = leads if leads is not None else escalation_recipients()
            for item in due:
                audit_record(actor=None, action="mdf.escalated", target=item, data={"kind": model.__name__})
                request_id = item.pk if model is FundRequest else item.request_id
                notify(
                    users=leads,
                    kind=NotificationKind.ESCALATION,
                    title=compose(N_("Overdue %(what)s from %(partner)s"), what=label, partner=item.partner),
                    url=reverse("kpi:funds:request_detail", args=[request_id]),
                )
            count += len(due)
    return count


def budgets_expire(*, today: datetime.date | None = None) -> int:
    """After a budget's period: what partners did not commit expires (set-based), undecided requests expire.
    Idempotent and safe on several workers (the budget row is claimed with SKIP LOCKED)."""
    today = today or timezone.localdate()
    now = timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            qs = Budget.objects.filter(period_end__lt=today, expired_at__isnull=True)
            if connection_supports_skip_locked():
                qs = qs.select_for_update(skip_locked=True)
            budget = qs.order_by("period_end", "id").first()
            if budget is None:
                return done
            Allocation.objects.filter(budget=budget, expired_amount__isnull=True).update(
                expired_amount=F("amount") - F("committed"), updated_at=now
            )
            expired = FundRequest.objects.filter(allocation__budget=budget, status=FundRequestStatus.SUBMITTED).update(
                status=FundRequestStatus.EXPIRED, decided_at=now, updated_at=now
            )
            Budget.objects.filter(pk=budget.pk).update(expired_at=now, updated_at=now)
            unused = Allocation.objects.filter(budget=budget).aggregate(s=Sum("expired_amount"))["s"] or 0
            audit_record(
                actor=None,
                action="mdf.budget_expired",
                target=budget,
                data={"unused": str(unused + budget.amount - budget.allocated), "requests_expired": expired},
            )
            done += 1
