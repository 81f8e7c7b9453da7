"""Deal registration: conflict detection, decisions, protection windows, extension and expiry.

The database is the referee: ProtectionWindow has a unique index over active (key_kind, key), so when many
partners register one customer at the same moment only one insert can succeed; the others turn into a clean
conflict decision inside a savepoint.
"""

import contextvars
import functools
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rapidfuzz import fuzz, process

from leads.customers import customer_find_or_create, customer_name_key, domain_from
from leads.models import (
    OPEN_STAGES,
    Lead,
    LeadSource,
    ProtectionWindow,
    Registration,
    RegistrationDecision,
    RegistrationPolicy,
    RegistrationStatus,
    Stage,
)
from leads.selectors.registration import ClaimQuery, CustomerClaims, customer_claims, customers_claims
from partners.models import Partner, PartnerStatus
from prm.bulk import gc_paused, objects_insert, rows_insert
from prm.business_hours import business_deadline
from prm.models import NotificationKind, User, WebhookEvent
from prm.selectors import channel_managers, escalation_recipients
from prm.services import (
    audit_record,
    audit_record_many,
    connection_supports_skip_locked,
    notifications_batched,
    notify,
    notify_many,
)
from prm.texts import N_, choice, compose, compose_plural, dumps
from prm.webhooks import webhook_emit, webhook_emit_many

DEFAULT_PROTECTION_DAYS = 90
DEFAULT_EXTENSION_DAYS = 30
EXTENSION_ACTIVITY_DAYS = 14
EXPIRY_WARNING_DAYS = 7


class Rule:
    """Decision rules stored on registrations (stable identifiers, shown on the deal)."""

    AUTO_APPROVED = "auto_no_conflict"
    HARD_CONFLICT = "hard_conflict"
    RESERVED = "vendor_named_account"
    OWN_PROTECTION = "own_protection"  # a second deal at a customer the partner protects: attached to it
    OFFERED_ELSEWHERE = "vendor_lead_of_another_partner"
    EXCLUSIVE_TERRITORY = "exclusive_territory"
    SOFT_CONFLICT = "soft_conflict"
    MANUAL_PROGRAM = "program_requires_review"
    NOT_IN_GOOD_STANDING = "partner_not_in_good_standing"
    RACE_LOST = "protected_concurrently"
    MANUAL_APPROVED = "manual_approved"
    MANUAL_REJECTED = "manual_rejected"
    WITHDRAWN = "withdrawn_by_partner"
    RELEASED = "protection_released"  # the deal was lost: protection ends (or passes to the partner's other deal)


# What a partner is told. Never which partner holds the customer.
def _reason(msgid: str) -> str:
    """A decision reason the system words: stored as code + parameters (prm.texts), shown in the reader's language."""
    return dumps(compose(msgid))


# Reasons the rule words itself: marked for translation (N_), stored as code + parameters, shown in the reader's language.
MSG_PROTECTED = N_("This customer is already protected by another partner.")
MSG_RESERVED = N_("This customer is reserved for the vendor's direct sales.")
MSG_ATTACHED = N_("Your company already protects this customer; this deal is attached to that protection.")
MSG_SOFT = N_("A similar customer name is already protected; a channel manager will review the registration.")
MSG_OFFERED = N_(
    "Another partner is working a vendor lead for this customer; a channel manager will review the registration."
)
MSG_TERRITORY = N_(
    "The customer is in another partner's exclusive territory; a channel manager will review the registration."
)
MSG_WITHDRAWN = N_("Withdrawn by the partner: %(reason)s")
MSG_RELEASED = N_("Protection released: the deal was lost.")
MSG_RECLAIMED = N_("Protection released: the deal was reclaimed for inactivity.")


class RegistrationAudit:
    """Audit names of registration events that are not decisions (decisions are `registration.<status>`)."""

    SUBMITTED = "registration.submitted"
    WITHDRAWN = "registration.withdrawn"
    RELEASED = "registration.protection_released"
    HANDED_OVER = "registration.protection_handed_over"
    REVIEW_ESCALATED = "registration.review_escalated"


