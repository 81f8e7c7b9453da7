"""Leads with their offers, routing decisions, registrations, protection windows, activities, co-sells and reviews.

One pass over the leads, written in chunks. Times are integer epoch seconds; for every lead
created <= offered_at < accepted_at < first_contact_at <= last_activity_at <= closed_at (= won_at) <= now.
"""

import json

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from leads.models import (
    Activity,
    CoSell,
    Lead,
    Offer,
    ProtectionWindow,
    Registration,
    RoutingDecision,
)
from leads.services import registration
from partners.models import CustomerReview
from prm.models import AuditEvent
from prm.texts import compose

from . import data
from .writer import day_text, insert_rows, next_id


def _system_reason(msgid: str) -> str:
    """A reason the registration rule words itself: stored as that rule stores it (code + parameters)."""
    return json.dumps(compose(msgid))


DAY, HOUR, MINUTE = 86400, 3600, 60
STAGES = ["new", "queue", "offered", "registered", "qualified", "proposal", "negotiation", "won", "lost"]
STAGE_WEIGHTS = [3, 3, 5, 8, 12, 12, 7, 25, 25]
OPEN = ("registered", "qualified", "proposal", "negotiation")
STAGE_AGE_DAYS = {
    "registered": (1, 30),
    "qualified": (3, 60),
    "proposal": (10, 120),
    "negotiation": (20, 150),
    "won": (20, 365),
    "lost": (20, 365),
}
KIND_BY_MODEL = {
    "full_cycle": (["implementation", "license", "onsite_service"], [50, 35, 15]),
    "distributor": (["license"], [1]),
    "reseller": (["license", "implementation"], [85, 15]),
    "franchise": (["onsite_service", "implementation"], [70, 30]),
}
VALUE_RANGE = {"license": (300, 6000), "implementation": (1000, 20000), "onsite_service": (40, 600)}  # thousand RUB
ACTIVITY_KINDS = ["call", "meeting", "email", "note"]
ACTIVITY_WEIGHTS = [40, 15, 35, 10]
REVIEW_STATUSES = (["published", "submitted", "invited", "rejected"], [60, 20, 15, 5])
CHUNK = 20000

LEAD_FIELDS = [
    "id", "customer_id", "partner_id", "owner_id", "title", "kind", "source", "stage", "region_id", "contact_name",
    "contact_email", "contact_phone", "products", "value", "currency", "expected_close", "notes", "lost_reason",
    "source_system", "external_id", "route_failures", "offered_at", "accepted_at", "first_contact_due",
    "first_contact_at", "last_activity_at", "won_at", "closed_at", "created_at", "updated_at",
]  # fmt: skip
REG_FIELDS = [
    "id", "lead_id", "partner_id", "submitted_by_id", "status", "protected_from", "protected_until", "extended",
    "decided_at", "decided_by_id", "decision_rule", "decision_reason", "matches", "created_at", "updated_at",
]  # fmt: skip
WINDOW_FIELDS = ["registration_id", "partner_id", "key_kind", "key", "active", "starts_at", "ends_at"]
DECISION_FIELDS = ["id", "lead_id", "decided_at", "chosen_id", "candidates", "rule", "manual", "actor_id", "reason"]
OFFER_FIELDS = [
    "lead_id", "partner_id", "decision_id", "status", "offered_at", "deadline", "responded_at", "responded_by_id",
    "reason", "created_at", "updated_at",
]  # fmt: skip
ACTIVITY_FIELDS = ["lead_id", "partner_id", "user_id", "kind", "occurred_at", "subject", "created_at", "updated_at"]
COSELL_FIELDS = ["lead_id", "partner_id", "share_percent", "role"]
REVIEW_FIELDS = [
    "lead_id", "partner_id", "token", "status", "rating", "text", "author_name", "submitted_at", "moderated_by_id",
    "moderation_reason", "created_at", "updated_at",
]  # fmt: skip
AUDIT_FIELDS = ["at", "actor_id", "action", "content_type_id", "object_id", "partner_id", "reason", "data"]


