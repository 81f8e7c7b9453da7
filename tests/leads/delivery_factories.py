import datetime

import factory
from django.utils import timezone

from leads.delivery.models import Coverage, ServiceContract, SlaTemplate
from tests.leads.factories import CustomerFactory
from tests.partners.factories import PartnerFactory


class SlaTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaTemplate
        django_get_or_create = ("name",)

    name = "Network SLA"
    coverage = Coverage.ALWAYS


class ServiceContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceContract

    customer = factory.SubFactory(CustomerFactory)
    partner = factory.SubFactory(PartnerFactory)
    coverage = Coverage.ALWAYS
    timezone = "Europe/Moscow"
    monthly_fee = 100000
    currency = "RUB"
    penalty_per_breach = 5000
    penalty_currency = "RUB"
    onsite_included = True
    starts_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=30))
