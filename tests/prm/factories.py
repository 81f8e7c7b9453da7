import factory

from prm.models import Role, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.CHANNEL_MANAGER
    password = factory.PostGenerationMethodCall("set_password", "pass12345!")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


class PartnerUserFactory(UserFactory):
    role = Role.PARTNER_SALES
    partner = factory.SubFactory("tests.partners.factories.PartnerFactory")
