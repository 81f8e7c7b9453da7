"""How a tier changes: the one home of every tier write.

Every path ends in `tier_changes_apply`, which writes the decisions, moves the partners' tiers and records one
audit row (`TierAudit`), one inbox message per partner admin and one `tier.changed` webhook (`webhook_payload`)
per decision, in bulk:

- the nightly run: `tier_evaluate` decides for every active partner with `kpi.rules.tier_decide`;
- a person: `tier_change` (manual change on the partner page or in the admin; `tier_lock_set` uses it too).
"""

import copy
import datetime
import functools
from collections import Counter
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from partners.models import Partner, PartnerStatus, Tier, TierRequirement
from prm.bulk import objects_insert, rows_insert
from prm.models import AuditEvent, NotificationKind, User
from prm.selectors import partners_admins
from prm.services import Recipient, audit_record, notify_many, recipients
from prm.texts import N_, choice, compose, compose_by
from prm.webhooks import webhook_emit_many

from ..models import KpiSnapshot, NightlyRun, TierAudit, TierChange, TierChangeKind, TierLock
from ..rules import METRIC_FIELDS, snapshot_values, tier_decide
from ..selectors import tiers_with_requirements

# Decisions a person makes; the others are the nightly run's.
PERSON_KINDS = (TierChangeKind.MANUAL, TierChangeKind.LOCK)


def webhook_payload(change: TierChange, codes: dict[int, str]) -> dict:
    """The one shape of the `tier.changed` webhook, whatever made the decision."""
    return {
        "id": change.pk,
        "kind": change.kind,
        "from_tier": codes.get(change.from_tier_id),
        "to_tier": codes.get(change.to_tier_id),
        "effective_on": change.effective_on,
        "grace_until": change.grace_until,
        "evaluation": change.evaluation,
        "reason_code": change.reason_code,
        "reason_params": change.reason_params,
        "reason": change.reason_text,
        "actor": change.actor_id,
        "run": change.run_id,
    }


def tier_changes_apply(*, changes: list[TierChange]) -> list[TierChange]:
    """Write tier decisions (unsaved TierChange rows with from_tier_id set to the partner's tier) and everything
    that follows from them. Called inside the caller's transaction or opens its own."""
    if not changes:
        return []
    now = timezone.now()
    with transaction.atomic():
        changes = objects_insert(changes)
        moved: dict[int | None, list[int]] = {}  # new tier -> partners: one UPDATE per tier (tiers are few)
        for c in changes:
            if c.to_tier_id != c.from_tier_id:
                moved.setdefault(c.to_tier_id, []).append(c.partner_id)
        for tier_id, partner_ids in moved.items():
            Partner.objects.filter(pk__in=partner_ids).update(tier_id=tier_id, updated_at=now)
        with translation.override(settings.LANGUAGE_CODE):  # stored texts: the vendor's language
            _audit_notify_emit(changes)
    return changes


def _audit_notify_emit(changes: list[TierChange]) -> None:
    tiers = {t.pk: t for t in Tier.objects.all()}  # tiers are few; no query per change
    codes = {pk: t.code for pk, t in tiers.items()}
    webhook_emit_many(
        event=TierAudit.WEBHOOK_EVENT,
        items=[(c.partner_id, functools.partial(webhook_payload, c, codes)) for c in changes],
    )
    ct = ContentType.objects.get_for_model(TierChange)
    rows_insert(
        AuditEvent,
        [
            {
                "action": TierAudit.BY_KIND[c.kind],
                "actor_id": c.actor_id,
                "content_type_id": ct.pk,
                "object_id": str(c.pk),
                "partner_id": c.partner_id,
                "reason": c.reason_params.get("note", ""),
                # The values and thresholds stay on the decision the row points to (tier changes are never edited):
                # copying them doubled what the first night after a rule change writes.
                "data": {
                    "from_tier": codes.get(c.from_tier_id),
                    "to_tier": codes.get(c.to_tier_id),
                    "reason_code": c.reason_code,
                    "reason_params": c.reason_params,
                },
            }
            for c in changes
        ],
    )
    admins: dict[int, list[Recipient]] = {}
    for user in recipients(partners_admins(partner_ids={c.partner_id for c in changes})):
        admins.setdefault(user.partner_id, []).append(user)
    url = reverse("kpi:scorecard")
    notify_many(
        kind=NotificationKind.TIER_CHANGED,
        messages=[
            (
                user,
                compose(N_("%(kind)s: %(tier)s"), kind=choice(c, "kind"), tier=tiers.get(c.to_tier_id) or "—"),
                compose_by("tier_reason", code=c.reason_code, params=c.reason_params) if c.reason_code else c.reason,
                url,
            )
            for c in changes
            for user in admins.get(c.partner_id, [])
        ],
    )