def vendor_deadline(*, start: datetime, hours: int | Decimal) -> datetime:
    """`hours` business hours after `start` in the vendor's calendar (TIME_ZONE, Russia, 09:00–18:00): the clock of
    the vendor's own decisions (registration reviews, disputes, reclaim grace)."""
    return business_deadline(
        start=start, hours=hours, tz=settings.TIME_ZONE, country="RU", work_start=time(9), work_end=time(18)
    )


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
    if not customer_name_key(customer.name):
        raise ValidationError({"customer_name": _("Enter the customer's company name.")})
    policy = registration_policy(partner=partner)

    with transaction.atomic():
        found = customer_find_or_create(
            name=customer.name,
            tax_id=customer.tax_id,
            domain=domain_from(website=customer.website, email=customer.email or deal.contact_email),
            country=customer.country,
            region=customer.region,
            industry=customer.industry,
            size=customer.size,
        )
        cust = found.customer
        # Protection holds the customer's keys, the ones every lookup produces.
        tax_id, domain, normalized = cust.tax_id, cust.domain, cust.normalized_name
        lead = Lead(
            customer=cust,
            customer_name=customer.name.strip(),
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
        [registration] = registrations_decide(
            items=[
                PendingRegistration(
                    registration=Registration(lead=lead, partner=partner, submitted_by=submitted_by),
                    tax_id=tax_id,
                    domain=domain,
                    normalized=normalized,
                    region_id=cust.region_id,
                )
            ],
            policies={partner.program_model: policy},
        )
        registration.customer_matched_by = found.matched_by  # for the page: "matched an existing customer"
    return registration


@dataclass
class PendingRegistration:
    """A registration to decide (unsaved: lead, partner and submitted_by set) and the customer keys it protects."""

    registration: Registration
    tax_id: str
    domain: str
    normalized: str
    region_id: int | None = None
    # Set while deciding:
    claims: CustomerClaims | None = None
    decision: tuple | None = None
    keys: list = field(default_factory=list)  # windows to create (approved without a conflict)
    holder_id: int | None = None  # OWN_PROTECTION: the partner's registration it is attached to


def registrations_decide(
    *, items: list[PendingRegistration], policies: dict | None = None, now: datetime | None = None
) -> list[Registration]:
    """The registration rule, set-based: create and decide the registrations of `items` in their order (the order
    they were submitted) with the outcome each would get decided one at a time in that order, and return the
    registrations created. A portal registration is a batch of one; a CRM's bulk upsert is decided in chunks.

    Who claims each customer is asked once for all (customers_claims, one statement). A deal whose customer an
    earlier deal of the batch has just protected (same tax id or domain, or a name the scorer finds similar) is
    asked again after those windows are written, exactly as the one-at-a-time loop would see them: the first by
    submission order wins. Writes (registrations, windows, decisions, audit, stage changes, notifications, webhooks)
    go out in a few bulk statements. A key protected concurrently by someone else turns the rows of that write into
    one-at-a-time decisions (the unique window index is the referee; a lost race is a rejection)."""
    if not items:
        return []
    _protection_lock([key for it in items for key in _item_keys(it)])
    batch = _batch_ask(items=items, policies=policies, now=now)
    return [it.registration for it in _batch_decide(batch=batch)]


@dataclass
class _Batch:
    """A batch whose keys are locked and whose customers' claims were asked (_batch_ask), to decide (_batch_decide)."""

    items: list[PendingRegistration]
    policies: dict
    now: datetime | None  # the moment of the decisions (None: when _batch_decide decides, in chunk order)
    claims: list[CustomerClaims]


def _claims_ask(items: list[PendingRegistration], exclude: list[int]) -> list[CustomerClaims]:
    return customers_claims(
        queries=[
            ClaimQuery(
                tax_id=it.tax_id,
                domain=it.domain,
                name=it.normalized,
                region_id=it.region_id,
                partner_id=it.registration.partner_id,
            )
            for it in items
        ],
        exclude_lead_ids=exclude,
    )


def _batch_ask(*, items: list[PendingRegistration], policies: dict | None, now: datetime | None) -> _Batch:
    """The first half of registrations_decide: who claims the batch's customers (their keys locked by the caller)."""
    policies = dict(policies or {})
    wanted = {it.registration.partner.program_model for it in items} - set(policies)
    if wanted:
        policies.update({p.program_model: p for p in RegistrationPolicy.objects.filter(program_model__in=wanted)})
    for model in wanted:
        policies.setdefault(model, RegistrationPolicy(program_model=model))
    # The batch's own deals only ever claim for their own partner ("deal" in `own`), which decides nothing.
    claims = _claims_ask(items, [it.registration.lead_id for it in items])
    return _Batch(items=items, policies=policies, now=now, claims=claims)


def _batch_decide(*, batch: _Batch, earlier: list[PendingRegistration] = ()) -> list[PendingRegistration]:
    """The second half: decide, write and follow up the batch's registrations in order. `earlier`: the decided
    items of a batch committed after this one's claims were asked (_registrations_check's pipeline), counted as
    earlier items of this batch: a deal they may claim is asked again, now that their windows are committed."""
    items, policies, now = batch.items, batch.policies, batch.now or timezone.now()
    taken: set[tuple[str, str]] = set()  # tax id and domain keys earlier items of the batch protect
    names = _BatchNames()  # the names they protect, and by which partner
    for it in earlier:
        _batch_note(item=it, taken=taken, names=names)
    unwritten: list[PendingRegistration] = []
    created: list[PendingRegistration] = []
    for it, claims in zip(items, batch.claims):
        keys = _item_keys(it)
        if _batch_claims(item=it, keys=keys, taken=taken, names=names):
            created += _registrations_write(items=unwritten, now=now, policies=policies)
            unwritten = []
            claims = _claims_ask([it], [it.registration.lead_id])[0]
        _decision_make(item=it, claims=claims, keys=keys, policy=policies[it.registration.partner.program_model])
        _batch_note(item=it, taken=taken, names=names)
        unwritten.append(it)
    created += _registrations_write(items=unwritten, now=now, policies=policies)
    del names, taken  # not needed any more: less for the garbage collector to walk through
    _registrations_follow(items=created, now=now)
    return created


def _batch_note(*, item: PendingRegistration, taken: set, names: "_BatchNames") -> None:
    """File the keys a decided item protects as claims later items of its batch must see."""
    for kind, key in item.keys:
        if kind == "name":
            names.add(name=key, partner_id=item.registration.partner_id)
        else:
            taken.add((kind, key))


def _protection_lock(keys: list[tuple[str, str]]) -> None:
    """Transaction advisory locks on the keys about to be decided, in one order for every decider (PostgreSQL): two
    workers deciding imports that share customers wait for each other instead of deadlocking on the unique window
    index, and the second sees the first's windows."""
    labels = sorted({f"{kind}:{key}" for kind, key in keys})
    if labels and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended('prm.protection:' || k, 0) h "
                "FROM unnest(%s::text[]) k) x ORDER BY h",
                [labels],
            )


