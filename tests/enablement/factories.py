import datetime

import factory
from django.utils import timezone

from partners.enablement.models import (
    Announcement,
    AnnouncementKind,
    PartnerRequest,
    RequestCategory,
    Resource,
    ResourceKind,
    ResourceVersion,
)
from tests.partners.factories import PartnerFactory


class ResourceFactory(factory.django.DjangoModelFactory):
    """A published resource with a link version (no file I/O); `version=False` leaves it without one."""

    class Meta:
        model = Resource
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Resource {n}")
    kind = ResourceKind.PRESENTATION
    product = "Platform"
    language = "ru"
    published_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def version(self, create, extracted, **kwargs):
        if create and extracted is not False:
            v = ResourceVersion.objects.create(resource=self, number=1, url=f"https://files.example/{self.pk}.pdf")
            Resource.objects.filter(pk=self.pk).update(current_version=v)
            self.current_version = v


class AnnouncementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Announcement

    title = factory.Sequence(lambda n: f"Announcement {n}")
    body = "Something changed."
    kind = AnnouncementKind.PRODUCT_UPDATE
    published_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(minutes=1))


class PartnerRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerRequest

    partner = factory.SubFactory(PartnerFactory)
    category = RequestCategory.TECHNICAL
    subject = factory.Sequence(lambda n: f"Request {n}")
    response_due_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(hours=8))
    resolution_due_at = factory.LazyAttribute(lambda o: o.response_due_at + datetime.timedelta(hours=32))
