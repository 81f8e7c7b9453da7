from decimal import Decimal

import factory
from django.utils import timezone
from stdnum.ru import inn

from leads.customers import customer_name_key
from leads.models import Activity, Customer, Lead, LeadKind, LeadSource, Stage
from tests.partners.factories import PartnerFactory, RegionFactory


def valid_inn(serial: int, *, region: str = "77") -> str:
    """A 10-digit company INN with a correct check digit (tax ids are validated at every door)."""
    first9 = f"{region}{serial:07d}"
    return first9 + inn.calc_company_check_digit(first9)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    normalized_name = factory.LazyAttribute(lambda o: customer_name_key(o.name))
    tax_id = factory.Sequence(lambda n: valid_inn(n, region="50"))
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