@functools.lru_cache(maxsize=100_000)
def _word_blocks(word: str, deep: bool) -> frozenset[str]:
    """A word's blocking keys (see _BatchNames): names share words, so each word's are made once."""
    n = len(word)
    keys = {word}
    if n > 3:
        keys.update(word[:i] + word[i + 1 :] for i in range(n))
    if deep and n >= 7:
        keys.update(word[:i] + word[i + 1 : j] + word[j + 1 :] for i in range(n) for j in range(i + 1, n))
    return frozenset(keys)


class _BatchNames:
    """The names earlier items of a batch protect, by the blocking keys of their words (leads migration 0028,
    unhashed): each word, its copies with one letter deleted (more than three letters) and with two (seven or more).
    The name probe of the check (leads.selectors.registration._named_probe) only finds a protected name that
    shares such a key with the asked name's keys (two-letter deletions asked only for names of one or two words), so
    the scorer need only see those, not every name of the batch. On the SQLite demo (first-word candidates) it sees
    them all."""

    def __init__(self):
        self.names: list[str] = []
        self.holders: list[int] = []
        # A word -> bit set of the indexes of the names having it (ints: nothing for the GC to scan), and a key ->
        # the words having it: a word's keys are filed once, when the batch first names it (names share words).
        self.named: dict[str, int] = {}
        self.keyed: dict[str, list[str]] = {}
        self.every = connection.vendor != "postgresql"

    @staticmethod
    def blocks(name: str, deep: bool = True) -> set[str]:
        words = set(name.split(" ")) - {""}
        deep = deep or len(words) <= 2
        return set().union(*(_word_blocks(w, deep) for w in words))

    def add(self, *, name: str, partner_id: int) -> None:
        i = len(self.names)
        self.names.append(name)
        self.holders.append(partner_id)
        if not self.every:
            bit, named, keyed = 1 << i, self.named, self.keyed
            for w in set(name.split(" ")) - {""}:
                if w not in named:
                    named[w] = 0
                    for key in _word_blocks(w, True):
                        keyed.setdefault(key, []).append(w)
                named[w] |= bit

    def similar(self, name: str, *, only=None) -> list[int]:
        """Indexes of the names the scorer finds similar to `name` (a name key), among those `only(index)` keeps."""
        if self.every:
            candidates = range(len(self.names))
        else:
            bits, seen, named, keyed = 0, set(), self.named, self.keyed
            for key in self.blocks(name, deep=False):
                for w in keyed.get(key, ()):
                    if w not in seen:
                        seen.add(w)
                        bits |= named[w]
            candidates = []
            while bits:  # the set bits, lowest first
                low = bits & -bits
                candidates.append(low.bit_length() - 1)
                bits ^= low
        if only is not None:
            candidates = [i for i in candidates if only(i)]
        if not candidates:
            return []
        found = process.extract(
            name,
            [self.names[i] for i in candidates],
            scorer=fuzz.token_set_ratio,
            score_cutoff=settings.PRM_SOFT_MATCH_THRESHOLD,
            limit=None,
        )
        return [candidates[k] for _key, _score, k in found]


def _batch_claims(*, item: PendingRegistration, keys: list, taken: set, names: _BatchNames) -> bool:
    """Whether a window an earlier item of the batch protects can change this item's claims as the rule sees them:
    its tax id or domain; its name when another partner holds a name the scorer finds similar (a similar name of
    the same partner is only its own claim, which decides nothing), or the same partner holds the very same name."""
    if any(k in taken for k in keys if k[0] != "name"):
        return True
    name = customer_name_key(item.normalized)
    if not name or not names.names:
        return False
    # Only those names can matter: scoring the partner's own other names (most of an import's) would decide nothing.
    mine, same, holders, held = item.registration.partner_id, item.normalized, names.holders, names.names
    return bool(names.similar(name, only=lambda i: holders[i] != mine or held[i] == same))


def _decision_make(
    *, item: PendingRegistration, claims: CustomerClaims, keys: list, policy: RegistrationPolicy
) -> None:
    """What the rule decides for one registration given who claims its customer (nothing written yet)."""
    partner = item.registration.partner
    item.claims = claims
    item.decision = _auto_decision(partner=partner, policy=policy, claims=claims)
    item.keys, item.holder_id = [], None
    if item.decision is None:
        # Keys the partner itself already holds (a fuzzy own match) need no second window.
        own = {(m.key_kind, m.key) for m in claims.own if m.kind in ("hard", "soft")}
        item.keys = [k for k in keys if k not in own]
        item.decision = (RegistrationStatus.APPROVED, Rule.AUTO_APPROVED, _reason(N_("No conflicting registration.")))
    elif item.decision[1] == Rule.OWN_PROTECTION:
        item.holder_id = claims.own_protection().registration_id


