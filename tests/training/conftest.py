import pytest

from prm.models import Role
from tests.prm.factories import PartnerUserFactory

from .factories import (
    CertificationTypeFactory,
    ChoiceFactory,
    CourseFactory,
    LessonFactory,
    QuestionFactory,
    QuizFactory,
)


@pytest.fixture
def cert_type(db):
    return CertificationTypeFactory(code="platform-engineer", name="Platform Engineer", validity_months=24)


@pytest.fixture
def course(cert_type):
    """Published course granting a certification: two lessons, a quiz with one single and one multiple question."""
    course = CourseFactory(title="Platform basics", grants=cert_type)
    LessonFactory(course=course, order=1, title="Intro")
    LessonFactory(course=course, order=2, title="Deep dive")
    quiz = QuizFactory(course=course, passing_score=100, attempt_limit=3, cooldown_minutes=60)
    single = QuestionFactory(quiz=quiz, order=1, kind="single", text="Which port?")
    course.q_single = single
    course.single_right = ChoiceFactory(question=single, text="443", is_correct=True)
    course.single_wrong = ChoiceFactory(question=single, text="21")
    multiple = QuestionFactory(quiz=quiz, order=2, kind="multiple", text="Which are databases?")
    course.q_multiple = multiple
    course.multi_right = [
        ChoiceFactory(question=multiple, text="PostgreSQL", is_correct=True),
        ChoiceFactory(question=multiple, text="SQLite", is_correct=True),
    ]
    course.multi_wrong = ChoiceFactory(question=multiple, text="Nginx")
    return course


@pytest.fixture
def right_answers(course):
    return {course.q_single.pk: [course.single_right.pk], course.q_multiple.pk: [c.pk for c in course.multi_right]}


@pytest.fixture
def learner(partner):
    return PartnerUserFactory(
        role=Role.PARTNER_ENGINEER,
        partner=partner,
        email="learner@alpha.example",
        first_name="Ivan",
        last_name="Petrov",
    )
