from decimal import Decimal

import factory
from django.utils import timezone

from leads.models import Activity, Customer, Lead, LeadKind, LeadSource, Stage
from tests.partners.factories import PartnerFactory, RegionFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    normalized_name = factory.LazyAttribute(lambda o: o.name.lower())
    tax_id = factory.Sequence(lambda n: f"50{n:08d}")
    domain = factory.Sequence(lambda n: f"customer{n}.example")
    region = factory.SubFactory(RegionFactory)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    customer = factory.SubFactory(CustomerFactory)
    partner = factory.SubFactory(PartnerFactory)
    title = factory.Sequence(lambda n: f"Deal {n}")
    kind = LeadKind.LICENSE
    source = LeadSource.PARTNER_REGISTRATION
    stage = Stage.REGISTERED
    region = factory.LazyAttribute(lambda o: o.customer.region)
    value = Decimal("100000")
    currency = "RUB"


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    partner = factory.LazyAttribute(lambda o: o.lead.partner)
    kind = "call"
    occurred_at = factory.LazyFunction(timezone.now)
    subject = "Call with the customer"