def _registration_fill(*, item: PendingRegistration, now: datetime, policies: dict, holders: dict) -> None:
    reg = item.registration
    status, rule, reason = item.decision
    reg.status, reg.decision_rule, reg.decision_reason = status, rule, reason
    reg.decided_by, reg.decided_at, reg.matches = None, now, item.claims.as_json()
    reg.created_at = reg.updated_at = now
    reg.protected_from = reg.protected_until = reg.review_due = None
    if item.keys:
        days = protection_days(partner=reg.partner, policy=policies[reg.partner.program_model])
        reg.protected_from, reg.protected_until = now, now + timedelta(days=days)
    elif item.holder_id:
        reg.protected_from, reg.protected_until = holders[item.holder_id]
    if status == RegistrationStatus.PENDING_REVIEW:
        # The vendor owes a decision within PRM_REGISTRATION_REVIEW_HOURS business hours (registrations_escalate).
        reg.review_due = _review_due(now)


def _review_due(now: datetime) -> datetime:
    return _vendor_deadline_cached(now, settings.PRM_REGISTRATION_REVIEW_HOURS, settings.TIME_ZONE)


@functools.lru_cache(maxsize=16)
def _vendor_deadline_cached(start: datetime, hours, _tz: str) -> datetime:
    """A batch decides at one moment: its review deadline is worked out once, not for each deal sent to review
    (keyed on the settings it reads)."""
    return vendor_deadline(start=start, hours=hours)


def _window_rows(item: PendingRegistration) -> list[dict]:
    """The protection windows of a decided, inserted registration, as rows for prm.bulk.rows_insert."""
    reg = item.registration
    return [
        {"registration_id": reg.pk, "partner_id": reg.partner_id, "key_kind": kind, "key": key, "active": True,
         "starts_at": reg.protected_from, "ends_at": reg.protected_until}
        for kind, key in item.keys
    ]  # fmt: skip


def _registrations_write(
    *, items: list[PendingRegistration], now: datetime, policies: dict
) -> list[PendingRegistration]:
    """Insert the decided registrations and their windows (two statements). When a key was protected by someone
    else meanwhile, or a deal registered meanwhile, the rows go one at a time: a lost key is decided again on what
    is committed now (rejected when it would still be approved), a registered deal is left out."""
    if not items:
        return []
    holder_ids = {it.holder_id for it in items if it.holder_id}
    holders = {
        pk: (start, end)
        for pk, start, end in Registration.objects.filter(pk__in=holder_ids).values_list(
            "pk", "protected_from", "protected_until"
        )
    } if holder_ids else {}  # fmt: skip
    for it in items:
        _registration_fill(item=it, now=now, policies=policies, holders=holders)
    try:
        with transaction.atomic():
            objects_insert([it.registration for it in items])
            rows_insert(ProtectionWindow, [row for it in items for row in _window_rows(it)])
        return items
    except IntegrityError:
        pass
    for it in items:
        it.registration.pk = None
        it.registration._state.adding = True
    written = []
    for it in items:
        try:
            with transaction.atomic():
                it.registration.save(force_insert=True)
        except IntegrityError:
            it.registration.pk = None
            continue  # registered meanwhile
        try:
            with transaction.atomic():
                rows_insert(ProtectionWindow, _window_rows(it))
        except IntegrityError:
            # Someone protected one of the keys between our check and our insert: decide again on what is
            # committed now.
            reg = it.registration
            claims = customer_claims(
                tax_id=it.tax_id, domain=it.domain, name=it.normalized, region_id=it.region_id,
                partner=reg.partner_id, exclude_lead_ids=[reg.lead_id],
            )  # fmt: skip
            policy = policies[reg.partner.program_model]
            decision = _auto_decision(partner=reg.partner, policy=policy, claims=claims)
            it.claims, it.keys = claims, []
            it.decision = decision or (RegistrationStatus.REJECTED, Rule.RACE_LOST, _reason(MSG_PROTECTED))
            it.holder_id = claims.own_protection().registration_id if it.decision[1] == Rule.OWN_PROTECTION else None
            held = {}
            if it.holder_id:
                held = {it.holder_id: Registration.objects.values_list("protected_from", "protected_until").get(
                    pk=it.holder_id)}  # fmt: skip
            _registration_fill(item=it, now=now, policies=policies, holders=held)
            reg.save()
        written.append(it)
    return written


