"""Generate a deterministic, realistic demo partner network of any size.

Everything random comes from `random.Random` seeded per section, so the same arguments on a fresh database give
the same partners, customers and deals. Times are offsets from the moment of the run (pending offers must have
future deadlines), so they move with the clock while their order and spacing stay the same.

Large tables go through `writer.insert_rows` (COPY on PostgreSQL) in chunks; the database's own constraints
(lead_owned_when_worked, lead_won_has_date, protection_active_key_unique, ...) check what we generate.
"""

import bisect
import datetime as dt
import itertools
import random
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal

from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from unidecode import unidecode

from demo.money import money_demo_seed
from kpi.models import ExchangeRate, ScoreComponent, TierChange
from leads.customers import customer_name_key
from leads.models import (
    Activity,
    Customer,
    Lead,
    Offer,
    Registration,
    RoutingDecision,
)
from partners.models import (
    Agreement,
    Competency,
    Industry,
    Partner,
    PartnerContact,
    Region,
    SlaPolicy,
    Tier,
    TierRequirement,
)
from prm.models import AuditEvent, Notification, Role, User
from training.models import (
    Certification,
    CertificationType,
    Choice,
    Course,
    Enrollment,
    LearningPath,
    LearningPathCourse,
    Lesson,
    Question,
    Quiz,
    QuizAttempt,
    certificate_code,
)

from . import data
from .ids import inn, vat
from .writer import insert_rows, next_id, reset_sequences

DEMO_PASSWORD = "demo12345"
DETAILED_LEADS = 10_000
DAY = 86400
HOUR = 3600
MINUTE = 60

# The demo vendor admin's authenticator-app secret (base32): add it to any TOTP app to sign in as admin@demo.prm.
DEMO_TOTP_SECRET = "PRMDEMOADMINTOTPSECRETAAAAAAAAAA"

# The logins printed at the end: email, role, partner key ("fc" / "dist" / None), extra user fields.
DEMO_LOGINS = [
    ("admin@demo.prm", Role.VENDOR_ADMIN, None, {"is_staff": True, "is_superuser": True}),
    ("cm@demo.prm", Role.CHANNEL_MANAGER, None, {"is_channel_lead": True}),
    ("admin@partner.demo.prm", Role.PARTNER_ADMIN, "fc", {}),
    ("sales@partner.demo.prm", Role.PARTNER_SALES, "fc", {}),
    ("engineer@partner.demo.prm", Role.PARTNER_ENGINEER, "fc", {}),
    ("admin@distributor.demo.prm", Role.PARTNER_ADMIN, "dist", {}),
]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", unidecode(text).lower().replace("'", "")).strip("-")


def weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Picker:
    """O(log n) weighted choice from a fixed list (random.choices recomputes cumulative weights every call)."""

    def __init__(self, items: list, weights: list):
        self.items = items
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1] if self.cum else 0

    def __bool__(self):
        return bool(self.items)

    def pick(self, rng: random.Random):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


@dataclass
class PartnerInfo:
    id: int
    country: str
    region: str
    model: str
    ptype: str
    status: str
    tier: str | None
    domain: str
    sales: list = field(default_factory=list)
    engineers: list = field(default_factory=list)
    admin: int | None = None
    speed: float = 1.0  # multiplies response times: <1 is a fast partner
    comps: list = field(default_factory=list)
    served: list = field(default_factory=list)
    names: dict = field(default_factory=dict)  # user id -> (full name, e-mail, phone)
    legal: str = ""
    joined: dt.date | None = None
    changed: int = 0
    manager: int | None = None
    sla: int | None = None


