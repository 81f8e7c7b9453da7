"""Tier evaluation (phase 3 of the nightly run) and tier locks set by channel managers."""

import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Partner, PartnerStatus, Tier
from prm.models import AuditEvent, NotificationKind, Role, User
from prm.selectors import partner_admins
from prm.services import audit_record, notify, notify_many
from prm.webhooks import webhook_emit_many

from ..models import KpiSnapshot, NightlyRun, TierChange, TierChangeKind, TierLock
from ..selectors import requirement_progress, tier_met, tier_reached, tiers_with_requirements
from .snapshots import snapshot_values


def _evaluation(rows: list[dict]) -> list[dict]:
    keys = ("metric", "competency", "value", "threshold", "met")
    return [{k: r[k] for k in keys} for r in rows]


def _missing(rows: list[dict]) -> str:
    return "; ".join(r["needed"] for r in rows if not r["met"])


def _decide(*, partner, tiers, values, last_kind, last_grace, on, grace_days) -> dict | None:
    """One partner's decision for the day, or None when nothing changes."""
    current = next((t for t in tiers if t.pk == partner.tier_id), None)
    best = tier_reached(partner=partner, tiers=tiers, values=values)
    if current is None:
        if best is None:
            return None
        rows = requirement_progress(partner=partner, tier=best, values=values)
        reason = _("First tier assigned from the KPIs: %(tier)s.") % {"tier": best.name}
        return {"kind": TierChangeKind.INITIAL, "to": best, "rows": rows, "reason": reason}
    if best is not None and best.rank > current.rank:
        rows = requirement_progress(partner=partner, tier=best, values=values)
        reason = _("Promoted to %(tier)s: every requirement of %(tier)s is met.") % {"tier": best.name}
        return {"kind": TierChangeKind.PROMOTION, "to": best, "rows": rows, "reason": reason}
    warned = last_kind == TierChangeKind.WARNING
    if tier_met(tier=current, values=values):
        if not warned:
            return None
        current_rows = requirement_progress(partner=partner, tier=current, values=values)
        reason = _("Warning cleared: the requirements of %(tier)s are met again.") % {"tier": current.name}
        return {"kind": TierChangeKind.WARNING_CLEARED, "to": current, "rows": current_rows, "reason": reason}
    if warned and (last_grace is None or on <= last_grace):
        return None  # still in the grace period
    current_rows = requirement_progress(partner=partner, tier=current, values=values)
    if not warned:
        grace = on + datetime.timedelta(days=grace_days)
        reason = _(
            "The requirements of %(tier)s are not met (%(missing)s). Unless they are met by %(date)s the tier will "
            "be lowered."
        ) % {"tier": current.name, "missing": _missing(current_rows), "date": grace.isoformat()}
        return {"kind": TierChangeKind.WARNING, "to": current, "rows": current_rows, "reason": reason, "grace": grace}
    target = best or tiers[0]
    if target.pk != current.pk:
        reason = _(
            "Demoted to %(to)s: the requirements of %(tier)s are still not met after the grace period ended on "
            "%(date)s (%(missing)s)."
        ) % {"to": target.name, "tier": current.name, "date": last_grace.isoformat(), "missing": _missing(current_rows)}
        return {"kind": TierChangeKind.DEMOTION, "to": target, "rows": current_rows, "reason": reason}
    return None


def tier_evaluate(*, on: datetime.date, run: NightlyRun | None = None) -> list[TierChange]:
    """Promote, warn, demote or clear warnings for every active partner from the day's snapshot, in one pass.

    All changes of the day are written in one transaction: either every partner's decision is applied or none.
    The unique constraint `tier_change_nightly_once` and the partner's updated tier make a re-run a no-op.
    """
    grace_days = settings.PRM_TIER_GRACE_DAYS
    tiers = tiers_with_requirements()
    if not tiers:
        return []
    last = TierChange.objects.filter(partner=OuterRef("pk"), effective_on__lte=on).order_by("-effective_on", "-id")
    locked = TierLock.objects.filter(partner=OuterRef("pk"), released_at__isnull=True, until__gte=on)
    partners = {
        p.pk: p
        for p in Partner.objects.filter(status=PartnerStatus.ACTIVE, kpi_snapshots__date=on)
        .exclude(pk__in=Subquery(locked.values("partner")))
        .annotate(
            last_kind=Subquery(last.values("kind")[:1]),
            last_grace=Subquery(last.values("grace_until")[:1]),
        )
    }
    snapshots = KpiSnapshot.objects.filter(date=on, partner_id__in=partners.keys())
    decisions = []
    for snap in snapshots:
        partner = partners[snap.partner_id]
        d = _decide(
            partner=partner,
            tiers=tiers,
            values=snapshot_values(snap),
            last_kind=partner.last_kind,
            last_grace=partner.last_grace,
            on=on,
            grace_days=grace_days,
        )
        if d:
            decisions.append((partner, d))
    if not decisions:
        return []

    changes = [
        TierChange(
            partner=partner,
            kind=d["kind"],
            from_tier_id=partner.tier_id,
            to_tier=d["to"],
            effective_on=on,
            evaluation=_evaluation(d["rows"]),
            reason=d["reason"],
            run=run,
            grace_until=d.get("grace"),
        )
        for partner, d in decisions
    ]
    moved = []
    for partner, d in decisions:
        if d["to"].pk != partner.tier_id:
            partner.tier = d["to"]
            moved.append(partner)
    with transaction.atomic():
        changes = TierChange.objects.bulk_create(changes)
        Partner.objects.bulk_update(moved, ["tier"], batch_size=1000)
        _audit_and_notify(changes)
    return changes