# --- The nightly run ---------------------------------------------------------------------------------------------


def tier_evaluate(*, on: datetime.date, run: NightlyRun | None = None) -> list[TierChange]:
    """Promote, warn, demote or clear warnings for every active partner from the day's snapshot, in one pass.

    All changes of the day are written in one transaction: either every partner's decision is applied or none.
    The unique constraint `tier_change_nightly_once` and the partner's updated tier make a re-run a no-op.
    """
    tiers = tiers_with_requirements()
    if not tiers:
        return []
    changes = [
        TierChange(
            partner_id=partner_id, kind=d.kind, from_tier_id=tier_id, to_tier_id=d.to_tier and d.to_tier.pk,
            effective_on=on, evaluation=d.evaluation, reason_code=d.reason_code, reason_params=d.reason_params,
            run_id=run and run.pk, grace_until=d.grace_until,
        )
        for (partner_id, tier_id), d in tier_decisions(on=on, tiers=tiers)
    ]  # fmt: skip
    return tier_changes_apply(changes=changes)


def tier_decisions(*, on: datetime.date, tiers: list[Tier]):
    """((partner id, its tier id), TierDecision) for every active, unlocked partner with a snapshot on `on`, decided
    by the tier rule (`kpi.rules.tier_decide`) with `tiers` as given: the nightly run's tiers, or proposed ones (the
    impact preview)."""
    by_pk = {t.pk: t for t in tiers}
    last = TierChange.objects.filter(partner=OuterRef("pk"), effective_on__lte=on).order_by("-effective_on", "-id")
    locked = TierLock.objects.filter(partner=OuterRef("pk"), released_at__isnull=True, until__gte=on)
    # Rows, not model instances: building 100,000 partners and snapshots was most of the phase at 10× the network.
    # Nothing downstream reads more of a partner than its id and tier.
    partners = {
        p["pk"]: p
        for p in Partner.objects.filter(status=PartnerStatus.ACTIVE, kpi_snapshots__date=on)
        .exclude(pk__in=Subquery(locked.values("partner")))
        .annotate(last_kind=Subquery(last.values("kind")[:1]), last_grace=Subquery(last.values("grace_until")[:1]))
        .values("pk", "tier_id", "last_kind", "last_grace")
        .order_by()  # read into a dict: the partners' default order by name was a sort of all of them
    }
    snapshots = KpiSnapshot.objects.filter(date=on).values(
        "partner_id", *METRIC_FIELDS.values(), "certified_by_competency"
    )
    for snap in snapshots.iterator(chunk_size=5000):
        partner = partners.get(snap["partner_id"])
        if partner is None:
            continue
        d = tier_decide(
            current=by_pk.get(partner["tier_id"]), tiers=tiers, values=snapshot_values(snap),
            last_kind=partner["last_kind"], last_grace=partner["last_grace"], on=on,
            grace_days=settings.PRM_TIER_GRACE_DAYS,
        )  # fmt: skip
        if d:
            yield (partner["pk"], partner["tier_id"]), d


def tier_requirement_impact(*, requirement: TierRequirement, threshold) -> dict:
    """What the next nightly run would decide with `threshold` instead of the requirement's, against the latest
    snapshots, by the same rule: {"on": date, "now": {kind: n}, "proposed": {kind: n}, "partners": n}."""
    on = KpiSnapshot.objects.aggregate(on=Max("date"))["on"]
    if on is None:
        return {"on": None, "now": {}, "proposed": {}, "partners": 0}
    tiers = tiers_with_requirements()
    now = Counter(d.kind for _p, d in tier_decisions(on=on, tiers=tiers))
    for tier in tiers:  # the proposal lives in memory only
        tier.reqs = [_with_threshold(r, threshold) if r.pk == requirement.pk else r for r in tier.reqs]
    proposed = Counter(d.kind for _p, d in tier_decisions(on=on, tiers=tiers))
    partners = KpiSnapshot.objects.filter(date=on).count()
    return {"on": on, "now": dict(now), "proposed": dict(proposed), "partners": partners}