class DemoSeeder:
    def __init__(self, *, partners: int, leads: int, activities: int, seed: int = 20240601, progress: bool = True):
        if partners < 8:
            raise ValueError("At least 8 partners are needed for every program model and status.")
        self.n_partners = partners
        self.n_leads = leads
        self.activities = activities
        self.seed = seed
        self.progress = progress
        self.now = int(time.time()) // MINUTE * MINUTE
        self.today = dt.datetime.fromtimestamp(self.now, dt.UTC).date()
        self.counts: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self.password = make_password(DEMO_PASSWORD)  # hashing is slow: once, reused for every user

    def rng(self, section: str) -> random.Random:
        return random.Random(f"{self.seed}:{section}")

    def _bar(self, total: int, desc: str):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="row", disable=not self.progress, leave=False, mininterval=0.5)

    def _add(self, name: str, n: int):
        self.counts[name] = self.counts.get(name, 0) + n

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, int]:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Demo data can be regenerated: no need to wait for the WAL flush on every commit.
                cursor.execute("SET synchronous_commit = off")
        with transaction.atomic():
            self._timed(self.reference)
            self._timed(self.vendor_staff)
            self._timed(self.partners)
            self._timed(self.partner_staff)
            self._timed(self.training)
            self._timed(self.customers)
        # Leads are written in chunks, each in its own transaction, so a huge run does not hold one giant one.
        self._timed(self.leads)
        with transaction.atomic():
            self._timed(self.history)
            reset_sequences(
                [
                    User,
                    Partner,
                    Customer,
                    Lead,
                    Registration,
                    RoutingDecision,
                    Offer,
                    Activity,
                    Certification,
                    Enrollment,
                    Agreement,
                ]
            )
        from demo.delivery import delivery_seed

        now = dt.datetime.fromtimestamp(self.now, dt.UTC)
        self._add("post-sale rows", delivery_seed(partner_id=self.demo_partner_ids["fc"], now=now))
        self.counts.update(money_demo_seed())  # commission statements and MDF (demo/money.py)
        from demo.story import story_seed

        started = time.monotonic()
        managers = {p.id: p.manager for p in self.partner_info}
        self.counts.update(story_seed(today=self.today, seed=self.seed, manager_ids=managers))
        self.timings["story"] = time.monotonic() - started
        self._timed(self.change_feed)
        return self.counts

    def change_feed(self):
        """Number the change feed's rows once, in one statement: a million-lead seed leaves one row per generated
        row, which the feed's first readers would otherwise number 50,000 at a time."""
        from prm.api_changes import changes_assign_positions

        changes_assign_positions(batch=None)

    def _timed(self, step):
        started = time.monotonic()
        step()
        self.timings[step.__name__] = time.monotonic() - started

    # ------------------------------------------------------------------ reference data
    def reference(self):
        self.regions = {}
        for code, name, country, tz, _prefix, _cities in data.REGIONS:
            self.regions[code] = Region.objects.create(
                code=code, name=name, name_ru=data.NAMES_RU.get(code, ""), country=country, timezone=tz
            )
        self.region_meta = {r[0]: r for r in data.REGIONS}
        self.competencies = {
            code: Competency.objects.create(
                code=code,
                name=name,
                name_ru=data.NAMES_RU.get(code, ""),
                description=f"Products: {', '.join(products)}.",
            )
            for code, name, products in data.COMPETENCIES
        }
        self.products = [(code, p) for code, _n, products in data.COMPETENCIES for p in products]
        self.industries = {
            code: Industry.objects.create(code=code, name=name, name_ru=data.NAMES_RU.get(code, ""))
            for code, name in data.INDUSTRIES
        }
        self.tiers = {}
        self.tier_capacity = {}
        for code, name, rank, rate, weight, days, reqs, capacity in data.TIERS:
            tier = Tier.objects.create(
                code=code,
                name=name,
                name_ru=data.NAMES_RU.get(code, ""),
                rank=rank,
                commission_rate=rate,
                allocation_weight=weight,
                protection_days=days,
                description=f"{rate * 100:.0f}% commission, {days} days of deal protection.",
            )
            self.tiers[code] = tier
            self.tier_capacity[code] = capacity
            TierRequirement.objects.bulk_create(
                TierRequirement(
                    tier=tier,
                    metric=metric,
                    competency=self.competencies[comp] if comp else None,
                    threshold=Decimal(threshold),
                )
                for metric, comp, threshold in reqs
            )
        self.sla_policies = [SlaPolicy.objects.create(**values) for values in data.SLA_POLICIES]
        ScoreComponent.objects.bulk_create(
            ScoreComponent(
                name=name, name_ru=data.NAMES_RU.get(name, ""), metric=metric, target=target, max_points=points
            )
            for name, metric, target, points in data.SCORE_COMPONENTS
        )
        rates = []
        for currency, start, drift in data.EXCHANGE_RATES:
            for month in range(13):
                year, mon = divmod(self.today.year * 12 + self.today.month - 1 - 12 + month, 12)
                rates.append(
                    ExchangeRate(currency=currency, valid_from=dt.date(year, mon + 1, 1), rate=start + drift * month)
                )
        ExchangeRate.objects.bulk_create(rates)
        self._add("reference rows", Region.objects.count() + Competency.objects.count() + len(rates))
        self.certification_types()
        self.courses()

    def certification_types(self):
        self.cert_types = {}  # competency code -> [CertificationType]
        for code, name, _products in data.COMPETENCIES:
            kinds = [("engineer", "Certified Engineer", 24)]
            if code in ("itsm", "licensing", "cloud"):
                kinds.append(("sales", "Sales Professional", 12))
            for suffix, title, months in kinds:
                ct = CertificationType.objects.create(
                    code=f"{code}-{suffix}",
                    name=f"{name} {title}",
                    name_ru=f"{data.NAMES_RU.get(title, title)}: {data.NAMES_RU.get(code, name)}",
                    competency=self.competencies[code],
                    validity_months=months,
                    description=f"Proves {title.lower()} skills in {name}.",
                )
                self.cert_types.setdefault(code, []).append(ct)

    def courses(self):
        rng = self.rng("courses")
        self.course_ids = {"mandatory": [], "sales": [], "engineer": []}
        self.course_lessons: dict[int, list[int]] = {}
        for title, comp, level, audience, mandatory, status in data.COURSES:
            grants = None
            if comp and status == "published":
                wanted = "sales" if audience == "partner_sales" else "engineer"
                grants = next((c for c in self.cert_types[comp] if c.code.endswith(wanted)), None)
            course = Course.objects.create(
                title=title,
                product=comp and self.competencies[comp].name or "Partner program",
                level=level,
                language="ru" if mandatory else rng.choice(["ru", "ru", "en"]),
                audience_role=audience,
                duration_minutes=rng.choice([45, 60, 90, 120, 240]),
                description=f"{title}: lessons, practice and a final quiz.",
                status=status,
                grants=grants,
                is_mandatory_onboarding=mandatory,
                version_major=2 if level == "advanced" else 1,
            )
            lessons = Lesson.objects.bulk_create(
                Lesson(course=course, order=i + 1, title=t, body=f"{t} of {title}.")
                for i, t in enumerate(data.LESSON_TITLES[: rng.randint(3, 5)])
            )
            quiz = Quiz.objects.create(course=course, passing_score=rng.choice([70, 80, 80, 90]))
            for q in range(rng.randint(3, 5)):
                question = Question.objects.create(
                    quiz=quiz,
                    order=q + 1,
                    text=f"{title}: question {q + 1} about {lessons[q % len(lessons)].title.lower()}?",
                    kind=Question.Kind.MULTIPLE if q == 2 else Question.Kind.SINGLE,
                )
                n = rng.randint(3, 4)
                correct = {0, 1} if q == 2 else {rng.randrange(n)}
                Choice.objects.bulk_create(
                    Choice(question=question, text=f"Answer {chr(65 + c)}", is_correct=c in correct) for c in range(n)
                )
            if status != "published":
                continue
            self.course_lessons[course.id] = [lesson.id for lesson in lessons]
            if mandatory:
                self.course_ids["mandatory"].append((course.id, course.version, audience))
            elif audience == "partner_sales":
                self.course_ids["sales"].append((course.id, course.version, grants))
            else:
                self.course_ids["engineer"].append((course.id, course.version, grants))
        for name, role, kind in [
            ("Sales onboarding", Role.PARTNER_SALES, "sales"),
            ("Engineer onboarding", Role.PARTNER_ENGINEER, "engineer"),
        ]:
            path = LearningPath.objects.create(name=name, role=role, description=f"{name}: start here.")
            steps = [c[0] for c in self.course_ids["mandatory"]] + [c[0] for c in self.course_ids[kind][:2]]
            LearningPathCourse.objects.bulk_create(
                LearningPathCourse(path=path, course_id=cid, order=i + 1, mandatory=i < 3)
                for i, cid in enumerate(steps)
            )
        self._add("courses", Course.objects.count())

    # ------------------------------------------------------------------ vendor staff
    def vendor_staff(self):
        users = [
            User(
                email="admin@demo.prm",
                first_name="Виктор",
                last_name="Администраторов",
                role=Role.VENDOR_ADMIN,
                is_staff=True,
                is_superuser=True,
                job_title="Head of partner programs",
                password=self.password,
            )
        ]
        for i, (first, last) in enumerate(data.CHANNEL_MANAGERS):
            email = "cm@demo.prm" if i == 0 else f"{slug(first)}.{slug(last)}@demo.prm"
            users.append(
                User(
                    email=email,
                    first_name=first,
                    last_name=last,
                    role=Role.CHANNEL_MANAGER,
                    is_channel_lead=i == 0,
                    job_title="Channel manager",
                    password=self.password,
                )
            )
        User.objects.bulk_create(users)
        self.vendor_admin = User.objects.get(email="admin@demo.prm")
        # Vendor admins need a second factor: the demo admin's TOTP secret is public (README), like its password.
        TOTP.activate(self.vendor_admin, DEMO_TOTP_SECRET)
        self.cm = User.objects.get(email="cm@demo.prm")
        self.channel_managers = list(User.objects.filter(role=Role.CHANNEL_MANAGER).order_by("id"))
        # The EU channel manager looks after EU partners; the rest share Russia.
        self.cm_for = {"RU": [u.id for u in self.channel_managers[:-1]], "EU": [self.channel_managers[-1].id]}
        self._add("users", len(users))

    # ------------------------------------------------------------------ partners
    def _company(self, rng, country: str, city: str, used: set) -> tuple[str, str]:
        for attempt in itertools.count():
            if country == "RU":
                base = f"{rng.choice(data.RU_COMPANY_ROOTS)} {rng.choice(data.RU_COMPANY_SUFFIXES)}"
                name = base if attempt < 3 else f"{base} {city}" if attempt < 6 else f"{base} {city} {attempt}"
                form = weighted(rng, dict(data.RU_LEGAL_FORMS))
                legal = f"{form} «{name}»"
            else:
                roots, forms = data.EU_COMPANIES[country]
                root, form = rng.choice(roots), rng.choice(forms)
                short = form.split(" ")[0]
                tail = "" if attempt < 3 else f" {city}" if attempt < 6 else f" {city} {attempt}"
                name, legal = f"{root} {short}{tail}", f"{root}{tail} {form}"
            if name not in used:
                used.add(name)
                return name, legal
        raise AssertionError

    def partners(self):
        rng = self.rng("partners")
        region_codes = list(data.REGION_WEIGHTS)
        region_picker = Picker(region_codes, list(data.REGION_WEIGHTS.values()))
        specs: list[dict] = []

        def spec(model, region, parent=None, **extra):
            s = {"model": model, "region": region, "parent": parent, "index": len(specs), **extra}
            specs.append(s)
            return s

        # The demo partners first, so their ids and names are stable whatever the size.
        spec("full_cycle", "ru-central", key="fc", ptype="strategic", status="active", tier="gold")
        dist = spec("distributor", "ru-central", key="dist", ptype="strategic", status="active", tier="platinum")
        for region in ("ru-volga", "ru-ural", "ru-siberia"):
            spec("reseller", region, parent=dist["index"], status="active")
        # Then one of each other shape, then the weighted mix.
        exclusive_free = [r for r in region_codes if r != "ru-central"]
        rng.shuffle(exclusive_free)
        forced = ["franchise", "full_cycle", "franchise", "full_cycle", "distributor"]
        while len(specs) < self.n_partners:
            model = forced.pop(0) if forced else weighted(rng, data.PROGRAM_MODEL_WEIGHTS)
            if model == "franchise":
                # One franchise per exclusive territory while territories last.
                exclusive = exclusive_free.pop() if exclusive_free else None
                spec(model, exclusive or region_picker.pick(rng), exclusive=exclusive)
            elif model == "distributor":
                d = spec(model, region_picker.pick(rng))
                for _ in range(rng.randint(2, 4)):
                    if len(specs) >= self.n_partners:
                        break
                    spec("reseller", region_picker.pick(rng), parent=d["index"])
            else:
                spec(model, region_picker.pick(rng))

        # Non-active statuses go to partners nothing else depends on (no demo, no distributor with resellers).
        eligible = [s for s in specs if "key" not in s and s["model"] != "distributor" and "status" not in s]
        rng.shuffle(eligible)
        pos = 0
        for status, share in data.RARE_STATUSES.items():
            for _ in range(max(1, round(share * self.n_partners))):
                if pos < len(eligible) - 2:  # keep a few active partners in every size
                    eligible[pos]["status"] = status
                    pos += 1

        base_id = next_id(Partner)
        used_names: set[str] = set()
        self.partner_info: list[PartnerInfo] = []
        rows, regions_m2m, comps_m2m, inds_m2m = [], [], [], []
        comp_codes = list(self.competencies)
        ind_codes = list(self.industries)
        self.demo_partner_ids = {}
        for s in specs:
            pid = base_id + s["index"]
            region = s["region"]
            code, _rname, country, _tz, prefix, cities = self.region_meta[region]
            city = rng.choice(cities)
            status = s.get("status", "active")
            model = s["model"]
            ptype = s.get("ptype") or weighted(rng, data.PARTNER_TYPES_BY_MODEL[model])
            if s.get("key") == "fc":
                name, legal = "Интегра Системс", "ООО «Интегра Системс»"
            elif s.get("key") == "dist":
                name, legal = "Меридиан Дистрибуция", "АО «Меридиан Дистрибуция»"
            else:
                name, legal = self._company(rng, country, city, used_names)
            used_names.add(name)
            scrambled = (s["index"] + 1) * 7919 % 1_000_000 + 1_000_000  # unique, partners' own block of serials
            tax_id = inn(prefix, scrambled) if country == "RU" else vat(country, scrambled)
            domain = f"{slug(name)}.{data.EU_TLD[country]}"
            email_domain = {"fc": "partner.demo.prm", "dist": "distributor.demo.prm"}.get(s.get("key"), domain)
            if status in ("applied", "under_review", "rejected"):
                tier = None
            elif status in ("agreement_signed", "onboarding"):
                tier = "registered"
            else:
                tier = s.get("tier") or weighted(rng, data.TIER_WEIGHTS)
            joined_days = (
                rng.randint(14, 120) if status in ("applied", "under_review", "rejected") else rng.randint(60, 6 * 365)
            )
            joined = self.today - dt.timedelta(days=joined_days)
            changed = self.now - rng.randint(1, min(joined_days, 200)) * DAY
            cms = self.cm_for["RU" if country == "RU" else "EU"]
            manager = self.cm.id if s.get("key") else cms[s["index"] % len(cms)]
            field_policy = ptype == "operational" and model in ("franchise", "full_cycle", "reseller")
            sla = self.sla_policies[1 if field_policy else 0].id
            descr = {
                "full_cycle": f"Sells, implements and supports the vendor's products in {city}.",
                "distributor": "Licence distribution and logistics through a network of resellers.",
                "reseller": f"Reseller in {city}, buys through its distributor.",
                "franchise": f"Franchise partner with a uniform service standard in {city}.",
            }[model]
            exclusive = s.get("exclusive")
            rows.append(
                (
                    pid,
                    name,
                    legal,
                    country,
                    tax_id,
                    f"https://www.{domain}",
                    email_domain,
                    descr,
                    model,
                    ptype,
                    status,
                    rng.choice(data.STATUS_REASONS[status]),
                    changed,
                    self.tiers[tier].id if tier else None,
                    self.regions[region].id,
                    self.regions[exclusive].id if exclusive else None,
                    manager,
                    base_id + s["parent"] if s["parent"] is not None else None,
                    sla,
                    self.tier_capacity.get(tier, 5),
                    joined if status not in ("applied", "under_review", "rejected") else None,
                    changed,
                    changed,
                )
            )
            served = {region}
            same_country = [r for r in data.REGION_WEIGHTS if self.region_meta[r][2] == country and r != region]
            if model in ("distributor", "full_cycle") and same_country:
                served.update(rng.sample(same_country, min(len(same_country), rng.randint(0, 3))))
            regions_m2m += [(pid, self.regions[r].id) for r in sorted(served)]
            if ptype == "specialist":
                comps = {rng.choice(["infosec", "data", "erp", "cloud"])}
            elif model in ("distributor", "reseller"):
                comps = {"licensing", rng.choice(comp_codes)}
            elif model == "franchise":
                comps = {"field-service", "itsm"}
            else:
                comps = set(rng.sample(comp_codes, rng.randint(2, 4))) | {"itsm"}
            comps_m2m += [(pid, self.competencies[c].id) for c in sorted(comps)]
            inds_m2m += [(pid, self.industries[i].id) for i in sorted(rng.sample(ind_codes, rng.randint(1, 3)))]
            info = PartnerInfo(
                id=pid,
                country=country,
                region=region,
                model=model,
                ptype=ptype,
                status=status,
                tier=tier,
                domain=email_domain,
                speed=rng.choice([0.4, 0.7, 1.0, 1.0, 1.3, 1.8, 2.6]),
            )
            info.comps = sorted(comps)
            info.served = sorted(served)
            info.legal, info.joined, info.changed, info.manager, info.sla = legal, joined, changed, manager, sla
            self.partner_info.append(info)
            if s.get("key"):
                self.demo_partner_ids[s["key"]] = pid
        fields = [
            "id",
            "name",
            "legal_name",
            "country",
            "tax_id",
            "website",
            "email_domain",
            "description",
            "program_model",
            "partner_type",
            "status",
            "status_reason",
            "status_changed_at",
            "tier_id",
            "home_region_id",
            "exclusive_region_id",
            "account_manager_id",
            "parent_id",
            "sla_policy_id",
            "lead_capacity",
            "joined_at",
            "created_at",
            "updated_at",
        ]
        # Parents must exist before their resellers reference them: insert distributors first.
        order = sorted(rows, key=lambda r: r[17] is not None)
        self._add("partners", insert_rows(Partner, fields, order))
        insert_rows(Partner.regions.through, ["partner_id", "region_id"], regions_m2m)
        insert_rows(Partner.competencies.through, ["partner_id", "competency_id"], comps_m2m)
        insert_rows(Partner.industries.through, ["partner_id", "industry_id"], inds_m2m)
        self.agreements()

    def agreements(self):
        rng = self.rng("agreements")
        base = next_id(Agreement)
        rows, territory = [], []
        status_map = {
            "agreement_signed": "signed",
            "onboarding": "signed",
            "active": "signed",
            "suspended": "signed",
            "terminated": "terminated",
            "under_review": "draft",
        }
        for i, p in enumerate(self.partner_info):
            status = status_map.get(p.status)
            if not status:
                continue
            aid = base + len(rows)
            starts = max(p.joined or self.today, self.today - dt.timedelta(days=700))
            tier = self.tiers[p.tier] if p.tier else self.tiers["registered"]
            signed = status in ("signed", "terminated")
            # The demo distributor is paid in euros (its statements show both currencies) and waits 14 days after
            # a win before commission is payable; everyone else: the reporting currency and the program default.
            is_dist = p.id == self.demo_partner_ids.get("dist")
            rows.append(
                (
                    aid,
                    p.id,
                    f"PA-{starts.year}-{i + 1:05d}",
                    p.model,
                    p.sla,
                    f"{tier.name}: {tier.commission_rate * 100:.0f}% of won deal value, paid quarterly; "
                    f"{tier.protection_days} days of protection for approved registrations.",
                    Decimal("0.10") if p.model == "distributor" else None,
                    "EUR" if is_dist else "",
                    14 if is_dist else None,
                    "The SLA policy's penalty for each breach is deducted from the next commission payment. "
                    "Downtime compensation per the customer's contract.",
                    starts,
                    starts + dt.timedelta(days=730),
                    status,
                    (p.joined and int(dt.datetime.combine(starts, dt.time(10), dt.UTC).timestamp()))
                    if signed
                    else None,
                    f"Генеральный директор {p.legal}" if signed else "",
                    p.manager if signed else None,
                    self.now - rng.randint(1, 30) * DAY,
                    self.now - rng.randint(0, 1) * DAY,
                )
            )
            territory += [(aid, self.regions[r].id) for r in p.served]
        fields = [
            "id",
            "partner_id",
            "number",
            "program_model",
            "sla_policy_id",
            "commission_plan",
            "commission_rate_override",
            "payout_currency",
            "payout_hold_days",
            "penalty_terms",
            "starts_on",
            "ends_on",
            "status",
            "signed_at",
            "signed_by_partner",
            "signed_by_vendor_id",
            "created_at",
            "updated_at",
        ]
        self._add("agreements", insert_rows(Agreement, fields, rows))
        insert_rows(Agreement.territory.through, ["agreement_id", "region_id"], territory)

    # ------------------------------------------------------------------ partner staff
    def _person(self, rng, country: str) -> tuple[str, str]:
        if country != "RU":
            return rng.choice(data.EU_PEOPLE)
        return rng.choice(data.RU_FEMALE if rng.random() < 0.4 else data.RU_MALE)

    def partner_staff(self):
        rng = self.rng("staff")
        base = next_id(User)
        users, contacts = [], []
        demo_emails = {(key, role): email for email, role, key, _x in DEMO_LOGINS if key}
        translit: dict[str, str] = {}
        for p in self.partner_info:
            key = next((k for k, v in self.demo_partner_ids.items() if v == p.id), None)
            if p.status in ("applied", "under_review", "rejected"):
                plan = [Role.PARTNER_ADMIN]
            else:
                big = {"platinum": 2, "gold": 1}.get(p.tier, 0)
                plan = (
                    [Role.PARTNER_ADMIN]
                    + [Role.PARTNER_SALES] * (rng.randint(1, 2) + big)
                    + [Role.PARTNER_ENGINEER] * (rng.randint(1, 2) + big)
                )
            used_local: set[str] = set()
            for role in plan:
                first, last = self._person(rng, p.country)
                uid = base + len(users)
                email = demo_emails.pop((key, role), None) if key else None
                if email is None:
                    local = translit.get(first + last)
                    if local is None:
                        local = translit[first + last] = f"{slug(first)}.{slug(last)}"
                    candidate, n = local, 1
                    while candidate in used_local:
                        n += 1
                        candidate = f"{local}{n}"
                    used_local.add(candidate)
                    email = f"{candidate}@{p.domain}"
                title = {
                    Role.PARTNER_ADMIN: "Генеральный директор" if p.country == "RU" else "Managing director",
                    Role.PARTNER_SALES: "Менеджер по продажам" if p.country == "RU" else "Account manager",
                    Role.PARTNER_ENGINEER: "Инженер внедрения" if p.country == "RU" else "Implementation engineer",
                }[role]
                phone = f"+7 9{rng.randint(10, 99)} {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"
                users.append(
                    (
                        uid,
                        self.password,
                        first,
                        last,
                        email,
                        role.value,
                        p.id,
                        phone if p.country == "RU" else f"+31 6 {rng.randint(10000000, 99999999)}",
                        title,
                        p.status != "terminated",
                        int(dt.datetime.combine(p.joined or self.today, dt.time(9), dt.UTC).timestamp()),
                    )
                )
                if role == Role.PARTNER_ADMIN:
                    p.admin = uid
                elif role == Role.PARTNER_SALES:
                    p.sales.append(uid)
                else:
                    p.engineers.append(uid)
                p.names[uid] = (f"{first} {last}", email, users[-1][7])
            for contact_role, uid in [
                ("executive", p.admin),
                ("sales", p.sales[0] if p.sales else None),
                ("technical", p.engineers[0] if p.engineers else None),
                ("support", p.engineers[-1] if p.engineers else None),
            ]:
                if uid is not None:
                    name, email, phone = p.names[uid]
                    contacts.append((p.id, contact_role, uid, name, email, phone, self.now, self.now))
        fields = [
            "id",
            "password",
            "first_name",
            "last_name",
            "email",
            "role",
            "partner_id",
            "phone",
            "job_title",
            "is_active",
            "date_joined",
        ]
        self._add("users", insert_rows(User, fields, users))
        self._add(
            "partner contacts",
            insert_rows(
                PartnerContact,
                ["partner_id", "role", "user_id", "name", "email", "phone", "created_at", "updated_at"],
                contacts,
            ),
        )

    # ------------------------------------------------------------------ training
    def training(self):
        rng = self.rng("training")
        cert_base = next_id(Certification)
        enr_base = next_id(Enrollment)
        certs, enrollments, attempts, done_lessons = [], [], [], []
        # One live certificate per person, type and course version (a database constraint).
        cert_held: set[tuple[int, int]] = set()
        demo_fc = self.demo_partner_ids["fc"]
        for p in self.partner_info:
            if p.status in ("applied", "under_review", "rejected"):
                continue
            for uid in p.engineers + p.sales:
                engineer = uid in p.engineers
                kinds = "engineer" if engineer else "sales"
                comps = [c for c in p.comps if any(ct.code.endswith(kinds) for ct in self.cert_types[c])]
                forced = []
                if p.id == demo_fc and uid == p.engineers[0]:
                    # The demo engineer shows every certificate state: valid, expiring within 30 days, expired.
                    forced = [("itsm", 700), ("cloud", 10), ("infosec", -20)]
                elif comps and p.status in ("active", "suspended", "terminated"):
                    for c in rng.sample(comps, min(len(comps), rng.randint(1, 2))):
                        forced.append((c, None))
                # The demo's expiring/expired certificates first, so the one-per-type rule keeps them.
                forced.sort(key=lambda f: f[1] is None)
                for comp, expires_in in forced:
                    ct = next(ct for ct in self.cert_types[comp] if ct.code.endswith(kinds) or expires_in is not None)
                    if (uid, ct.id) in cert_held:
                        continue
                    cert_held.add((uid, ct.id))
                    months = ct.validity_months
                    if expires_in is None:
                        issued = self.today - dt.timedelta(days=rng.randint(10, int(months * 30.4) + 180))
                    else:
                        issued = self.today + dt.timedelta(days=expires_in) - dt.timedelta(days=int(months * 30.4))
                    expires = issued + dt.timedelta(days=int(months * 30.4))
                    cid = cert_base + len(certs)
                    code = certificate_code()
                    certs.append((cid, ct.id, uid, p.id, code, issued, expires, "1.0", self.now, self.now))
                # Enrollments: the mandatory onboarding for the role, plus a course or two.
                role = "partner_engineer" if engineer else "partner_sales"
                courses = [(c, v) for c, v, aud in self.course_ids["mandatory"] if aud in ("", role)]
                extra = self.course_ids["engineer" if engineer else "sales"]
                courses += [(c, v) for c, v, _g in rng.sample(extra, min(len(extra), rng.randint(0, 2)))]
                for course_id, version in courses:
                    eid = enr_base + len(enrollments)
                    if p.status == "onboarding":
                        status = rng.choice(["enrolled", "in_progress", "passed"])
                    elif p.id == demo_fc and len(enrollments) % 4 == 0:
                        status = ["enrolled", "in_progress", "passed", "failed"][len(enrollments) // 4 % 4]
                    else:
                        status = rng.choices(["passed", "in_progress", "enrolled", "failed"], [55, 20, 15, 10])[0]
                    started = self.now - rng.randint(5, 400) * DAY
                    completed = started + rng.randint(1, 4) * DAY if status in ("passed", "failed") else None
                    if completed and completed > self.now:
                        completed = self.now - HOUR
                    enrollments.append((eid, uid, p.id, course_id, status, completed, version, started, started))
                    lessons = self.course_lessons[course_id]
                    n_done = {"enrolled": 0, "in_progress": max(1, len(lessons) // 2)}.get(status, len(lessons))
                    done_lessons += [(eid, lesson) for lesson in lessons[:n_done]]
                    tries = {"passed": rng.randint(1, 2), "failed": 3}.get(status, 0)
                    for t in range(tries):
                        passed = status == "passed" and t == tries - 1
                        score = rng.randint(80, 100) if passed else rng.randint(30, 69)
                        attempts.append((eid, completed - (tries - 1 - t) * HOUR * 2, score, passed, {}))
        self._add(
            "certifications",
            insert_rows(
                Certification,
                [
                    "id",
                    "type_id",
                    "user_id",
                    "partner_id",
                    "code",
                    "issued_on",
                    "expires_on",
                    "course_version",
                    "created_at",
                    "updated_at",
                ],
                certs,
            ),
        )
        self._add(
            "enrollments",
            insert_rows(
                Enrollment,
                [
                    "id",
                    "user_id",
                    "partner_id",
                    "course_id",
                    "status",
                    "completed_at",
                    "course_version",
                    "created_at",
                    "updated_at",
                ],
                enrollments,
            ),
        )
        insert_rows(Enrollment.completed_lessons.through, ["enrollment_id", "lesson_id"], done_lessons)
        self._add(
            "quiz attempts",
            insert_rows(QuizAttempt, ["enrollment_id", "submitted_at", "score", "passed", "answers"], attempts),
        )

    # ------------------------------------------------------------------ customers
    def customers(self):
        rng = self.rng("customers")
        n = max(50, min(self.n_leads // 6, 50_000 + self.n_leads // 20))  # customers return with new deals
        base = next_id(Customer)
        region_picker = Picker(list(data.REGION_WEIGHTS), list(data.REGION_WEIGHTS.values()))
        ind_codes = list(self.industries)
        used: set[str] = set()
        rows = []
        self.cust = []  # (id, region code, country, tax key, domain, normalized, reserved, name)
        for i in range(n):
            cid = base + i
            region = region_picker.pick(rng)
            country = self.region_meta[region][2]
            industry = rng.choice(ind_codes)
            for attempt in itertools.count():
                if country == "RU":
                    root = rng.choice(data.CUSTOMER_ROOTS)
                    if attempt >= 2:
                        root = f"{root}-{rng.choice(self.region_meta[region][5])}"
                    if attempt >= 4:
                        root = f"{root} {attempt * 7 + rng.randint(1, 9)}"
                    name = rng.choice(data.CUSTOMER_FORMS[industry]).format(root)
                else:
                    root = rng.choice(data.EU_CUSTOMER_ROOTS) + rng.choice(["", "stad", "burg", "veld", "dorf"])
                    if attempt >= 2:
                        root = f"{root} {rng.choice(self.region_meta[region][5])}"
                    if attempt >= 4:
                        root = f"{root} {attempt * 7 + rng.randint(1, 9)}"
                    nl_form, de_form = data.EU_CUSTOMER_FORMS[industry]
                    name = (de_form if country == "DE" else nl_form).format(root)
                    if country == "PL":
                        name = name.replace("B.V.", "Sp. z o.o.").replace("N.V.", "S.A.")
                normalized = customer_name_key(name)
                if normalized not in used:
                    used.add(normalized)
                    break
            scrambled = 2_000_000 + i * 104729 % 8_000_000
            tax_id = inn(self.region_meta[region][4], scrambled) if country == "RU" else vat(country, scrambled)
            domain = f"{normalized.replace(' ', '-')}.{data.EU_TLD[country]}"
            domain = slug(domain.rsplit(".", 1)[0]) + "." + data.EU_TLD[country]
            size = rng.choices(["small", "medium", "large", "enterprise"], [35, 35, 20, 10])[0]
            reserved = size == "enterprise" and rng.random() < 0.3
            rows.append(
                (
                    cid,
                    name,
                    normalized,
                    country,
                    tax_id,
                    domain,
                    self.regions[region].id,
                    self.industries[industry].id,
                    size,
                    reserved,
                    "Named account: federal key customer served by the vendor's direct sales" if reserved else "",
                    self.now - rng.randint(30, 700) * DAY,
                    self.now - rng.randint(0, 29) * DAY,
                )
            )
            self.cust.append((cid, region, country, re.sub(r"\D", "", tax_id), domain, normalized, reserved, name))
        self._add(
            "customers",
            insert_rows(
                Customer,
                [
                    "id",
                    "name",
                    "normalized_name",
                    "country",
                    "tax_id",
                    "domain",
                    "region_id",
                    "industry_id",
                    "size",
                    "reserved_for_direct",
                    "reserved_reason",
                    "created_at",
                    "updated_at",
                ],
                rows,
                progress=None,
            ),
        )

    # ------------------------------------------------------------------ leads and everything hanging off them
    def leads(self):
        from .leadgen import LeadGenerator

        # Python generates every detail; beyond DETAILED_LEADS PostgreSQL generates the bulk itself.
        detailed = self.n_leads
        if connection.vendor == "postgresql":
            detailed = min(self.n_leads, DETAILED_LEADS)
        bar = self._bar(self.n_leads, "leads")
        LeadGenerator(self, count=detailed, progress=bar).run()
        if self.n_leads > detailed:
            from leads.services.routing import open_load_counting_paused

            from .bulk_pg import bulk_leads

            with open_load_counting_paused():  # parallel chunks: no per-row counter updates (lock order)
                bulk_leads(self, count=self.n_leads - detailed, progress=bar)
        bar.close()

    # ------------------------------------------------------------------ tier history, audit, notifications
    def history(self):
        rng = self.rng("history")
        tier_rows, audit_rows = [], []
        ct_partner = ContentType.objects.get_for_model(Partner).id
        for p in self.partner_info:
            if p.tier:
                ranks = [t for t in self.tiers if self.tiers[t].rank <= self.tiers[p.tier].rank]
                eff = p.joined
                prev = None
                for t in ranks[-2:] if len(ranks) > 1 else ranks:
                    kind = "initial" if prev is None else "promotion"
                    tier_rows.append(
                        (
                            p.id,
                            kind,
                            self.tiers[prev].id if prev else None,
                            self.tiers[t].id,
                            eff,
                            [],
                            "Initial tier on signing" if kind == "initial" else "All requirements met",
                            None if kind == "promotion" else p.manager,
                            self.now,
                        )
                    )
                    prev = t
                    eff = eff + (self.today - eff) / 2
            audit_rows.append(
                (p.changed, p.manager, f"partner.{p.status}", ct_partner, str(p.id), p.id, "", {"status": p.status})
            )
        self._add(
            "tier changes",
            insert_rows(
                TierChange,
                [
                    "partner_id",
                    "kind",
                    "from_tier_id",
                    "to_tier_id",
                    "effective_on",
                    "evaluation",
                    "reason",
                    "actor_id",
                    "created_at",
                ],
                tier_rows,
            ),
        )
        reasons = {p.id: "" for p in self.partner_info}
        for p in self.partner_info:
            reasons[p.id] = rng.choice(data.STATUS_REASONS[p.status])
        self._add(
            "audit events",
            insert_rows(
                AuditEvent,
                ["at", "actor_id", "action", "content_type_id", "object_id", "partner_id", "reason", "data"],
                [r[:6] + (reasons[r[5]],) + r[7:] for r in audit_rows],
            ),
        )
        fc = self.demo_partner_ids["fc"]
        fc_users = list(User.objects.filter(partner_id=fc).values_list("id", "role"))
        notes = []
        for uid, role in fc_users:
            notes.append((uid, "lead_offered", "A new lead is offered to your company", "/deals/", None))
            if role == Role.PARTNER_ENGINEER:
                notes.append(
                    (uid, "certification_expiring", "Your ITSM certification expires in 10 days", "/training/", None)
                )
            if role == Role.PARTNER_ADMIN:
                notes.append((uid, "tier_changed", "Your company was promoted to Gold", "/kpi/scorecard/", self.now))
        notes.append((self.cm.id, "review_queue", "Deal registrations wait for your review", "/deals/", None))
        notes.append((self.vendor_admin.id, "system", "Demo data loaded", "/", self.now))
        self._add(
            "notifications",
            insert_rows(
                Notification,
                ["user_id", "kind", "title", "url", "read_at", "created_at"],
                [n + (self.now - i * HOUR,) for i, n in enumerate(notes)],
            ),
        )


def demo_seed(*, partners: int, leads: int, activities: int = 3, seed: int = 20240601, progress: bool = True):
    """Build the demo network on an empty database; returns (row counts per table, the seeder with timings)."""
    if connection.vendor == "sqlite":
        progress = progress and leads > 20000
    seeder = DemoSeeder(partners=partners, leads=leads, activities=activities, seed=seed, progress=progress)
    return seeder.run(), seeder
