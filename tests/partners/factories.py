from decimal import Decimal

import factory

from partners.models import (
    Agreement,
    AgreementStatus,
    Competency,
    Industry,
    Partner,
    PartnerContact,
    PartnerStatus,
    PartnerType,
    ProgramModel,
    Region,
    SlaPolicy,
    Tier,
    TierRequirement,
)


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"region-{n}")
    name = factory.Sequence(lambda n: f"Region {n}")
    country = "RU"
    timezone = "Europe/Moscow"


class CompetencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Competency
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"comp-{n}")
    name = factory.Sequence(lambda n: f"Competency {n}")


class IndustryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Industry
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"industry-{n}")
    name = factory.Sequence(lambda n: f"Industry {n}")


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier-{n}")
    name = factory.Sequence(lambda n: f"Tier {n}")
    rank = factory.Sequence(lambda n: n + 10)
    commission_rate = Decimal("0.1000")
    allocation_weight = 1
    protection_days = 90


class TierRequirementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TierRequirement

    tier = factory.SubFactory(TierFactory)
    metric = "won_revenue_12m"
    threshold = Decimal("1000000")


class SlaPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaPolicy
        django_get_or_create = ("name",)

    name = "Network SLA"


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Partner {n}")
    legal_name = factory.LazyAttribute(lambda o: f"ООО «{o.name}»")
    country = "RU"
    tax_id = factory.Sequence(lambda n: f"77{n:08d}")
    program_model = ProgramModel.FULL_CYCLE
    partner_type = PartnerType.OPERATIONAL
    status = PartnerStatus.ACTIVE
    home_region = factory.SubFactory(RegionFactory)

    @factory.post_generation
    def regions(self, create, extracted, **kwargs):
        if create:
            self.regions.set(extracted if extracted is not None else [self.home_region])

    @factory.post_generation
    def competencies(self, create, extracted, **kwargs):
        if create and extracted:
            self.competencies.set(extracted)


class PartnerContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerContact

    partner = factory.SubFactory(PartnerFactory)
    role = "sales"
    name = factory.Faker("name")
    email = factory.Faker("email")


class AgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agreement

    partner = factory.SubFactory(PartnerFactory)
    number = factory.Sequence(lambda n: f"AG-{n:05d}")
    program_model = factory.LazyAttribute(lambda o: o.partner.program_model)
    sla_policy = factory.SubFactory(SlaPolicyFactory)
    commission_plan = "Tier rate on won deals"
    starts_on = factory.Faker("date_between", start_date="-1y", end_date="-1d")
    status = AgreementStatus.SIGNED
