import datetime

import factory
from django.utils import timezone

from tests.partners.factories import CompetencyFactory
from training.models import (
    Certification,
    CertificationType,
    Choice,
    Course,
    CourseStatus,
    Enrollment,
    LearningPath,
    Lesson,
    Question,
    Quiz,
)


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


class LessonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lesson

    course = factory.SubFactory(CourseFactory)
    order = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Lesson {n}")
    body = "Read this."


class QuizFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quiz

    course = factory.SubFactory(CourseFactory)
    passing_score = 100
    attempt_limit = 3
    cooldown_minutes = 60


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    quiz = factory.SubFactory(QuizFactory)
    order = factory.Sequence(lambda n: n + 1)
    text = factory.Sequence(lambda n: f"Question {n}?")
    kind = Question.Kind.SINGLE


class ChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Choice

    question = factory.SubFactory(QuestionFactory)
    text = factory.Sequence(lambda n: f"Answer {n}")
    is_correct = False


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    user = factory.SubFactory("tests.prm.factories.PartnerUserFactory", role="partner_engineer")
    partner = factory.LazyAttribute(lambda o: o.user.partner)
    course = factory.SubFactory(CourseFactory)
    course_version = factory.LazyAttribute(lambda o: o.course.version)


class LearningPathFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LearningPath

    name = factory.Sequence(lambda n: f"Path {n}")
