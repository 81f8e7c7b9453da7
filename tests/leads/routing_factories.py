"""Builders for routing tests: partners that may receive vendor leads, and unrouted vendor leads."""

from decimal import Decimal

from leads.models import Lead, LeadKind, LeadSource, RoutingWeights, Stage
from partners.models import PartnerType, ProgramModel
from tests.leads.factories import CustomerFactory, LeadFactory
from tests.partners.factories import CompetencyFactory, PartnerFactory, RegionFactory, TierFactory


def region(code="msk", tz="Europe/Moscow", country="RU"):
    return RegionFactory(code=code, name=code.upper(), timezone=tz, country=country)


def competency(code):
    return CompetencyFactory(code=code, name=code.title())


def routing_partner(
    *,
    regions,
    competencies=(),
    program_model=ProgramModel.FULL_CYCLE,
    partner_type=PartnerType.SPECIALIST,
    weight=1,
    capacity=20,
    sla_score=None,
    home_region=None,
    **kw,
):
    tier = TierFactory(code=f"w{weight}", name=f"Weight {weight}", rank=100 + weight, allocation_weight=weight)
    return PartnerFactory(
        program_model=program_model,
        partner_type=partner_type,
        tier=tier,
        lead_capacity=capacity,
        sla_score=None if sla_score is None else Decimal(sla_score),
        home_region=home_region or regions[0],
        regions=list(regions),
        competencies=list(competencies),
        **kw,
    )


def vendor_lead(*, region, competencies=(), kind=LeadKind.IMPLEMENTATION, **kw) -> Lead:
    lead = LeadFactory(
        customer=kw.pop("customer", None) or CustomerFactory(region=region),
        partner=None,
        kind=kind,
        source=LeadSource.VENDOR,
        stage=Stage.NEW,
        region=region,
        **kw,
    )
    lead.competencies.set(list(competencies))
    return lead


def tier_only_weights():
    """Weights where only the tier counts: shares are exactly proportional to allocation weights."""
    return RoutingWeights.objects.create(
        tier_points=100, sla_points=0, win_rate_points=0, rating_points=0, spare_capacity_points=0
    )