def _with_threshold(requirement: TierRequirement, threshold) -> TierRequirement:
    proposed = copy.copy(requirement)
    proposed.threshold = Decimal(str(threshold))
    return proposed


def tier_requirement_update(*, requirement: TierRequirement, threshold, actor: User) -> TierRequirement:
    """Change a tier requirement's threshold (the program configuration page), audited with the old and new value."""
    old = requirement.threshold
    with transaction.atomic():
        requirement.threshold = Decimal(str(threshold))
        requirement.full_clean()
        requirement.save(update_fields=["threshold"])
        audit_record(
            actor=actor, action="tier.requirement_changed", target=requirement.tier,
            data={"requirement": requirement.pk, "metric": requirement.metric, "from": str(old),
                  "to": str(requirement.threshold)},
        )  # fmt: skip
    return requirement


# --- Decisions by a person -----------------------------------------------------------------------------------


def tier_change_check(*, partner: Partner, kind: str, to_tier: Tier | None, note: str) -> str:
    """Validate a person's tier decision (forms call it too, so the admin shows the same messages).
    Returns the cleaned note."""
    if kind not in PERSON_KINDS:
        raise ValidationError({"kind": _("Only manual changes and locks are made by a person.")})
    note = (note or "").strip()
    if not note:
        raise ValidationError({"reason": _("Give a reason: it is recorded and shown to both sides.")})
    if kind == TierChangeKind.MANUAL and partner.tier_id == (to_tier.pk if to_tier else None):
        raise ValidationError({"tier": _("The partner already has this tier.")})
    if kind == TierChangeKind.LOCK and to_tier is None:
        raise ValidationError({"tier": _("Choose the tier to lock.")})
    return note


def tier_change(
    *,
    partner: Partner,
    to_tier: Tier | None,
    kind: str,
    actor: User,
    note: str,
    reason_code: str | None = None,
    params: dict | None = None,
) -> TierChange:
    """A person's tier decision for one partner: a manual change (partner page, admin) or a lock's tier.

    The reason is `reason_code` (default: the kind) with `params`; the person's note is one of the parameters.
    """
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        note = tier_change_check(partner=partner, kind=kind, to_tier=to_tier, note=note)
        [change] = tier_changes_apply(
            changes=[
                TierChange(
                    partner=partner,
                    kind=kind,
                    from_tier_id=partner.tier_id,
                    to_tier=to_tier,
                    effective_on=timezone.localdate(),
                    reason_code=reason_code or kind,
                    reason_params={"tier": to_tier.name_i18n() if to_tier else "—", **(params or {}), "note": note},
                    actor=actor,
                )
            ]
        )
    return change


def tier_lock_set(*, partner: Partner, tier: Tier, until: datetime.date, reason: str, actor: User) -> TierLock:
    """Freeze a partner's tier until a date (the nightly run leaves it alone meanwhile)."""
    if until < timezone.localdate():
        raise ValidationError({"until": _("The end date must not be in the past.")})
    with transaction.atomic():
        tier_change_check(partner=partner, kind=TierChangeKind.LOCK, to_tier=tier, note=reason)
        Partner.objects.select_for_update().get(pk=partner.pk)
        TierLock.objects.filter(partner=partner, released_at__isnull=True).update(released_at=timezone.now())
        lock = TierLock(partner=partner, tier=tier, until=until, reason=reason.strip(), locked_by=actor)
        lock.full_clean()
        lock.save()
        tier_change(
            partner=partner,
            to_tier=tier,
            kind=TierChangeKind.LOCK,
            actor=actor,
            note=reason,
            params={"date": until.isoformat()},
        )
    return lock


def tier_lock_release(*, lock: TierLock, actor: User) -> None:
    with transaction.atomic():
        if TierLock.objects.filter(pk=lock.pk, released_at__isnull=True).update(released_at=timezone.now()):
            audit_record(actor=actor, action=TierAudit.UNLOCK, target=lock, partner=lock.partner, reason="")
