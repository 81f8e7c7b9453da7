import datetime

import factory
from django.utils import timezone

from tests.partners.factories import CompetencyFactory
from training.models import Certification, CertificationType, Course, CourseStatus


class CertificationTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CertificationType
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"cert-{n}")
    name = factory.Sequence(lambda n: f"Certified Engineer {n}")
    competency = factory.SubFactory(CompetencyFactory)
    validity_months = 24


class CertificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Certification

    type = factory.SubFactory(CertificationTypeFactory)
    user = factory.SubFactory("tests.prm.factories.PartnerUserFactory", role="partner_engineer")
    partner = factory.LazyAttribute(lambda o: o.user.partner)
    issued_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=30))
    expires_on = factory.LazyAttribute(lambda o: o.issued_on + datetime.timedelta(days=730))


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    title = factory.Sequence(lambda n: f"Course {n}")
    product = "Platform"
    status = CourseStatus.PUBLISHED
