"""`manage.py seed_demo`: coverage of every role, stage and status, valid data, determinism, scaling."""

import hashlib
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone
from stdnum.ru.inn import is_valid as inn_is_valid

from demo.bulk_pg import BULK_TABLES
from demo.ids import inn, vat
from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from leads.models import Activity, Customer, Lead, Offer, ProtectionWindow, Registration, Stage
from partners.models import Partner, PartnerStatus, PartnerType, ProgramModel
from prm.models import Change, User
from training.models import Certification, EnrollmentStatus

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def seed(*args, **options):
    call_command("seed_demo", *args, verbosity=0, **options)


def digest() -> str:
    rows = [
        *Partner.objects.order_by("name", "tax_id").values_list("name", "tax_id", "status", "program_model"),
        *Customer.objects.order_by("name").values_list("name", "tax_id", "domain"),
        *Lead.objects.order_by("id").values_list("title", "stage", "partner__name", "value"),
    ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.fixture
def small_seed(db):
    seed("--small")


def test_inn_and_vat_check_digits():
    assert inn_is_valid("7707083893")  # Sberbank's real INN
    assert not inn_is_valid("7707083894")
    assert inn_is_valid(inn("77", 1234567))
    assert vat("BE", 1234567) == f"BE01234567{97 - 1234567 % 97:02d}"
    assert re.fullmatch(r"NL\d{9}B01", vat("NL", 42))


def test_small_seed_covers_every_role_stage_status_and_model(small_seed):
    for email, role, partner_key, extra in DEMO_LOGINS:
        user = User.objects.get(email=email)
        assert user.role == role
        assert user.check_password(DEMO_PASSWORD)
        assert (user.partner_id is not None) == (partner_key is not None)
        for field, value in extra.items():
            assert getattr(user, field) == value
    assert User.objects.get(email="admin@partner.demo.prm").partner.program_model == ProgramModel.FULL_CYCLE
    assert User.objects.get(email="admin@distributor.demo.prm").partner.program_model == ProgramModel.DISTRIBUTOR

    assert set(Lead.objects.values_list("stage", flat=True)) == set(Stage.values)
    assert set(Partner.objects.values_list("status", flat=True)) == set(PartnerStatus.values)
    assert set(Partner.objects.values_list("program_model", flat=True)) == set(ProgramModel.values)
    assert set(Partner.objects.values_list("partner_type", flat=True)) == set(PartnerType.values)
    assert set(Registration.objects.values_list("status", flat=True)) >= {"pending_review", "approved", "rejected"}
    assert set(Offer.objects.values_list("status", flat=True)) >= {"pending", "accepted", "declined", "expired"}
    assert set(User.objects.get(email="engineer@partner.demo.prm").enrollments.values_list("status", flat=True))
    assert {e for e in EnrollmentStatus.values} == set(
        User.objects.filter(partner__isnull=False)
        .values_list("enrollments__status", flat=True)
        .exclude(enrollments__status=None)
    )

    # Terminated, suspended and rejected partners say why.
    assert not Partner.objects.filter(status__in=["suspended", "terminated", "rejected"], status_reason="").exists()
    # Resellers hang under distributors; franchises hold exclusive regions.
    assert not Partner.objects.filter(program_model="reseller", parent__isnull=True).exists()
    assert Partner.objects.filter(program_model="franchise", exclusive_region__isnull=False).exists()


def test_small_seed_data_is_valid_and_consistent(small_seed):
    for tax_id in Partner.objects.filter(country="RU").values_list("tax_id", flat=True):
        assert inn_is_valid(tax_id), tax_id
    for tax_id in Customer.objects.filter(country="RU").values_list("tax_id", flat=True):
        assert inn_is_valid(tax_id), tax_id
    assert Partner.objects.values("country", "tax_id").annotate(n=Count("id")).filter(n__gt=1).count() == 0

    now = timezone.now()
    leads = Lead.objects.all()
    assert not leads.filter(offered_at__lt=F("created_at")).exists()
    assert not leads.filter(accepted_at__lte=F("offered_at")).exists()
    assert not leads.filter(first_contact_at__lte=F("accepted_at")).exists()
    assert not leads.filter(last_activity_at__lt=F("first_contact_at")).exists()
    assert not leads.filter(closed_at__lt=F("last_activity_at")).exists()
    assert not leads.filter(Q(closed_at__gt=now) | Q(created_at__gt=now) | Q(last_activity_at__gt=now)).exists()
    assert not leads.filter(stage="won").exclude(won_at=F("closed_at")).exists()
    assert not leads.filter(stage__in=["won", "lost", "rejected"], closed_at=None).exists()
    assert not leads.filter(stage="lost", lost_reason="").exists()
    # A rejected registration closes its deal, and only a rejection does.
    assert not Registration.objects.filter(status="rejected").exclude(lead__stage="rejected").exists()
    assert not leads.filter(stage="rejected").exclude(registration__status="rejected").exists()
    assert not Offer.objects.filter(status="pending", deadline__lte=now).exists()
    assert not Activity.objects.filter(occurred_at__gt=F("lead__last_activity_at")).exists()

    windows = ProtectionWindow.objects.filter(active=True)
    assert windows.exists()
    for kind, key in windows.values_list("key_kind", "key"):
        if kind == "tax_id":
            assert key.isdigit()
        else:
            assert key == key.lower() and key.strip() == key
    assert not windows.exclude(registration__status="approved").exists()
    assert not windows.filter(ends_at__lte=now).exists()
    assert not Registration.objects.filter(status="rejected", decision_reason="").exists()

    today = timezone.localdate()
    certs = Certification.objects.filter(partner__staff__email="engineer@partner.demo.prm").distinct()
    assert certs.filter(expires_on__lt=today).exists()
    assert certs.filter(expires_on__gte=today, expires_on__lte=today + timezone.timedelta(days=30)).exists()


def test_refuses_a_non_empty_database_and_reset_reseeds_identically(transactional_db):
    # Transactional: --reset flushes with TRUNCATE, which PostgreSQL refuses inside the test's open transaction.
    seed("--small")
    first = digest()
    with pytest.raises(CommandError):
        seed("--small")
    seed("--small", "--reset")
    assert digest() == first
    assert Partner.objects.count() == 15


def test_scaled_run_creates_exactly_n_partners_and_m_leads(transactional_db, monkeypatch, settings):
    # On PostgreSQL the leads beyond DETAILED_LEADS come from the server-side bulk generator, which drops and
    # rebuilds indexes around big loads (hence transactional): exercise all of it at a small size.
    monkeypatch.setattr("demo.seed.DETAILED_LEADS", 60)
    monkeypatch.setattr("demo.bulk_pg.INDEX_REBUILD_MIN", 0)
    monkeypatch.setattr("demo.bulk_pg.CHUNK", 40)  # several chunks, generated on two connections at once
    settings.PRM_DB_JOBS = 2
    # The seed's "now" is the current minute: pin it, so both runs below see the same clock.
    clock = time.time()
    monkeypatch.setattr("demo.seed.time", SimpleNamespace(time=lambda: clock, monotonic=time.monotonic))
    foreign_keys = _bulk_foreign_keys()
    seed(partners=23, leads=250, activities=2)
    # The foreign keys dropped for the load are all back, and validated.
    assert _bulk_foreign_keys() == foreign_keys
    assert all(valid for _table, _name, valid in foreign_keys)
    assert Partner.objects.count() == 23
    assert Lead.objects.exclude(source="dispatch").count() == 250  # plus the on-site work order of the story
    assert Activity.objects.exists()
    now = timezone.now()
    assert not Lead.objects.filter(accepted_at__lte=F("offered_at")).exists()
    assert not Lead.objects.filter(closed_at__gt=now).exists()
    assert not Lead.objects.filter(stage__in=["won", "lost"], closed_at=None).exists()
    assert not Offer.objects.filter(status="pending", deadline__lte=now).exists()
    assert Offer.objects.filter(status="pending").count() == Lead.objects.filter(stage="offered").count()
    # The change feed is numbered by the seed, not left to its first readers 50,000 rows at a time.
    assert Change.objects.exists() and not Change.objects.filter(position__isnull=True).exists()
    # Whichever connection ran which chunk, a re-run gives the same rows, offers and activities included.
    first = digest(), _bulk_digest()
    seed(partners=23, leads=250, activities=2, reset=True)
    assert (digest(), _bulk_digest()) == first


def _bulk_foreign_keys() -> list:
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cur:
        cur.execute(
            """SELECT t.relname, c.conname, c.convalidated FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
               WHERE c.contype = 'f' AND t.relname = ANY(%s) ORDER BY 1, 2""",
            [BULK_TABLES],
        )
        return cur.fetchall()


def _bulk_digest() -> str:
    rows = [
        *sorted(Offer.objects.values_list("lead__title", "partner__name", "status", "responded_by__email"), key=repr),
        *sorted(Activity.objects.values_list("lead__title", "kind", "user__email", "subject"), key=repr),
    ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_every_nav_page_renders_for_every_demo_role(small_seed, client):
    """Follows every link the navigation shows each demo user (the rendered page, so role conditions apply)."""
    for email, _role, _partner_key, _extra in DEMO_LOGINS:
        user = User.objects.get(email=email)
        client.force_login(user)
        home = client.get(reverse("home")).content.decode()
        nav = home[home.index("<nav") : home.index("</nav>")]
        links = sorted(set(re.findall(r'href="(/[^"#]*)"', nav)))
        assert len(links) > 5, (email, links)
        for link in links:
            response = client.get(link, follow=True)  # "our company" redirects to its page
            assert response.status_code == 200, (email, link, response.status_code)
        client.logout()


def test_small_seed_money_history_currencies_and_every_fund_state(small_seed):
    """Three closed and paid months for every active partner; a partner paid in euros; MDF budgets, requests and
    claims in every state."""
    from kpi.funds.models import Budget, ClaimStatus, FundClaim, FundRequest, FundRequestStatus
    from kpi.models import Statement, StatementStatus
    from partners.models import AgreementStatus

    active = Partner.objects.filter(status=PartnerStatus.ACTIVE)
    paid = dict(
        Statement.objects.filter(status=StatementStatus.PAID)
        .values("partner_id")
        .annotate(n=Count("id"))
        .values_list("partner_id", "n")
    )
    assert active.exists() and all(paid.get(p.pk, 0) >= 3 for p in active)
    assert not Statement.objects.filter(status=StatementStatus.PAID, payment_reference="").exists()
    assert Statement.objects.filter(status=StatementStatus.CLOSED).exists()  # last month waits for approval

    distributor = User.objects.get(email="admin@distributor.demo.prm").partner
    agreement = distributor.agreements.get(status=AgreementStatus.SIGNED)
    assert (agreement.payout_currency, agreement.payout_hold_days) == ("EUR", 14)
    theirs = Statement.objects.filter(partner=distributor, status=StatementStatus.PAID)
    assert theirs.filter(payout_currency="EUR", payout_total__isnull=False).exists()
    assert set(Statement.objects.filter(partner=distributor).values_list("hold_days", flat=True)) == {14}
    assert distributor.commission_entries.filter(payout_currency="EUR").exists()

    assert Budget.objects.filter(expired_at__isnull=False).exists()
    assert Budget.objects.filter(expired_at__isnull=True).exists()
    assert set(FundRequest.objects.values_list("status", flat=True)) == set(FundRequestStatus.values)
    assert set(FundClaim.objects.values_list("status", flat=True)) == set(ClaimStatus.values)