class LeadGenerator:
    def __init__(self, seeder, *, count: int, progress=None):
        self.s = seeder
        self.count = count
        self.bar = progress
        self.rng = seeder.rng("leads")
        self.now = seeder.now
        self.cm = seeder.cm.id
        self.active_keys: set[tuple[str, str]] = set()
        self.holder: dict[tuple[str, str], int] = {}
        partners = seeder.partner_info
        tiers = seeder.tiers
        weight = {code: t.allocation_weight for code, t in tiers.items()}
        self.protection_days = {code: t.protection_days for code, t in tiers.items()}
        active = [p for p in partners if p.status == "active" and p.sales]
        self.global_pool = _pool(active, weight)
        self.region_pool = {}
        for code in data.REGION_WEIGHTS:
            serving = [p for p in active if code in p.served]
            self.region_pool[code] = _pool(serving, weight) if serving else self.global_pool
        former = [p for p in partners if p.status in ("suspended", "terminated") and p.sales]
        self.former_pool = _pool(former, weight) if former else None
        self.specialists = [p for p in active if p.ptype == "specialist"] or active
        by_id = {p.id: p for p in partners}
        self.fc = by_id[seeder.demo_partner_ids["fc"]]
        self.dist = by_id[seeder.demo_partner_ids["dist"]]
        self.products = {code: products for code, _n, products in data.COMPETENCIES}
        self.comp_ids = {code: c.id for code, c in seeder.competencies.items()}
        self.region_ids = {code: r.id for code, r in seeder.regions.items()}
        self.customers = seeder.cust
        self.open_customers = [c for c in seeder.cust if not c[6]]
        self.people = {
            "RU": [(f"{f} {last}", f"{_slug(f)}.{_slug(last)}") for f, last in data.RU_MALE + data.RU_FEMALE],
            "EU": [(f"{f} {last}", f"{_slug(f)}.{_slug(last)}") for f, last in data.EU_PEOPLE],
        }
        self.ct_registration = ContentType.objects.get_for_model(Registration).id

    # ------------------------------------------------------------------
    def run(self):
        self.lead_id = next_id(Lead)
        self.reg_id = next_id(Registration)
        self.dec_id = next_id(RoutingDecision)
        for start in range(0, self.count, CHUNK):
            self.buf = {k: [] for k in ("lead", "comp", "reg", "win", "dec", "offer", "act", "cosell", "rev", "aud")}
            for i in range(start, min(self.count, start + CHUNK)):
                self.make(i)
            with transaction.atomic():
                self.flush()
            if self.bar is not None:
                self.bar.update(min(CHUNK, self.count - start))

    def flush(self):
        b, s = self.buf, self.s
        s._add("leads", insert_rows(Lead, LEAD_FIELDS, b["lead"]))
        s._add("lead competencies", insert_rows(Lead.competencies.through, ["lead_id", "competency_id"], b["comp"]))
        s._add("registrations", insert_rows(Registration, REG_FIELDS, b["reg"]))
        s._add("protection windows", insert_rows(ProtectionWindow, WINDOW_FIELDS, b["win"]))
        s._add("routing decisions", insert_rows(RoutingDecision, DECISION_FIELDS, b["dec"]))
        s._add("offers", insert_rows(Offer, OFFER_FIELDS, b["offer"]))
        s._add("activities", insert_rows(Activity, ACTIVITY_FIELDS, b["act"]))
        s._add("co-sells", insert_rows(CoSell, COSELL_FIELDS, b["cosell"]))
        s._add("customer reviews", insert_rows(CustomerReview, REVIEW_FIELDS, b["rev"]))
        s._add("audit events", insert_rows(AuditEvent, AUDIT_FIELDS, b["aud"]))

    # ------------------------------------------------------------------
    def _decision(self, lead_id, at, chosen, pool, *, rule="weighted_round_robin", manual=False, reason=""):
        rng = self.rng
        dec_id = self.dec_id
        self.dec_id += 1
        candidates = []
        if chosen is not None:
            candidates.append({"partner_id": chosen.id, "score": round(rng.uniform(0.6, 1.0), 3), "chosen": True})
        for _ in range(2):
            other = pool.pick(rng)
            if chosen is None or other.id != chosen.id:
                candidates.append({"partner_id": other.id, "score": round(rng.uniform(0.1, 0.7), 3)})
        self.buf["dec"].append(
            (
                dec_id,
                lead_id,
                at,
                chosen.id if chosen else None,
                candidates,
                rule,
                manual,
                self.cm if manual else None,
                reason,
            )
        )
        return dec_id

    def _failed_offers(self, lead_id, t, pool, count):
        """`count` offers that were declined or ran out; returns the time the last one ended."""
        rng = self.rng
        for _ in range(count):
            p = pool.pick(rng)
            dec = self._decision(lead_id, t, p, pool)
            if rng.random() < 0.6:
                responded = t + rng.randint(5 * MINUTE, 3 * HOUR)
                self.buf["offer"].append(
                    (
                        lead_id,
                        p.id,
                        dec,
                        "declined",
                        t,
                        t + 4 * HOUR,
                        responded,
                        p.sales[0],
                        rng.choice(data.DECLINE_REASONS),
                        t,
                        responded,
                    )
                )
                t = responded + rng.randint(1, 10) * MINUTE
            else:
                self.buf["offer"].append(
                    (
                        lead_id,
                        p.id,
                        dec,
                        "expired",
                        t,
                        t + 4 * HOUR,
                        None,
                        None,
                        "No answer within SLA",
                        t,
                        t + 4 * HOUR,
                    )
                )
                t += 4 * HOUR + rng.randint(1, 10) * MINUTE
        return t

    def make(self, i: int):
        rng, now, b = self.rng, self.now, self.buf
        lead_id = self.lead_id
        self.lead_id += 1
        # The first 18 leads give both demo partners a deal in every stage.
        if i < 18:
            stage = STAGES[i % 9]
            forced = self.fc if i < 9 else self.dist
            cust = self.open_customers[i % len(self.open_customers)]
        else:
            stage = rng.choices(STAGES, STAGE_WEIGHTS)[0]
            r = rng.random()
            forced = self.fc if r < 0.03 else self.dist if r < 0.04 else None
            cust = rng.choice(self.customers)
        cust_id, region, country, tax_key, domain, normalized, reserved, cust_name = cust
        routed = stage in ("new", "queue", "offered") or (stage != "registered" if i < 18 else rng.random() < 0.55)
        if routed and reserved:  # named accounts are sold direct, never routed
            cust = self.open_customers[cust_id % len(self.open_customers)]
            cust_id, region, country, tax_key, domain, normalized, reserved, cust_name = cust
        pool = self.region_pool[region]
        if forced is not None:
            p = forced
        elif stage in ("won", "lost") and self.former_pool and rng.random() < 0.08:
            p = self.former_pool.pick(rng)
        else:
            p = pool.pick(rng)
        comp = rng.choice(p.comps)
        product = rng.choice(self.products[comp])
        kinds, kind_w = KIND_BY_MODEL[p.model]
        kind = rng.choices(kinds, kind_w)[0]
        lo, hi = VALUE_RANGE[kind]
        eu = country != "RU"
        value = rng.randint(lo, hi) * (10 if eu else 1000)
        person, local = rng.choice(self.people["EU" if eu else "RU"])
        phone = f"+7 9{rng.randint(10, 99)} {rng.randint(100, 999)}-{rng.randint(1000, 9999)}" if not eu else ""
        source = "registration" if not routed else rng.choices(["vendor", "api", "import"], [80, 12, 8])[0]
        system = {"api": "bitrix24", "import": "csv-import"}.get(source, "")
        partner_id = owner = offered_at = accepted_at = first_due = first_contact = last_activity = None
        won_at = closed_at = None
        lost_reason = ""
        route_failures = 0
        expected = None

        if stage == "new":
            created = now - rng.randint(5 * MINUTE, 36 * HOUR)
        elif stage == "queue":
            created = now - rng.randint(DAY, 10 * DAY)
            route_failures = rng.randint(1, 3)
            t = created + rng.randint(1, 10) * MINUTE
            offered_at = t
            end = self._failed_offers(lead_id, t, pool, route_failures)
            self._decision(lead_id, end, None, pool, rule="queue", reason="No eligible partner accepted within SLA")
            last_activity = min(end, now)
        elif stage == "offered":
            created = now - rng.randint(10 * MINUTE, 3 * HOUR)
            t = created + rng.randint(1, 5) * MINUTE
            if now - t > HOUR and rng.random() < 0.3:  # someone declined it first
                first = pool.pick(rng)
                dec = self._decision(lead_id, t, first, pool)
                responded = t + rng.randint(5, 30) * MINUTE
                reason = rng.choice(data.DECLINE_REASONS)
                b["offer"].append(
                    (
                        lead_id,
                        first.id,
                        dec,
                        "declined",
                        t,
                        t + 4 * HOUR,
                        responded,
                        first.sales[0],
                        reason,
                        t,
                        responded,
                    )
                )
                t = responded + rng.randint(1, 5) * MINUTE
            target = p
            dec = self._decision(lead_id, t, target, pool)
            b["offer"].append(
                (
                    lead_id,
                    target.id,
                    dec,
                    "pending",
                    t,
                    max(t + 4 * HOUR, now + 15 * MINUTE),
                    None,
                    None,
                    "",
                    t,
                    t,
                )
            )
            offered_at = t
        else:
            lo_d, hi_d = STAGE_AGE_DAYS[stage]
            created = now - rng.randint(lo_d * DAY, hi_d * DAY)
            partner_id, owner = p.id, rng.choice(p.sales)
            if routed:
                t = created + rng.randint(1, 20) * MINUTE
                failures = rng.choices([0, 1, 2], [80, 15, 5])[0]
                if failures:
                    t = self._failed_offers(lead_id, t, pool, failures)
                route_failures = failures
                manual = rng.random() < 0.05
                dec = self._decision(
                    lead_id,
                    t,
                    p,
                    pool,
                    rule="manual" if manual else "weighted_round_robin",
                    manual=manual,
                    reason="The customer asked for this partner" if manual else "",
                )
                offered_at = t
                accepted_at = t + max(60, int(rng.lognormvariate(4.1, 0.9) * MINUTE * p.speed))
                accepted_at = min(accepted_at, now - MINUTE)
                b["offer"].append(
                    (lead_id, p.id, dec, "accepted", t, t + 4 * HOUR, accepted_at, owner, "", t, accepted_at)
                )
                first_due = accepted_at + 8 * HOUR
                first_contact = accepted_at + max(60, int(rng.lognormvariate(5.2, 0.8) * MINUTE * p.speed))
                if first_contact >= now:
                    first_contact = None
                start = first_contact or accepted_at
            else:
                start = created
            if start >= now:
                start = now - MINUTE
            if stage in ("won", "lost"):
                close = start + rng.randint(7 * DAY, 150 * DAY)
                if close >= now - HOUR:
                    close = start + int((now - HOUR - start) * rng.uniform(0.3, 0.95))
                closed_at = close
                last_activity = close - rng.randint(0, min(3 * DAY, close - start))
                if stage == "won":
                    won_at = close
                else:
                    lost_reason = rng.choice(data.LOST_REASONS)
                expected = day_text(close // DAY)
            else:
                if rng.random() < 0.75:
                    last_activity = max(start, now - rng.randint(0, 13 * DAY))
                else:  # a stale deal, for the hygiene KPI
                    last_activity = start + rng.randint(0, now - start)
                expected = day_text(now // DAY + rng.randint(10, 120))

            if not routed:
                stage, closed_at, lost_reason, last_activity = self._registration(
                    i, lead_id, p, owner, cust, stage, created, closed_at, lost_reason, last_activity
                )
                if stage in ("lost", "rejected"):
                    won_at = None
                    expected = day_text(closed_at // DAY)
                if stage == "registered" and last_activity is None:
                    last_activity = created

        title = f"{product} — {cust_name}"
        b["lead"].append(
            (
                lead_id,
                cust_id,
                partner_id,
                owner,
                title[:200],
                kind,
                source,
                stage,
                self.region_ids[region],
                person,
                f"{local}@{domain}",
                phone,
                product,
                value,
                "EUR" if eu else "RUB",
                expected,
                "",
                lost_reason,
                system,
                str(lead_id) if system else "",
                route_failures,
                offered_at,
                accepted_at,
                first_due,
                first_contact,
                last_activity,
                won_at,
                closed_at,
                created,
                last_activity or created,
            )
        )
        b["comp"].append((lead_id, self.comp_ids[comp]))
        if partner_id is None:
            return
        # Activities between the start of work and the last activity.
        k = self.s.activities
        if k > 0:
            n = rng.randint(max(1, k - 2), k + 2)
            first = first_contact or created
            span = max(0, last_activity - first)
            times = sorted(first + rng.randint(0, span) for _ in range(n - 1)) + [last_activity]
            for at in times:
                kind_a = rng.choices(ACTIVITY_KINDS, ACTIVITY_WEIGHTS)[0]
                b["act"].append(
                    (lead_id, partner_id, owner, kind_a, at, rng.choice(data.ACTIVITY_SUBJECTS[kind_a]), at, at)
                )
        if rng.random() < 0.03:
            other = rng.choice(self.specialists)
            if other.id != partner_id:
                b["cosell"].append((lead_id, other.id, rng.choice([20, 25, 30, 40]), rng.choice(data.COSELL_ROLES)))
        if stage == "won" and rng.random() < 0.4:
            status = rng.choices(*REVIEW_STATUSES)[0]
            submitted = rating = moderator = None
            text = ""
            if status != "invited":
                submitted = min(won_at + rng.randint(DAY, 20 * DAY), now - HOUR)
                rating = rng.choices([5, 4, 3, 2, 1], [45, 35, 12, 5, 3])[0]
                text = rng.choice(data.REVIEW_TEXTS)
                moderator = self.cm if status in ("published", "rejected") else None
            b["rev"].append(
                (
                    lead_id,
                    partner_id,
                    f"demo{lead_id:x}{rng.getrandbits(64):016x}",
                    status,
                    rating,
                    text,
                    person if status != "invited" else "",
                    submitted,
                    moderator,
                    "Contains personal data of third parties" if status == "rejected" else "",
                    won_at,
                    submitted or won_at,
                )
            )

    def _registration(self, i, lead_id, p, owner, cust, stage, created, closed_at, lost_reason, last_activity):
        """Registration for a partner-sourced deal; a rejection closes the deal (stage rejected). Returns the lead
        fields."""
        rng, now = self.rng, self.now
        cust_id, _region, _country, tax_key, domain, normalized, reserved, _name = cust
        reg_id = self.reg_id
        self.reg_id += 1
        status, decided, decider, rule, reason, matches = "pending_review", None, None, "", "", []
        p_from = p_until = None
        extended = False
        keys = [("domain", domain), ("name", normalized)] + ([("tax_id", tax_key)] if tax_key else [])
        pending = stage == "registered" and (i == 3 or (i >= 18 and rng.random() < 0.4))
        if pending:
            last_activity = created
        else:
            decided = min(created + rng.randint(HOUR, 2 * DAY), now - 5 * MINUTE)
            decider = self.cm if rng.random() < 0.3 else None
            rule = "manual" if decider else "auto_no_conflict"
            if reserved:
                status, rule, reason = "rejected", "reserved_account", _system_reason(registration.MSG_RESERVED)
            elif stage == "lost" and i >= 18 and rng.random() < 0.5:
                why = rng.choice(["duplicate", "insufficient"])
                status, rule, reason, decider = "rejected", "manual", data.REJECT_REASONS[why], self.cm
            else:
                extended = rng.random() < 0.1
                days = self.protection_days[p.tier or "registered"] + (30 if extended else 0)
                p_from, p_until = decided, decided + days * DAY
                if p_until <= now:
                    status = "expired"
                    reason = ""  # expiry keeps the approval's reason; the audit trail says why it ended
                else:
                    clash = [k for k in keys if k in self.active_keys]
                    if clash:
                        status, rule = "rejected", "conflict_hard"
                        reason = _system_reason(registration.MSG_PROTECTED)
                        matches = [
                            {
                                "kind": "hard",
                                "key_kind": k[0],
                                "key": k[1],
                                "lead_id": self.holder[k],
                                "similarity": 100,
                            }
                            for k in clash
                        ]
                        p_from = p_until = None
                        extended = False
                    else:
                        status = "approved"
                        for k in keys:
                            self.active_keys.add(k)
                            self.holder[k] = lead_id
                if status in ("approved", "expired"):
                    for kind, key in keys:
                        self.buf["win"].append((reg_id, p.id, kind, key, status == "approved", p_from, p_until))
            if status == "rejected":  # a rejected registration closes its deal (as deal_register does)
                stage, closed_at, lost_reason, last_activity = "rejected", decided, "", decided
            if p.id == self.fc.id:
                self.buf["aud"].append(
                    (
                        decided,
                        decider,
                        f"registration.{'approved' if status in ('approved', 'expired') else 'rejected'}",
                        self.ct_registration,
                        str(reg_id),
                        p.id,
                        reason,
                        {"rule": rule},
                    )
                )
        self.buf["reg"].append(
            (
                reg_id,
                lead_id,
                p.id,
                owner,
                status,
                p_from,
                p_until,
                extended,
                decided,
                decider,
                rule,
                reason,
                matches,
                created,
                decided or created,
            )
        )
        return stage, closed_at, lost_reason, last_activity


def _pool(partners, weight):
    from .seed import Picker

    return Picker(partners, [weight.get(p.tier, 1) for p in partners])


def _slug(text: str) -> str:
    from .seed import slug

    return slug(text)
