from decimal import Decimal

import factory

from kpi.models import ExchangeRate, ScoreComponent


class ScoreComponentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScoreComponent

    name = factory.Sequence(lambda n: f"Component {n}")
    metric = "sla_acceptance"
    target = Decimal("100")
    max_points = 25


class ExchangeRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeRate

    currency = "USD"
    valid_from = factory.Faker("date_object")
    rate = Decimal("90")