def _registrations_follow(*, items: list[PendingRegistration], now: datetime) -> None:
    """Everything a decision entails, for many registrations at once: the decision record, the audit trail, a
    rejected deal closed, the partner told (or the reviewers), the decision webhook."""
    if not items:
        return
    regs = [it.registration for it in items]
    rows_insert(
        RegistrationDecision,
        [
            {"registration_id": r.pk, "actor_id": None, "status": r.status, "rule": r.decision_rule,
             "reason": r.decision_reason, "matches": r.matches}
            for r in regs
        ],
    )  # fmt: skip
    by_actor: dict = {}
    for r in regs:
        by_actor.setdefault(r.submitted_by_id, (r.submitted_by, []))[1].append(r)
    for actor, group in by_actor.values():
        audit_record_many(
            actor=actor, action=RegistrationAudit.SUBMITTED, items=[(r, r.partner_id, "", None) for r in group]
        )
    by_status: dict = {}
    for r in regs:
        by_status.setdefault(r.status, []).append(r)
    for status, group in by_status.items():
        audit_record_many(
            actor=None,
            action=f"registration.{status}",
            items=[
                (r, r.partner_id, r.decision_reason, {"rule": r.decision_rule, "matches": r.matches}) for r in group
            ],
        )
    # A rejected registration closes its deal (see _deal_follow_decision).
    closing = [r for r in by_status.get(RegistrationStatus.REJECTED, []) if r.lead.stage in OPEN_STAGES]
    if closing:
        Lead.objects.filter(pk__in=[r.lead_id for r in closing]).update(
            stage=Stage.REJECTED, closed_at=now, updated_at=now
        )
        audit_record_many(
            actor=None,
            action="deal.stage_changed",
            items=[
                (r.lead, r.lead.partner_id, r.decision_reason, {"from": r.lead.stage, "to": Stage.REJECTED})
                for r in closing
            ],
        )
        for r in closing:
            r.lead.stage, r.lead.closed_at = Stage.REJECTED, now
    decided = [r for r in regs if r.status != RegistrationStatus.PENDING_REVIEW]
    notify_many(
        kind=NotificationKind.REGISTRATION_DECIDED,
        messages=[
            (
                r.submitted_by,
                compose(N_("Registration %(deal)s: %(status)s"), deal=r.lead.title, status=choice(r, "status")),
                r.decision_reason,
                reverse("leads:deal_detail", args=[r.lead_id]),
            )
            for r in decided
            if r.submitted_by is not None
        ],
    )
    # Matches name other partners' registrations: never part of the partner's payload.
    webhook_emit_many(
        event=WebhookEvent.REGISTRATION_DECIDED,
        items=[
            (
                r.partner_id,
                {
                    "registration": r.pk,
                    "lead": r.lead_id,
                    "status": r.status,
                    "reason": r.decision_reason,
                    "protected_until": r.protected_until,
                },
            )
            for r in decided
        ],
    )
    pending = by_status.get(RegistrationStatus.PENDING_REVIEW, [])
    if pending:
        reviewers = list(channel_managers())
        notify_many(
            kind=NotificationKind.REVIEW_QUEUE,
            messages=[
                (
                    user,
                    compose(N_("Deal registration waiting for review: %(deal)s"), deal=r.lead.title),
                    "",
                    reverse("leads:registration_review"),
                )
                for r in pending
                for user in reviewers
            ],
        )


BULK_CHECK_MIN = 50  # more deals than this at once: their checks go to the `long` queue


def registrations_submit(*, lead_ids: list[int], submitted_by: User | None) -> None:
    """A partner's own deals created through the API (its CRM) or a CSV file are deal registrations like the portal's:
    decided right after the commit by `registrations_check` in a task, set-based (registrations_decide). Until then
    such a deal has no registration, no protection window and cannot move (pipeline.deal_allowed_moves)."""
    from leads.tasks import registrations_check_task

    ids, submitted_by_id = list(lead_ids), getattr(submitted_by, "pk", None)
    # A bulk upsert's checks are a long job (settings.LONG_TASKS): they must not delay offer expiry.
    queue = "long" if len(ids) > BULK_CHECK_MIN else None
    transaction.on_commit(
        lambda: registrations_check_task.apply_async(
            kwargs={"lead_ids": ids, "submitted_by_id": submitted_by_id}, queue=queue
        )
    )


def registrations_check(*, lead_ids: list[int] | None = None, submitted_by_id: int | None = None, limit=5000) -> int:
    """Register partner-registered deals that have no registration yet and decide them by the rule of
    `deal_register` (registrations_decide, many at once, in deal order): the ones `registrations_submit` queued, or
    with no ids any left over (a lost task). The one registration per deal is a unique key and the deals are claimed
    with SKIP LOCKED, so a duplicated task registers nothing twice. Returns how many it registered."""
    todo = Lead.objects.filter(source=LeadSource.PARTNER_REGISTRATION, partner__isnull=False, registration=None)
    with notifications_batched(summaries=REGISTRATION_SUMMARIES):
        return _registrations_check(todo=todo, lead_ids=lead_ids, submitted_by_id=submitted_by_id, limit=limit)


# A batch (a CRM's bulk upsert) tells each person once, not once per deal.
REGISTRATION_SUMMARIES = {
    NotificationKind.REGISTRATION_DECIDED: lambda n: (
        compose_plural(N_("%(n)s deal registration decided"), N_("%(n)s deal registrations decided"), n),
        compose(N_("See each decision on the deals page.")),
        reverse("leads:deal_list"),
    ),
    NotificationKind.REVIEW_QUEUE: lambda n: (
        compose_plural(
            N_("%(n)s deal registration waiting for review"), N_("%(n)s deal registrations waiting for review"), n
        ),
        "",
        reverse("leads:registration_review"),
    ),
}


CHECK_CHUNK = 1000  # deals decided together in one transaction
# The fields of a deal the check reads (its keys, registration and _registrations_follow): loaded alone.
CHECK_LEAD_FIELDS = ("id", "partner", "region", "contact_email", "stage", "title")


def _registrations_check(*, todo, lead_ids: list[int] | None, submitted_by_id: int | None, limit: int) -> int:
    """Decide the deals in chunks of CHECK_CHUNK, in deal order (the order they were submitted): each chunk's rows
    locked (SKIP LOCKED: two workers never decide one deal) and decided by registrations_decide in one
    transaction. Queued ids are taken a chunk at a time (an index lookup of those ids, not a scan of the deals for
    the next ones among thousands of ids); several chunks of them go through _check_pipelined."""
    submitted_by = User.objects.filter(pk=submitted_by_id).first() if submitted_by_id else None
    queued = sorted(set(lead_ids)) if lead_ids is not None else None
    if (
        queued is not None
        and CHECK_LANES > 1
        and CHECK_CHUNK < len(queued) <= limit
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    ):
        chunks = [queued[i : i + CHECK_CHUNK] for i in range(0, len(queued), CHECK_CHUNK)]
        return _check_pipelined(todo=todo, chunks=chunks, submitted_by=submitted_by)
    done, after, taken = 0, 0, 0
    while done < limit:
        # Without the cyclic GC for the chunk: its deals, registrations and claims set off full collections over the
        # whole heap (22 in an import of 20,000, 0.14 ms a deal); the chunk's few cycles wait for the next chunk.
        with gc_paused(), transaction.atomic():
            size = min(CHECK_CHUNK, limit - done)
            if queued is None:
                chunk = todo.filter(pk__gt=after)
            elif taken < len(queued):
                chunk, taken = todo.filter(pk__in=queued[taken : taken + size]), taken + size
            else:
                break
            items = _chunk_load(chunk=chunk, size=size, submitted_by=submitted_by)
            if not items:
                if queued is None:
                    break
                continue  # these were decided already (or are being decided by another worker)
            after = items[-1].registration.lead_id
            done += len(registrations_decide(items=items))
    return done


