import datetime
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection, connections

from kpi.models import CommissionEntry, KpiSnapshot, NightlyRun, RunStatus, TierChange
from kpi.services import nightly
from kpi.services.nightly import ADVISORY_LOCK_KEY, nightly_run
from leads.models import Offer, OfferStatus, Stage
from tests.kpi.conftest import at
from tests.leads.factories import LeadFactory
from tests.partners.factories import SlaPolicyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def network(partner, other_partner, tiers, day):
    """Alpha deserves Silver (good SLA), Beta sits at Silver but fails it; both have won deals and breaches."""
    policy = SlaPolicyFactory(name="Paid", penalty_per_breach=Decimal("1000"))
    for p, accepted_late in ((partner, False), (other_partner, True)):
        p.tier = tiers["registered"] if p == partner else tiers["silver"]
        p.sla_policy = policy
        p.save()
        offered = at(day, 9)
        Offer.objects.create(
            lead=LeadFactory(partner=p, stage=Stage.OFFERED),
            partner=p,
            status=OfferStatus.ACCEPTED,
            offered_at=offered,
            deadline=offered + datetime.timedelta(hours=4),
            responded_at=offered + datetime.timedelta(hours=6 if accepted_late else 1),
        )
        LeadFactory(partner=p, stage=Stage.WON, won_at=at(day), value=Decimal("100000"))
    return {"alpha": partner, "beta": other_partner}


def state():
    return (
        sorted(KpiSnapshot.objects.values_list("partner_id", "date", "accepted_in_sla_pct", "score")),
        sorted(TierChange.objects.values_list("partner_id", "kind", "to_tier_id")),
        sorted(CommissionEntry.objects.values_list("source_key", "amount")),
    )


def test_full_run_records_counts_and_is_idempotent(network, tiers, day):
    run = nightly_run(on=day)
    assert run.status == RunStatus.SUCCEEDED
    assert run.counts["kpi"]["snapshots"] == 2
    assert run.counts["ledger"]["accruals"] == 2
    assert run.counts["ledger"]["penalties"] == 1
    assert run.counts["tiers"]["changes"] == 2
    network["alpha"].refresh_from_db()
    assert network["alpha"].tier == tiers["silver"]
    # Commission was accrued at the tier held on the won day (before the promotion that night).
    assert CommissionEntry.objects.get(partner=network["alpha"], kind="accrual").amount == Decimal("5000.00")
    before = state()
    assert nightly_run(on=day) is None  # already done
    NightlyRun.objects.filter(date=day).update(status=RunStatus.FAILED)  # forced re-run changes nothing either
    assert nightly_run(on=day).attempts == 2
    assert state() == before


def test_crash_in_tier_phase_leaves_no_half_applied_changes_and_next_run_resumes(network, tiers, day):
    from kpi.services import tiers as tier_services

    with (
        mock.patch.object(tier_services, "_audit_notify_emit", side_effect=RuntimeError("worker killed")),
        pytest.raises(RuntimeError),
    ):
        nightly_run(on=day)
    run = NightlyRun.objects.get(date=day)
    assert run.status == RunStatus.FAILED
    assert "worker killed" in run.errors
    assert set(run.counts) == {"kpi", "ledger"}
    assert not TierChange.objects.exists()
    network["alpha"].refresh_from_db()
    assert network["alpha"].tier == tiers["registered"]
    assert CommissionEntry.objects.count() == 3  # earlier phases committed

    run = nightly_run(on=day)
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert TierChange.objects.count() == 2
    assert CommissionEntry.objects.count() == 3


def test_a_running_row_is_resumed_only_when_its_worker_is_gone(network, day, settings):
    NightlyRun.objects.create(date=day, started_at=datetime.datetime.now(datetime.UTC))
    if connection.vendor == "postgresql":
        # Holding the advisory lock proves the worker that wrote "running" is gone.
        assert nightly_run(on=day).attempts == 2
        return
    assert nightly_run(on=day) is None  # without advisory locks: maybe still alive
    settings.PRM_NIGHTLY_STALE_MINUTES = 0  # now presumed dead
    assert nightly_run(on=day).status == RunStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_single_flight_with_advisory_lock(postgres_only, network, day):
    other = connections.create_connection("default")
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        assert nightly_run(on=day) is None
        assert not NightlyRun.objects.exists()
        assert not KpiSnapshot.objects.exists()
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        # A row left "running" by a killed worker is resumed by the next holder of the lock.
        NightlyRun.objects.create(date=day, started_at=datetime.datetime.now(datetime.UTC))
        run = nightly_run(on=day)
        assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    finally:
        other.close()
        connection.close()


def test_management_command_and_task(network, day):
    out = StringIO()
    call_command("run_nightly", "--date", day.isoformat(), stdout=out)
    assert "succeeded" in out.getvalue()
    call_command("run_nightly", "--date", day.isoformat(), stdout=out)
    assert "Nothing to do" in out.getvalue()
    from kpi.tasks import nightly_run as task

    with mock.patch.object(nightly, "nightly_default_date", return_value=day + datetime.timedelta(days=1)):
        result = task.delay().get()
    assert result["date"] == (day + datetime.timedelta(days=1)).isoformat()
    assert result["status"] == "succeeded"
