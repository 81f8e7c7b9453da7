import csv
import datetime
import io
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse

from kpi.models import CommissionEntry, CommissionRate, DistributorOverride, EntryKind, EntryStatus, Statement
from kpi.payouts.services import (
    commission_adjust,
    statement_approve,
    statement_close,
    statement_pay,
    statements_close_due,
)
from kpi.services.ledger import commission_accrue, ledger_entries_place
from leads.models import Stage
from leads.services.deals import deal_stage_change
from partners.models import PartnerStatus, ProgramModel
from prm.models import AuditEvent
from tests.kpi.conftest import at
from tests.kpi.factories import ExchangeRateFactory
from tests.leads.factories import LeadFactory
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db

OCT = datetime.date(2026, 10, 1)
NOV = datetime.date(2026, 11, 1)


def entry(partner, day, amount, kind=EntryKind.ACCRUAL, **kw):
    """An entry booked through the ledger's one door (which gives it the month whose statement pays it)."""
    key = f"test:{CommissionEntry.objects.count()}:{kind}"
    booked = CommissionEntry(
        partner=partner,
        kind=kind,
        entry_date=day,
        amount=Decimal(amount),
        currency=kw.pop("currency", "RUB"),
        amount_reporting=kw.pop("amount_reporting", Decimal(amount)),
        description="test",
        source_key=key,
        **kw,
    )
    ledger_entries_place(entries=[booked])
    return CommissionEntry.objects.get(source_key=key)


@pytest.fixture
def active(partner):
    partner.status = PartnerStatus.ACTIVE
    partner.save()
    return partner


def test_close_freezes_totals_and_late_entries_go_to_the_next_statement(active, channel_manager):
    entry(active, datetime.date(2026, 10, 3), "1000")
    entry(active, datetime.date(2026, 10, 20), "-200", kind=EntryKind.PENALTY)
    entry(active, datetime.date(2026, 11, 2), "500")  # next month: stays open
    assert statement_close(period=OCT) == 1
    st = Statement.objects.get(partner=active, period=OCT)
    assert (st.status, st.accruals, st.penalties, st.total, st.entries_count, st.currency) == (
        "closed",
        Decimal("1000.00"),
        Decimal("-200.00"),
        Decimal("800.00"),
        2,
        "RUB",
    )
    # Closing again changes nothing; a late accrual dated October lands in the open period, then on November.
    assert statement_close(period=OCT) == 0
    late = entry(active, datetime.date(2026, 10, 30), "300")
    assert statement_close(period=OCT) == 0
    st.refresh_from_db()
    assert st.total == Decimal("800.00")
    late.refresh_from_db()
    assert late.statement_period == NOV
    statement_close(period=NOV)
    nov = Statement.objects.get(partner=active, period=NOV)
    assert nov.total == Decimal("800.00") and nov.entries_count == 2
    assert AuditEvent.objects.filter(action="statement.period_closed").count() == 2


def test_active_partner_without_entries_gets_an_empty_statement(active, other_partner):
    other_partner.status = PartnerStatus.SUSPENDED
    other_partner.save()
    statement_close(period=OCT)
    assert list(Statement.objects.values_list("partner_id", "total")) == [(active.pk, Decimal("0.00"))]


def test_open_month_cannot_be_closed(active):
    with pytest.raises(ValidationError):
        statement_close(period=datetime.date.today())


def test_holding_period_keeps_young_accruals_for_the_next_statement(active, settings):
    settings.PRM_PAYOUT_HOLD_DAYS = 10
    entry(active, datetime.date(2026, 10, 5), "100")
    young = entry(active, datetime.date(2026, 10, 25), "200")
    entry(active, datetime.date(2026, 10, 26), "-50", kind=EntryKind.PENALTY)  # deductions are not held
    statement_close(period=OCT)
    assert Statement.objects.get(period=OCT).total == Decimal("50.00")
    young.refresh_from_db()
    assert young.statement_period == NOV


def test_monthly_job_closes_the_previous_month(active):
    entry(active, datetime.date(2026, 10, 5), "100")
    assert statements_close_due(today=datetime.date(2026, 11, 2)) == 1
    assert Statement.objects.get().period == OCT