def _chunk_load(*, chunk, size: int, submitted_by: User | None) -> list[PendingRegistration]:
    """The first `size` deals of `chunk` in deal order, locked (skipping deals another worker holds), as the
    registrations to decide."""
    # The customer's keys as columns of the deal's row: no customer object a deal (nothing here reads one); of the
    # deal only what the check and its follow-up read (a deal has ~30 columns to fill otherwise).
    chunk = (
        chunk.only(*CHECK_LEAD_FIELDS)
        .annotate(
            customer_tax_id=F("customer__tax_id"),
            customer_domain=F("customer__domain"),
            customer_key=F("customer__normalized_name"),
            customer_region_id=F("customer__region_id"),
        )
        .order_by("pk")
    )
    if connection_supports_skip_locked():
        chunk = chunk.select_for_update(skip_locked=True, of=("self",))
    leads = list(chunk[:size])
    # An import is one partner's (or a few): each partner loaded once, not joined to every deal.
    partners = Partner.objects.select_related("tier").in_bulk({lead.partner_id for lead in leads}) if leads else {}
    for lead in leads:
        lead.partner = partners[lead.partner_id]
    return [
        PendingRegistration(
            registration=Registration(lead=lead, partner=lead.partner, submitted_by=submitted_by),
            tax_id=lead.customer_tax_id,
            domain=lead.customer_domain or domain_from(email=lead.contact_email),
            normalized=lead.customer_key,
            region_id=lead.region_id or lead.customer_region_id,
        )
        for lead in leads
    ]


class _Abandoned(Exception):
    """A chunk of the pipeline rolled back because an earlier one failed."""


CHECK_LANES = 2  # chunks of one check in flight at once (_check_pipelined), each on its own connection


def _check_pipelined(*, todo, chunks: list[list[int]], submitted_by: User | None) -> int:
    """The chunks of queued deals decided in order by CHECK_LANES threads, each chunk in its own transaction on its
    thread's connection, so that the next chunks' deals are loaded, locked and asked about (the claims statement,
    the most of a chunk's database work) while one chunk is decided, written and committed. Same outcomes as one
    chunk after another:
    - a chunk locks its keys only once the one before has locked its own (one order: no deadlock), except the keys
      the chunks still in flight hold (waiting for their commits would undo the pipeline; another worker can take
      them only after those commits);
    - a chunk decides only once the one before has committed, counting the chunks that were in flight when it asked
      as earlier deals of its own batch (_batch_decide's `earlier`): a deal whose tax id, domain or similar name
      they have just protected is asked again.
    If a chunk fails, the ones after it roll back or do not start; the error is raised."""
    n, lanes = len(chunks), CHECK_LANES
    locked_ev = [threading.Event() for _ in range(n)]
    committed = [threading.Event() for _ in range(n)]
    decided: list[list[PendingRegistration]] = [[] for _ in range(n)]
    locked: list[frozenset] = [frozenset()] * n  # the keys each chunk's transaction locked
    errors: list[BaseException] = []
    done = [0]
    language = translation.get_language()

    def chunk_run(k: int) -> None:
        if k:
            locked_ev[k - 1].wait()
        if errors:
            return
        in_flight = range(max(0, k - lanes + 1), k)  # chunks that may not have committed before this one asks
        with transaction.atomic():
            items = _chunk_load(chunk=todo.filter(pk__in=chunks[k]), size=len(chunks[k]), submitted_by=submitted_by)
            held = frozenset().union(*(locked[j] for j in in_flight))
            keys = [key for it in items for key in _item_keys(it) if key not in held]
            _protection_lock(keys)
            locked[k] = frozenset(keys)
            locked_ev[k].set()
            batch = _batch_ask(items=items, policies=None, now=None) if items else None
            if k:
                committed[k - 1].wait()
            if errors:
                raise _Abandoned
            if batch:
                decided[k] = _batch_decide(batch=batch, earlier=[it for j in in_flight for it in decided[j]])
        done[0] += len(decided[k])

    def lane(first: int) -> None:
        try:
            with translation.override(language):
                for k in range(first, n, lanes):
                    try:
                        chunk_run(k)
                    except _Abandoned:
                        pass
                    except BaseException as exc:
                        errors.append(exc)
                    finally:
                        locked_ev[k].set()
                        committed[k].set()
                        if k >= lanes - 1:  # not needed by any later chunk
                            decided[k - lanes + 1], locked[k - lanes + 1] = [], frozenset()
        finally:
            if threading.current_thread() is not main:
                connection.close()

    main = threading.current_thread()
    with gc_paused():
        # The other threads see the notifications batch of registrations_check (a context variable).
        others = [
            threading.Thread(target=contextvars.copy_context().run, args=(lane, i), name=f"registrations-check-{i}")
            for i in range(1, lanes)
        ]
        for thread in others:
            thread.start()
        try:
            lane(0)
        finally:
            for thread in others:
                thread.join()
    if errors:
        raise errors[0]
    return done[0]


