"""Demo money: commission history with closed and paid months, and MDF budgets, requests and claims in every state.

Runs after the demo network exists (called from the demo seed). Everything goes through the real services — the
ledger accrual, the period close, the MDF workflow — except that approving and paying the three historic months is
done set-based for the whole network (a loop over services would take minutes at benchmark size).
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from kpi.funds import services as funds
from kpi.funds.models import ActivityType, FundClaim, FundRequest
from kpi.models import CommissionEntry, EntryStatus, Statement, StatementStatus
from kpi.payouts.services import month_start, statement_close
from kpi.services.ledger import commission_accrue
from leads.models import Lead, Stage
from partners.models import Partner, PartnerStatus, ProgramModel
from prm.models import Role, User

PROOF = b"%PDF-1.4\n% demo proof of performance\n"


def _month_back(first: datetime.date, n: int) -> datetime.date:
    for _ in range(n):
        first = month_start(first - datetime.timedelta(days=1))
    return first


def money_demo_seed(*, today: datetime.date | None = None) -> dict:
    today = today or timezone.localdate()
    cm = User.objects.filter(role=Role.CHANNEL_MANAGER, is_active=True).order_by("-is_channel_lead", "id").first()
    if cm is None or not Partner.objects.exists():
        return {}
    counts = {"accruals": commission_accrue(on=today - datetime.timedelta(days=1))["accruals"]}
    this_month = month_start(today)
    months = [_month_back(this_month, n) for n in (4, 3, 2, 1)]
    for period in months:
        statement_close(period=period, actor=cm)
    paid = months[:3]  # the last month stays closed: it waits for the channel manager's approval
    now = timezone.now()
    with transaction.atomic():
        Statement.objects.filter(period__in=paid, status=StatementStatus.CLOSED).update(
            status=StatementStatus.PAID,
            approved_at=now,
            approved_by=cm,
            paid_at=now,
            paid_by=cm,
            payment_reference=Concat(Value("PAY-"), Cast("period", output_field=CharField())),
            updated_at=now,
        )
        CommissionEntry.objects.filter(statement_period__in=paid).exclude(status=EntryStatus.REVERSED).update(
            status=EntryStatus.PAID, updated_at=now
        )
    counts["statements"] = Statement.objects.count()
    counts.update(_funds(today=today, cm=cm))
    return counts


def _funds(*, today: datetime.date, cm: User) -> dict:
    quarter_start = datetime.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    next_quarter = month_start(quarter_start + datetime.timedelta(days=95))
    last_quarter = _month_back(quarter_start, 3)
    currency = settings.PRM_REPORTING_CURRENCY
    # Budgets sized to the network: 150,000 for every active full-cycle partner and distributor, and some left over.
    eligible = Partner.objects.filter(
        status=PartnerStatus.ACTIVE, program_model__in=[ProgramModel.FULL_CYCLE, ProgramModel.DISTRIBUTOR]
    ).count()
    each = Decimal("150000")
    with transaction.atomic():
        old = funds.budget_create(
            actor=cm,
            name="MDF previous quarter",
            period_start=last_quarter,
            period_end=quarter_start - datetime.timedelta(days=1),
            amount=max(Decimal("3000000"), each * eligible + Decimal("500000")),
            currency=currency,
        )
        current = funds.budget_create(
            actor=cm,
            name="MDF this quarter",
            period_start=quarter_start,
            period_end=next_quarter - datetime.timedelta(days=1),
            amount=max(Decimal("5000000"), each * eligible + Decimal("2000000")),
            currency=currency,
        )
        for budget in (old, current):
            funds.allocations_by_rule(
                budget=budget,
                actor=cm,
                amount_each=each,
                program_models=[ProgramModel.FULL_CYCLE, ProgramModel.DISTRIBUTOR],
            )
    admin = (
        User.objects.filter(email="admin@partner.demo.prm").first()
        or User.objects.filter(role=Role.PARTNER_ADMIN, partner__status=PartnerStatus.ACTIVE).order_by("id").first()
    )
    allocation = current.allocations.filter(partner_id=getattr(admin, "partner_id", None)).first()
    old_allocation = old.allocations.filter(partner_id=getattr(admin, "partner_id", None)).first()
    if allocation is None or old_allocation is None:
        return {"budgets": 2}
    start = max(quarter_start, today - datetime.timedelta(days=20))
    end = min(next_quarter - datetime.timedelta(days=1), today + datetime.timedelta(days=20))

    def ask(title, kind, amount, alloc=allocation, starts=start, ends=end):
        return funds.fund_request_submit(
            actor=admin,
            allocation=alloc,
            activity_type=kind,
            title=title,
            starts_on=starts,
            ends_on=ends,
            planned_cost=amount * 2,
            requested_amount=amount,
            expected_leads=12,
            expected_pipeline=amount * 20,
        )

    # Last quarter: one reimbursed activity and one left undecided (it expires with the budget below).
    done = ask("Partner day in Kazan", ActivityType.EVENT, Decimal("40000"), old_allocation, last_quarter, last_quarter)
    done = funds.fund_request_decide(actor=cm, request=done, approve=True)
    ask("Print catalogue", ActivityType.CONTENT, Decimal("10000"), old_allocation, last_quarter, last_quarter)
    funds.budgets_expire(today=quarter_start)
    # This quarter: reimbursed, claim waiting, approved without claim, waiting for a decision, rejected.
    reimbursed = funds.fund_request_decide(
        actor=cm, request=ask("Security webinar series", ActivityType.WEBINAR, Decimal("30000")), approve=True
    )
    claim = funds.fund_claim_submit(
        actor=admin,
        request=reimbursed,
        amount=Decimal("28500"),
        proof=ContentFile(PROOF, name="webinar-report.pdf"),
        leads_generated=9,
    )
    funds.fund_claim_decide(actor=cm, claim=claim, approve=True)
    claimed = funds.fund_request_decide(
        actor=cm, request=ask("Trade show booth", ActivityType.EVENT, Decimal("50000")), approve=True
    )
    funds.fund_claim_submit(
        actor=admin, request=claimed, amount=Decimal("50000"), proof=ContentFile(PROOF, name="booth-photos.pdf")
    )
    rejected = funds.fund_claim_submit(
        actor=admin,
        request=funds.fund_request_decide(
            actor=cm, request=ask("Search ads", ActivityType.DIGITAL, Decimal("20000")), approve=True
        ),
        amount=Decimal("20000"),
        proof=ContentFile(PROOF, name="ads-invoice.pdf"),
    )
    funds.fund_claim_decide(actor=cm, claim=rejected, approve=False, reason="The invoice is for another campaign.")
    funds.fund_request_decide(
        actor=cm, request=ask("Sales bootcamp", ActivityType.TRAINING, Decimal("25000")), approve=True
    )
    ask("Customer newsletter", ActivityType.CONTENT, Decimal("15000"))
    funds.fund_request_decide(
        actor=cm,
        request=ask("Golf tournament", ActivityType.OTHER, Decimal("45000")),
        approve=False,
        reason="Not a lead-generating activity.",
    )
    # Deals the activities sourced, for ROI.
    deals = list(
        Lead.objects.filter(partner_id=admin.partner_id, stage__in=[Stage.WON, Stage.PROPOSAL, Stage.NEGOTIATION])
        .order_by("id")
        .values_list("pk", flat=True)[:6]
    )
    for i, lead in enumerate(Lead.objects.filter(pk__in=deals).order_by("id")):
        funds.lead_fund_link(actor=admin, lead=lead, fund_request=reimbursed if i < 3 else done)
    return {"budgets": 2, "fund requests": FundRequest.objects.count(), "fund claims": FundClaim.objects.count()}
