import datetime
from decimal import Decimal

from django.utils import timezone

from kpi.models import CommissionEntry, KpiSnapshot, TierChange
from leads.models import Offer, Registration
from prm.models import Role
from tests.leads.factories import ActivityFactory, LeadFactory
from tests.partners.factories import PartnerContactFactory
from tests.prm.factories import PartnerUserFactory
from training.models import Certification, CertificationType, Course, CourseStatus, Enrollment


def partner_objects(partner) -> dict:
    """Every API resource's object for one partner; keys are resource names."""
    from tests.partners.factories import CompetencyFactory

    user = PartnerUserFactory(role=Role.PARTNER_SALES, partner=partner)
    lead = LeadFactory(partner=partner, external_id=f"ext-{partner.pk}", source_system="crm")
    course = Course.objects.create(title=f"Course {partner.pk}", status=CourseStatus.PUBLISHED)
    cert_type, _ = CertificationType.objects.get_or_create(
        code="cert", defaults={"name": "Cert", "competency": CompetencyFactory()}
    )
    today = timezone.localdate()
    from leads.delivery.models import Implementation, Ticket
    from tests.leads.delivery_factories import ServiceContractFactory

    won = LeadFactory(partner=partner, customer=lead.customer, stage="won", won_at=timezone.now())
    contract = ServiceContractFactory(
        partner=partner, customer=lead.customer, external_id=f"sc-{partner.pk}", source_system="itsm"
    )
    ticket = Ticket.objects.create(
        partner=partner,
        customer=lead.customer,
        contract=contract,
        title="Ticket",
        external_id=f"t-{partner.pk}",
        source_system="itsm",
    )
    implementation = Implementation.objects.create(lead=won, partner=partner, customer=lead.customer)
    from leads.delivery.models import CheckIn

    return {
        "implementations": implementation,
        "checkins": CheckIn.objects.create(implementation=implementation, partner=partner, day=30, due_on=today),
        "service_contracts": contract,
        "tickets": ticket,
        "partners": partner,
        "contacts": PartnerContactFactory(partner=partner),
        "customers": lead.customer,
        "leads": lead,
        "registrations": Registration.objects.create(lead=lead, partner=partner),
        "offers": Offer.objects.create(
            lead=LeadFactory(partner=None, stage="offered"),
            partner=partner,
            offered_at=timezone.now(),
            deadline=timezone.now() + datetime.timedelta(hours=4),
        ),
        "activities": ActivityFactory(lead=lead, partner=partner),
        "enrollments": Enrollment.objects.create(user=user, partner=partner, course=course),
        "certifications": Certification.objects.create(
            type=cert_type, user=user, partner=partner, issued_on=today, expires_on=today + datetime.timedelta(days=700)
        ),
        "kpi_snapshots": KpiSnapshot.objects.create(partner=partner, date=today),
        "tier_changes": TierChange.objects.create(partner=partner, kind="warning", effective_on=today),
        "commission_entries": CommissionEntry.objects.create(
            partner=partner,
            lead=lead,
            kind="accrual",
            entry_date=today,
            amount=Decimal("10"),
            currency="RUB",
            amount_reporting=Decimal("10"),
            description="x",
            source_key=f"k-{partner.pk}",
        ),
        **_money_objects(partner, today),
        **_conversation_objects(partner, lead, user),
    }


def _conversation_objects(partner, lead, user) -> dict:
    """A dispute over one of the partner's registrations and a request to the vendor (written directly)."""
    from leads.models import Dispute
    from partners.enablement.models import PartnerRequest, RequestMessage

    now = timezone.now()
    dispute = Dispute.objects.create(
        partner=partner,
        opened_by=user,
        customer_name=f"Contested {partner.pk}",
        first_contact_date=timezone.localdate(),
        description="We met them first.",
        due_at=now + datetime.timedelta(days=2),
    )
    request = PartnerRequest.objects.create(
        partner=partner,
        opened_by=user,
        category="technical",
        subject=f"Help {partner.pk}",
        response_due_at=now + datetime.timedelta(hours=8),
        resolution_due_at=now + datetime.timedelta(days=3),
    )
    RequestMessage.objects.create(request=request, author=user, body="Please help.", from_vendor=False)
    return {"disputes": dispute, "vendor_requests": request}


def _money_objects(partner, today) -> dict:
    """A statement, an MDF request and its claim for the partner (written directly: fixtures, not a workflow)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kpi.funds.models import Allocation, Budget, FundClaim, FundRequest
    from kpi.models import Statement

    budget = Budget.objects.create(
        name=f"MDF {partner.pk}",
        period_start=today - datetime.timedelta(days=30),
        period_end=today + datetime.timedelta(days=30),
        amount=Decimal("1000"),
        allocated=Decimal("500"),
    )
    allocation = Allocation.objects.create(budget=budget, partner=partner, amount=Decimal("500"), committed=100)
    request = FundRequest.objects.create(
        allocation=allocation,
        partner=partner,
        activity_type="webinar",
        title=f"Webinar {partner.pk}",
        starts_on=today,
        ends_on=today,
        planned_cost=Decimal("200"),
        requested_amount=Decimal("100"),
        approved_amount=Decimal("100"),
        status="approved",
        decision_due_at=timezone.now(),
    )
    claim = FundClaim.objects.create(
        request=request,
        partner=partner,
        amount=Decimal("50"),
        cap=Decimal("100"),
        proof=SimpleUploadedFile("p.pdf", b"%PDF-1.4"),
        decision_due_at=timezone.now(),
    )
    statement = Statement.objects.create(
        partner=partner, period=today.replace(day=1) - datetime.timedelta(days=40), closed_at=timezone.now()
    )
    return {"statements": statement, "mdf_requests": request, "mdf_claims": claim}