def _item_keys(item: PendingRegistration) -> list[tuple[str, str]]:
    return _keys(tax_id=item.tax_id, domain=item.domain, normalized=item.normalized)


def _keys(*, tax_id: str, domain: str, normalized: str) -> list[tuple[str, str]]:
    kinds = ProtectionWindow.KeyKind
    return [(k, v) for k, v in ((kinds.TAX_ID, tax_id), (kinds.DOMAIN, domain), (kinds.NAME, normalized)) if v]


def _auto_decision(*, partner: Partner, policy: RegistrationPolicy, claims: CustomerClaims):
    """(status, rule, reason) when the registration is not simply approved with new windows, else None."""
    if any(m.reserved for m in claims.hard):
        return RegistrationStatus.REJECTED, Rule.RESERVED, _reason(MSG_RESERVED)
    if claims.hard:
        return RegistrationStatus.REJECTED, Rule.HARD_CONFLICT, _reason(MSG_PROTECTED)
    if claims.own_protection() is not None:
        return RegistrationStatus.APPROVED, Rule.OWN_PROTECTION, _reason(MSG_ATTACHED)
    if claims.offered:
        return RegistrationStatus.PENDING_REVIEW, Rule.OFFERED_ELSEWHERE, _reason(MSG_OFFERED)
    if claims.territory:
        return RegistrationStatus.PENDING_REVIEW, Rule.EXCLUSIVE_TERRITORY, _reason(MSG_TERRITORY)
    if claims.soft:
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
    if status == RegistrationStatus.PENDING_REVIEW:
        # The vendor owes a decision within PRM_REGISTRATION_REVIEW_HOURS business hours (registrations_escalate).
        registration.review_due = vendor_deadline(
            start=registration.decided_at, hours=settings.PRM_REGISTRATION_REVIEW_HOURS
        )
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
            event=WebhookEvent.REGISTRATION_DECIDED,
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
        days = protection_days(partner=reg.partner, policy=registration_policy(partner=reg.partner))
        claims = _registration_claims(reg)
        if any(m.reserved for m in claims.hard):
            raise ValidationError(_("The customer is a vendor named account; it cannot be approved."))
        if claims.hard:
            raise ValidationError(_("Meanwhile another registration protects this tax id or domain; reject instead."))
        held = {(m.key_kind, m.key) for m in claims.own if m.kind in ("hard", "soft")}
        keys = [
            k for k in _keys(tax_id=cust.tax_id, domain=cust.domain, normalized=cust.normalized_name) if k not in held
        ]
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
            matches=claims.as_json(),
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
            expired = Registration.objects.filter(pk__in=ids).values_list("pk", "partner_id", "lead_id")
            webhook_emit_many(
                event=WebhookEvent.REGISTRATION_EXPIRED,
                items=[(partner_id, {"registration": pk, "lead": lead_id}) for pk, partner_id, lead_id in expired],
            )
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
        webhook_emit_many(
            event=WebhookEvent.REGISTRATION_EXPIRING,
            items=[
                (
                    r.partner_id,
                    {"registration": r.pk, "lead": r.lead_id, "protected_until": r.protected_until.isoformat()},
                )
                for r in warned
            ],
        )
    return len(ids)


def _audit_bulk(*, ids: list[int], action: str, reason: str | dict) -> None:
    rows = Registration.objects.filter(pk__in=ids).values_list("pk", "partner_id")
    audit_record_many(actor=None, action=action, items=[(Registration(pk=pk), p, reason, None) for pk, p in rows])


# --- claims that end: withdrawal, a lost deal, overdue reviews --------------------------------------------------


def _registration_claims(registration: Registration) -> CustomerClaims:
    """Who claims the registration's customer, seen from its partner, its own deal left out."""
    cust = registration.lead.customer
    return customer_claims(
        tax_id=cust.tax_id,
        domain=cust.domain,
        name=cust.normalized_name,
        region_id=registration.lead.region_id or cust.region_id,
        partner=registration.partner_id,
        exclude_lead_ids=[registration.lead_id],
    )


def _protection_release(*, registration: Registration, actor: User | None, reason: str) -> Registration | None:
    """End the registration's protection (caller's transaction, registration locked). When another open deal of
    the same partner at this customer has an approved registration, the windows pass to it instead of ending:
    the partner still works the customer. Returns the registration that took the windows over, if any."""
    windows = ProtectionWindow.objects.filter(registration=registration, active=True)
    heirs = _registration_claims(registration).own_protected_deals() if windows.exists() else []
    heir = None
    if heirs:
        heir = Registration.objects.select_for_update(of=("self",)).get(pk=max(heirs))
        ends = max(heir.protected_until, registration.protected_until)
        windows.update(registration=heir, ends_at=ends)
        Registration.objects.filter(pk=heir.pk).update(protected_until=ends, updated_at=timezone.now())
        audit_record(
            actor=actor,
            action=RegistrationAudit.HANDED_OVER,
            target=heir,
            reason=reason,
            data={"from": registration.pk},
        )
    else:
        windows.update(active=False)
    audit_record(
        actor=actor,
        action=RegistrationAudit.RELEASED,
        target=registration,
        reason=reason,
        data={"handed_over_to": heir.pk if heir else None},
    )
    return heir