def test_approve_and_pay_are_idempotent_and_move_entry_status(active, channel_manager, partner_admin):
    e = entry(active, datetime.date(2026, 10, 5), "100")
    statement_close(period=OCT)
    st = Statement.objects.get()
    with pytest.raises(ValidationError):
        statement_pay(statement=st, actor=channel_manager, payment_reference="PO-1")
    with pytest.raises(PermissionDenied):
        statement_approve(statement=st, actor=partner_admin)
    st = statement_approve(statement=st, actor=channel_manager)
    approved_at = st.approved_at
    assert statement_approve(statement=st, actor=channel_manager).approved_at == approved_at
    e.refresh_from_db()
    assert e.status == EntryStatus.APPROVED
    with pytest.raises(ValidationError) as exc:
        statement_pay(statement=st, actor=channel_manager, payment_reference="  ")
    assert "payment_reference" in exc.value.message_dict
    st = statement_pay(statement=st, actor=channel_manager, payment_reference="PO-1")
    st = statement_pay(statement=st, actor=channel_manager, payment_reference="PO-2")
    assert (st.status, st.payment_reference) == ("paid", "PO-1")
    e.refresh_from_db()
    assert e.status == EntryStatus.PAID
    assert AuditEvent.objects.filter(action="statement.paid").count() == 1
    assert AuditEvent.objects.filter(action="statement.approved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_closing_at_once_create_each_statement_once(postgres_only):
    partners = [PartnerFactory(status=PartnerStatus.ACTIVE) for _ in range(5)]
    for i, p in enumerate(partners):
        for d in range(1, 6):
            entry(p, datetime.date(2026, 10, d * 5), str(100 * (i + 1)))
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(statement_close(period=OCT))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [0, 0, 0, 5]
    totals = dict(Statement.objects.values_list("partner_id", "total"))
    assert totals == {p.pk: Decimal(500 * (i + 1)) for i, p in enumerate(partners)}
    assert not CommissionEntry.objects.filter(statement_period__isnull=True).exists()


# --- adjustments -------------------------------------------------------------------------------------------------


def test_adjustment_needs_a_reason_and_an_amount(active, channel_manager, partner_admin):
    with pytest.raises(ValidationError) as exc:
        commission_adjust(partner=active, amount=Decimal("0"), reason=" ", actor=channel_manager)
    assert set(exc.value.message_dict) == {"amount", "reason"}
    with pytest.raises(PermissionDenied):
        commission_adjust(partner=active, amount=Decimal("10"), reason="x", actor=partner_admin)
    with pytest.raises(ValidationError) as exc:
        commission_adjust(partner=active, amount=Decimal("10"), reason="x", actor=channel_manager, currency="XYZ")
    assert "currency" in exc.value.message_dict
    assert not CommissionEntry.objects.exists()
    e = commission_adjust(partner=active, amount=Decimal("-150"), reason="Duplicate deal", actor=channel_manager)
    again = commission_adjust(
        partner=active, amount=Decimal("-150"), reason="Duplicate deal", actor=channel_manager, key=e.source_key[11:]
    )
    assert again.pk == e.pk
    assert (e.kind, e.amount_reporting, e.description, e.statement_period) == (
        "adjustment",
        Decimal("-150.00"),
        "Duplicate deal",
        datetime.date.today().replace(day=1),  # nothing closed yet: the month it is booked in
    )
    assert AuditEvent.objects.get(action="commission.adjusted").reason == "Duplicate deal"


# --- clawback --------------------------------------------------------------------------------------------------


def test_reversing_a_won_deal_claws_back_in_the_open_period(active, tiers, channel_manager, partner_admin):
    active.tier = tiers["silver"]
    active.save()
    day = datetime.date(2026, 10, 10)
    lead = LeadFactory(partner=active, stage=Stage.WON, won_at=at(day), value=Decimal("1000"))
    commission_accrue(on=day)
    statement_close(period=OCT)
    assert Statement.objects.get(period=OCT).accruals == Decimal("100.00")
    with pytest.raises(ValidationError):  # partner staff cannot reverse a win
        deal_stage_change(lead=lead, to_stage=Stage.LOST, actor=partner_admin, lost_reason="refund")
    deal_stage_change(lead=lead, to_stage=Stage.LOST, actor=channel_manager, lost_reason="Customer refunded")
    clawback = CommissionEntry.objects.get(kind=EntryKind.CLAWBACK)
    assert (clawback.amount_reporting, clawback.statement_period, clawback.lead_id) == (
        Decimal("-100.00"),
        datetime.date.today().replace(day=1),  # the open period
        lead.pk,
    )
    # The closed October statement is untouched; the accrual stays as it was in its closed period.
    assert Statement.objects.get(period=OCT).total == Decimal("100.00")
    original = CommissionEntry.objects.get(kind=EntryKind.ACCRUAL)
    assert (original.statement_period, original.status) == (OCT, EntryStatus.PENDING)
    from kpi.payouts.services import commission_clawback

    assert commission_clawback(lead=lead, actor=channel_manager) == []


def test_clawback_of_an_open_accrual_marks_it_reversed(active, tiers, channel_manager):
    active.tier = tiers["silver"]
    active.save()
    day = datetime.date(2026, 11, 10)
    lead = LeadFactory(partner=active, stage=Stage.WON, won_at=at(day), value=Decimal("1000"))
    commission_accrue(on=day)
    deal_stage_change(lead=lead, to_stage=Stage.LOST, actor=channel_manager, lost_reason="Cancelled")
    assert CommissionEntry.objects.get(kind=EntryKind.ACCRUAL).status == EntryStatus.REVERSED
    statement_close(period=NOV)
    assert Statement.objects.get(period=NOV).total == Decimal("0.00")


# --- rate table and distributor override --------------------------------------------------------------------------


def test_rate_table_slab_kind_and_effective_date(active, tiers):
    silver = tiers["silver"]
    active.tier = silver
    active.save()
    CommissionRate.objects.create(tier=silver, valid_from=datetime.date(2026, 1, 1), rate=Decimal("0.05"))
    CommissionRate.objects.create(
        tier=silver, valid_from=datetime.date(2026, 1, 1), min_value=Decimal("1000000"), rate=Decimal("0.07")
    )
    CommissionRate.objects.create(tier=silver, valid_from=datetime.date(2026, 10, 15), rate=Decimal("0.06"))
    CommissionRate.objects.create(
        tier=silver, lead_kind="service", valid_from=datetime.date(2026, 1, 1), rate=Decimal("0.20")
    )
    CommissionRate.objects.create(
        tier=None, product_line="backup", valid_from=datetime.date(2026, 1, 1), rate=Decimal("0.30")
    )
    early, late = datetime.date(2026, 10, 10), datetime.date(2026, 10, 20)
    cases = [
        (early, Decimal("1000"), "license", "", Decimal("0.0500")),
        (early, Decimal("2000000"), "license", "", Decimal("0.0700")),
        (late, Decimal("2000000"), "license", "", Decimal("0.0600")),  # the newer version has no big slab
        (early, Decimal("1000"), "service", "", Decimal("0.2000")),
        (early, Decimal("1000"), "license", "Backup Pro", Decimal("0.0500")),  # tier key beats the any-tier key
    ]
    for day, value, kind, products, _rate in cases:
        LeadFactory(partner=active, stage=Stage.WON, won_at=at(day), value=value, kind=kind, products=products)
    commission_accrue(on=late)
    got = sorted(CommissionEntry.objects.values_list("lead__won_at__date", "lead__value", "lead__kind", "rate"))
    assert sorted((at(d).date(), v, k, r) for d, v, k, _p, r in cases) == got


def test_distributor_earns_its_override_on_reseller_deals(tiers):
    distributor = PartnerFactory(program_model=ProgramModel.DISTRIBUTOR, tier=tiers["gold"])
    reseller = PartnerFactory(program_model=ProgramModel.RESELLER, parent=distributor, tier=tiers["silver"])
    DistributorOverride.objects.create(
        distributor=distributor, valid_from=datetime.date(2026, 1, 1), percent=Decimal("2")
    )
    day = datetime.date(2026, 10, 10)
    ExchangeRateFactory(currency="USD", valid_from=datetime.date(2026, 1, 1), rate=Decimal("90"))
    LeadFactory(partner=reseller, stage=Stage.WON, won_at=at(day), value=Decimal("1000"), currency="USD")
    commission_accrue(on=day)
    override = CommissionEntry.objects.get(kind=EntryKind.OVERRIDE)
    assert (override.partner_id, override.amount, override.amount_reporting) == (
        distributor.pk,
        Decimal("20.00"),
        Decimal("1800.00"),
    )
    assert CommissionEntry.objects.get(kind=EntryKind.ACCRUAL).partner_id == reseller.pk
    assert commission_accrue(on=day)["accruals"] == 0


# --- pages ---------------------------------------------------------------------------------------------------------


def test_statement_pages_approve_pay_and_export(client_for, active, other_partner, partner_admin, channel_manager):
    entry(active, datetime.date(2026, 10, 3), "1000")
    entry(active, datetime.date(2026, 10, 4), "0", kind=EntryKind.ADJUSTMENT)
    CommissionEntry.objects.filter(kind=EntryKind.ADJUSTMENT).update(description="=cmd|' /C calc'!A0")
    entry(other_partner, datetime.date(2026, 10, 3), "7777")
    entry(active, datetime.date(2026, 11, 3), "55")
    statement_close(period=OCT)
    mine = Statement.objects.get(partner=active)
    theirs = Statement.objects.get(partner=other_partner)
    client = client_for(partner_admin)
    page = client.get(reverse("kpi:payouts:statements")).content.decode()
    assert "October 2026" in page and "Closed" in page and "7777" not in page
    assert "55.00" in page  # the open period
    assert client.get(reverse("kpi:payouts:statement_detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("kpi:payouts:statement_approve", args=[mine.pk])).status_code == 403
    cm = client_for(channel_manager)
    assert cm.post(reverse("kpi:payouts:statement_approve", args=[mine.pk])).status_code == 302
    bad = cm.post(reverse("kpi:payouts:statement_pay", args=[mine.pk]), {"payment_reference": ""})
    assert bad.status_code == 400
    assert (
        cm.post(reverse("kpi:payouts:statement_pay", args=[theirs.pk]), {"payment_reference": "X"}).status_code == 400
    )
    export = cm.get(reverse("kpi:payouts:export"), {"period": "2026-10"})
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert [r[0] for r in rows[1:]] == [active.name] and rows[1][3] == "1000.00"
    assert cm.get(reverse("kpi:payouts:export"), {"period": "2026-10", "format": "xlsx"}).status_code == 200
    assert (
        cm.post(reverse("kpi:payouts:statement_pay", args=[mine.pk]), {"payment_reference": "PAY-7"}).status_code == 302
    )
    page = client.get(reverse("kpi:payouts:statement_detail", args=[mine.pk])).content.decode()
    assert "Paid" in page and "PAY-7" in page and "=cmd|" in page


def test_adjustment_form(client_for, active, channel_manager):
    cm = client_for(channel_manager)
    bad = cm.post(
        reverse("kpi:payouts:adjust"), {"partner": active.pk, "amount": "10", "currency": "RUB", "reason": ""}
    )
    assert bad.status_code == 400 and not CommissionEntry.objects.exists()
    ok = cm.post(
        reverse("kpi:payouts:adjust"), {"partner": active.pk, "amount": "-10", "currency": "RUB", "reason": "Returned"}
    )
    assert ok.status_code == 302
    assert CommissionEntry.objects.get().description == "Returned"


# --- holding period per agreement ----------------------------------------------------------------------------------


def test_agreement_holding_period_overrides_the_program_default(active, other_partner, settings):
    """The agreement's own holding period wins over the program default; the statement freezes the one it used."""
    from tests.partners.factories import AgreementFactory

    settings.PRM_PAYOUT_HOLD_DAYS = 5
    other_partner.status = PartnerStatus.ACTIVE
    other_partner.save()
    AgreementFactory(partner=active, payout_hold_days=20)
    AgreementFactory(partner=other_partner, payout_hold_days=None)  # the program default
    mine = entry(active, datetime.date(2026, 10, 15), "100")  # 17 days before the end: younger than 20
    mine_old = entry(active, datetime.date(2026, 10, 5), "10")
    theirs = entry(other_partner, datetime.date(2026, 10, 15), "100")  # older than 5 days
    theirs_young = entry(other_partner, datetime.date(2026, 10, 29), "1")
    statement_close(period=OCT)
    for e, period in [(mine, NOV), (mine_old, OCT), (theirs, OCT), (theirs_young, NOV)]:
        e.refresh_from_db()
        assert e.statement_period == period, e.amount
    st_mine, st_theirs = Statement.objects.get(partner=active), Statement.objects.get(partner=other_partner)
    assert (st_mine.total, st_mine.hold_days) == (Decimal("10.00"), 20)
    assert (st_theirs.total, st_theirs.hold_days) == (Decimal("100.00"), 5)


def test_holding_period_of_zero_on_the_agreement_beats_a_program_default(active, settings):
    from tests.partners.factories import AgreementFactory

    settings.PRM_PAYOUT_HOLD_DAYS = 30
    AgreementFactory(partner=active, payout_hold_days=0)
    entry(active, datetime.date(2026, 10, 31), "70")
    statement_close(period=OCT)
    assert Statement.objects.get(partner=active).total == Decimal("70.00")


def test_holding_period_is_shown_on_the_statement_and_the_open_period(client_for, active, partner_admin, settings):
    from tests.partners.factories import AgreementFactory

    settings.PRM_PAYOUT_HOLD_DAYS = 0
    AgreementFactory(partner=active, payout_hold_days=14)
    entry(active, datetime.date(2026, 10, 25), "300")
    statement_close(period=OCT)
    st = Statement.objects.get(partner=active)
    client = client_for(partner_admin)
    page = client.get(reverse("kpi:payouts:statement_detail", args=[st.pk])).content.decode()
    assert "Holding period: 14 days." in page and "last 14 days wait for the next statement" in page
    page = client.get(reverse("kpi:payouts:open_period")).content.decode()
    assert "become payable 14 days after the win" in page and "300.00" in page


def test_holding_period_out_of_range_is_a_form_error(client_for, channel_manager):
    from partners.forms import AgreementForm

    form = AgreementForm({"agreement-payout_hold_days": "400"})
    assert not form.is_valid() and "payout_hold_days" in form.errors
    form = AgreementForm({"agreement-payout_hold_days": "-1"})
    assert not form.is_valid() and "payout_hold_days" in form.errors


def test_channel_manager_closes_a_month_on_the_statements_page(client_for, active, channel_manager, partner_admin):
    entry(active, datetime.date(2026, 10, 3), "1000")
    cm = client_for(channel_manager)
    url = reverse("kpi:payouts:close")
    bad = cm.post(url, {"period": "october"})
    assert bad.status_code == 400 and "Enter a month as YYYY-MM." in bad.content.decode()
    this_month = datetime.date.today().strftime("%Y-%m")
    early = cm.post(url, {"period": this_month})
    assert early.status_code == 400 and "A month can only be closed after it has ended." in early.content.decode()
    assert not Statement.objects.exists()
    done = cm.post(url, {"period": "2026-10"}, follow=True)
    assert "October 2026 closed: 1 statement created." in done.content.decode()
    assert Statement.objects.get(partner=active).total == Decimal("1000.00")
    again = cm.post(url, {"period": "2026-10"}, follow=True)
    assert "0 statements created" in again.content.decode() and Statement.objects.count() == 1
    assert client_for(partner_admin).post(url, {"period": "2026-10"}).status_code == 403


@pytest.mark.parametrize("door", ["service", "monthly_job", "celery_task", "portal_form"])
def test_every_door_closing_a_month_applies_the_agreement_holding_period(
    door, client_for, active, other_partner, channel_manager, settings
):
    """The month's close has four doors; each applies the same payability rule and freezes the same figures."""
    from kpi.payouts.tasks import statements_close
    from tests.partners.factories import AgreementFactory

    settings.PRM_PAYOUT_HOLD_DAYS = 3
    other_partner.status = PartnerStatus.ACTIVE
    other_partner.save()
    AgreementFactory(partner=active, payout_hold_days=10)
    today = datetime.date.today()
    period = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    last_day = today.replace(day=1) - datetime.timedelta(days=1)
    for partner in (active, other_partner):
        entry(partner, period, "100")  # old enough under any holding period
        entry(partner, last_day - datetime.timedelta(days=5), "20")  # held for 10 days, not for 3
        entry(partner, last_day, "-7", kind=EntryKind.PENALTY)  # never held
    if door == "service":
        statement_close(period=period, actor=channel_manager)
    elif door == "monthly_job":
        statements_close_due(today=today)
    elif door == "celery_task":
        statements_close.apply()
    else:
        response = client_for(channel_manager).post(reverse("kpi:payouts:close"), {"period": f"{period:%Y-%m}"})
        assert response.status_code == 302
    got = {s.partner_id: (s.total, s.hold_days, s.entries_count) for s in Statement.objects.filter(period=period)}
    assert got == {
        active.pk: (Decimal("93.00"), 10, 2),
        other_partner.pk: (Decimal("113.00"), 3, 3),
    }


def test_open_period_says_which_statement_pays_each_entry_and_the_closes_agree(
    client_for, active, partner_admin, settings
):
    from tests.partners.factories import AgreementFactory

    settings.PRM_PAYOUT_HOLD_DAYS = 0
    AgreementFactory(partner=active, payout_hold_days=10)
    on_time = entry(active, datetime.date(2026, 10, 15), "100")
    young = entry(active, datetime.date(2026, 10, 25), "200")  # + 10 days = November
    penalty = entry(active, datetime.date(2026, 10, 30), "-5", kind=EntryKind.PENALTY)  # never held
    response = client_for(partner_admin).get(reverse("kpi:payouts:open_period"))
    page = response.content.decode()
    assert "On the statement of" in page
    predicted = {e.pk: e.statement_period for e in response.context["entries"]}
    assert predicted == {on_time.pk: OCT, young.pk: NOV, penalty.pk: OCT}
    for e in (on_time, young, penalty):
        assert f'data-payable="{e.pk}">{predicted[e.pk]:%B %Y}<' in page
    statement_close(period=OCT)
    statement_close(period=NOV)
    actual = dict(CommissionEntry.objects.values_list("pk", "statement_period"))
    assert actual == predicted