def _audit_and_notify(changes: list[TierChange]) -> None:
    """One audit row, one inbox message per partner admin and one webhook per change, written in bulk."""
    codes = dict(Tier.objects.values_list("id", "code"))  # tiers are few; no query per change
    webhook_emit_many(
        event="tier.changed",
        items=[
            (
                c.partner_id,
                {
                    "kind": c.kind,
                    "from_tier": codes.get(c.from_tier_id),
                    "to_tier": codes.get(c.to_tier_id),
                    "effective_on": c.effective_on,
                    "evaluation": c.evaluation,
                    "reason": c.reason,
                },
            )
            for c in changes
        ],
    )
    ct = ContentType.objects.get_for_model(TierChange)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action=f"tier.{c.kind}",
                content_type=ct,
                object_id=str(c.pk),
                partner_id=c.partner_id,
                reason=c.reason,
                data={"from_tier": c.from_tier_id, "to_tier": c.to_tier_id, "evaluation": c.evaluation},
            )
            for c in changes
        ],
        batch_size=2000,
    )
    admins = {}
    for user in User.objects.filter(
        partner_id__in={c.partner_id for c in changes}, role=Role.PARTNER_ADMIN, is_active=True
    ):
        admins.setdefault(user.partner_id, []).append(user)
    url = reverse("kpi:scorecard")
    notify_many(
        kind=NotificationKind.TIER_CHANGED,
        messages=[
            (user, f"{c.get_kind_display()}: {c.to_tier.name if c.to_tier else ''}", c.reason, url)
            for c in changes
            for user in admins.get(c.partner_id, [])
        ],
    )


def tier_lock_set(*, partner: Partner, tier: Tier, until: datetime.date, reason: str, actor: User) -> TierLock:
    """Freeze a partner's tier until a date (the nightly run leaves it alone meanwhile)."""
    if until < timezone.localdate():
        raise ValidationError({"until": _("The end date must not be in the past.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the tier is locked.")})
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        TierLock.objects.filter(partner=partner, released_at__isnull=True).update(released_at=timezone.now())
        lock = TierLock(partner=partner, tier=tier, until=until, reason=reason, locked_by=actor)
        lock.full_clean()
        lock.save()
        change = TierChange.objects.create(
            partner=partner,
            kind=TierChangeKind.LOCK,
            from_tier_id=partner.tier_id,
            to_tier=tier,
            effective_on=timezone.localdate(),
            reason=_("Tier locked at %(tier)s until %(date)s: %(reason)s")
            % {"tier": tier.name, "date": until.isoformat(), "reason": reason},
            actor=actor,
        )
        if partner.tier_id != tier.pk:
            partner.tier = tier
            partner.save(update_fields=["tier", "updated_at"])
        audit_record(actor=actor, action="tier.lock", target=change, partner=partner, reason=reason)
        notify(
            users=partner_admins(partner=partner),
            kind=NotificationKind.TIER_CHANGED,
            title=_("Your tier is locked at %(tier)s") % {"tier": tier.name},
            body=change.reason,
            url=reverse("kpi:scorecard"),
        )
    return lock


def tier_lock_release(*, lock: TierLock, actor: User) -> None:
    with transaction.atomic():
        if TierLock.objects.filter(pk=lock.pk, released_at__isnull=True).update(released_at=timezone.now()):
            audit_record(actor=actor, action="tier.unlock", target=lock, partner=lock.partner, reason="")