def registration_release(*, lead: Lead, actor: User | None, reason: str = MSG_RELEASED) -> None:
    """A deal that no longer holds its customer (marked Lost, reclaimed for inactivity): its protection ends, unless
    another open deal of the same partner holds it (see _protection_release). Called inside the caller's
    transaction by deals.deal_stage_change and conflict.leads_reclaim."""
    registration = Registration.objects.select_for_update(of=("self",)).filter(lead_id=lead.pk).first()
    if registration is None or registration.status != RegistrationStatus.APPROVED:
        return
    registration.lead = lead
    _protection_release(registration=registration, actor=actor, reason=compose(reason))
    registration.status = RegistrationStatus.EXPIRED
    registration.decision_rule, registration.decision_reason = Rule.RELEASED, _reason(reason)
    registration.save(update_fields=["status", "decision_rule", "decision_reason", "updated_at"])
    RegistrationDecision.objects.create(
        registration=registration,
        actor=actor,
        status=RegistrationStatus.EXPIRED,
        rule=Rule.RELEASED,
        reason=registration.decision_reason,
    )


WITHDRAWABLE = (RegistrationStatus.PENDING_REVIEW, RegistrationStatus.APPROVED)


def registration_withdraw_error(*, registration: Registration, partner_id: int | None) -> str:
    """Why `partner_id`'s staff cannot withdraw the registration now, or "" when they can (also shows the button)."""
    if partner_id is None or partner_id != registration.partner_id:
        return _("Only the partner that registered the deal can withdraw it.")
    if registration.status not in WITHDRAWABLE or registration.lead.stage not in OPEN_STAGES:
        return _("Only a registration waiting for review or protecting an open deal can be withdrawn.")
    return ""


def registration_withdraw(
    *, registration: Registration, user: User | None, reason: str, partner_id: int | None = None
) -> Registration:
    """The partner gives up its claim: the registration is withdrawn, its protection released (or handed to the
    partner's other open deal at this customer), and the deal closed as lost with the reason.

    `partner_id`: the partner acting (default: the user's; an API key's partner)."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why you withdraw the registration.")})
    reason = reason.strip()[:300]
    with transaction.atomic():
        reg = _locked(registration)
        acting = partner_id if partner_id is not None else getattr(user, "partner_id", None)
        if error := registration_withdraw_error(registration=reg, partner_id=acting):
            raise ValidationError(error)
        composed = compose(MSG_WITHDRAWN, reason=reason)
        text = dumps(composed)
        if reg.status == RegistrationStatus.APPROVED:
            _protection_release(registration=reg, actor=user, reason=composed)
        now = timezone.now()
        reg.status, reg.decision_rule, reg.decision_reason = RegistrationStatus.WITHDRAWN, Rule.WITHDRAWN, text
        reg.decided_by, reg.decided_at = user, now
        reg.save(update_fields=["status", "decision_rule", "decision_reason", "decided_by", "decided_at", "updated_at"])
        RegistrationDecision.objects.create(
            registration=reg, actor=user, status=RegistrationStatus.WITHDRAWN, rule=Rule.WITHDRAWN, reason=text
        )
        lead = Lead.objects.select_for_update().get(pk=reg.lead_id)
        old = lead.stage
        lead.stage, lead.closed_at, lead.lost_reason = Stage.LOST, now, reason
        lead.save(update_fields=["stage", "closed_at", "lost_reason", "updated_at"])
        audit_record(actor=user, action=RegistrationAudit.WITHDRAWN, target=reg, reason=reason)
        audit_record(
            actor=user, action="deal.stage_changed", target=lead, reason=composed, data={"from": old, "to": Stage.LOST}
        )
        webhook_emit(
            event=WebhookEvent.REGISTRATION_WITHDRAWN,
            partner=reg.partner_id,
            payload={"registration": reg.pk, "lead": reg.lead_id, "status": reg.status, "reason": reason},
        )
    return reg


def registrations_escalate(*, now: datetime | None = None, batch: int = 500) -> int:
    """Escalate registrations still waiting for review after their decision deadline, once each, to channel leads
    (vendor admins if none). Idempotent; several workers claim rows with SKIP LOCKED."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Registration.objects.filter(
            status=RegistrationStatus.PENDING_REVIEW, review_due__lte=now, review_escalated_at__isnull=True
        )
        if connection_supports_skip_locked():
            due = due.select_for_update(skip_locked=True)
        ids = list(due.order_by("review_due").values_list("pk", flat=True)[:batch])
        if not ids:
            return 0
        # The conditional UPDATE is the claim: a row escalated by someone else meanwhile is not counted again.
        claimed = Registration.objects.filter(pk__in=ids, review_escalated_at__isnull=True).update(
            review_escalated_at=now
        )
        _audit_bulk(ids=ids, action=RegistrationAudit.REVIEW_ESCALATED, reason=compose(N_("Review deadline passed.")))
        notify(
            users=escalation_recipients(),
            kind=NotificationKind.ESCALATION,
            title=compose_plural(
                N_("%(n)s deal registration overdue for review"),
                N_("%(n)s deal registrations overdue for review"),
                claimed,
            ),
            body=", ".join(f"#{pk}" for pk in ids),
            url=reverse("leads:registration_review"),
        )
    return claimed
