import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from training.models import Certification, EnrollmentStatus, QuizAttempt
from training.services import QuizClosed, add_months, enrollment_enrol, quiz_submit

from .factories import ChoiceFactory, CourseFactory, LessonFactory, QuestionFactory, QuizFactory


@pytest.fixture
def enrollment(learner, course):
    return enrollment_enrol(user=learner, course=course)


def test_all_right_passes_and_issues_certificate(enrollment, right_answers, cert_type):
    attempt = quiz_submit(enrollment=enrollment, answers=right_answers)
    assert attempt.score == 100 and attempt.passed
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.PASSED
    cert = Certification.objects.get(user=enrollment.user)
    assert cert.type == cert_type
    assert cert.partner_id == enrollment.partner_id
    assert cert.course_version == "1.0"
    today = timezone.localdate()
    assert cert.issued_on == today
    assert cert.expires_on == add_months(today, 24)


def test_single_choice_wrong_answer_fails(enrollment, course, right_answers):
    answers = {**right_answers, course.q_single.pk: [course.single_wrong.pk]}
    attempt = quiz_submit(enrollment=enrollment, answers=answers)
    assert attempt.score == 50 and not attempt.passed
    assert not Certification.objects.exists()


def test_single_choice_with_two_picks_is_wrong(enrollment, course, right_answers):
    answers = {**right_answers, course.q_single.pk: [course.single_right.pk, course.single_wrong.pk]}
    assert quiz_submit(enrollment=enrollment, answers=answers).score == 50


def test_multiple_choice_needs_exactly_the_correct_set(enrollment, course, right_answers):
    partial = {**right_answers, course.q_multiple.pk: [course.multi_right[0].pk]}
    assert quiz_submit(enrollment=enrollment, answers=partial).score == 50


def test_multiple_choice_with_extra_wrong_pick_is_wrong(course, learner, right_answers):
    course.quiz.cooldown_minutes = 0
    course.quiz.save()
    enrollment = enrollment_enrol(user=learner, course=course)
    extra = {**right_answers, course.q_multiple.pk: [*right_answers[course.q_multiple.pk], course.multi_wrong.pk]}
    assert quiz_submit(enrollment=enrollment, answers=extra).score == 50


def test_choices_of_other_questions_are_ignored(enrollment, course, right_answers):
    # Sending the multiple question's correct ids for the single question must not count.
    answers = {
        course.q_single.pk: [course.multi_right[0].pk],
        course.q_multiple.pk: right_answers[course.q_multiple.pk],
    }
    assert quiz_submit(enrollment=enrollment, answers=answers).score == 50


def test_cooldown_blocks_next_attempt_until_it_passes(enrollment, course, right_answers, monkeypatch):
    quiz_submit(enrollment=enrollment, answers={})
    with pytest.raises(QuizClosed):
        quiz_submit(enrollment=enrollment, answers=right_answers)
    later = timezone.now() + datetime.timedelta(minutes=61)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert quiz_submit(enrollment=enrollment, answers=right_answers).passed


def test_attempt_limit(enrollment, course, right_answers):
    course.quiz.cooldown_minutes = 0
    course.quiz.save()
    for _ in range(3):
        quiz_submit(enrollment=enrollment, answers={})
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.FAILED
    with pytest.raises(QuizClosed):
        quiz_submit(enrollment=enrollment, answers=right_answers)
    assert QuizAttempt.objects.filter(enrollment=enrollment).count() == 3


def test_certificate_issued_once_on_second_submit(enrollment, right_answers):
    quiz_submit(enrollment=enrollment, answers=right_answers)
    with pytest.raises(QuizClosed):
        quiz_submit(enrollment=enrollment, answers=right_answers)
    assert Certification.objects.count() == 1


def test_course_without_certification_passes_without_certificate(learner):
    course = CourseFactory(grants=None)
    LessonFactory(course=course, order=1)
    quiz = QuizFactory(course=course, passing_score=50)
    q = QuestionFactory(quiz=quiz, order=1)
    right = ChoiceFactory(question=q, is_correct=True)
    ChoiceFactory(question=q)
    enrollment = enrollment_enrol(user=learner, course=course)
    assert quiz_submit(enrollment=enrollment, answers={q.pk: [right.pk]}).passed
    assert not Certification.objects.exists()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime.date(2026, 1, 31), 1, datetime.date(2026, 2, 28)),
        (datetime.date(2024, 1, 31), 1, datetime.date(2024, 2, 29)),
        (datetime.date(2026, 3, 15), 24, datetime.date(2028, 3, 15)),
        (datetime.date(2024, 2, 29), 12, datetime.date(2025, 2, 28)),
        (datetime.date(2026, 11, 30), 3, datetime.date(2027, 2, 28)),
        (datetime.date(2026, 12, 1), 1, datetime.date(2027, 1, 1)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


def test_quiz_page_never_contains_correct_answers(client_for, learner, course):
    enrollment = enrollment_enrol(user=learner, course=course)
    response = client_for(learner).get(reverse("training:quiz", args=[enrollment.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "443" in html and "PostgreSQL" in html  # the choices are there...
    assert "correct" not in html.lower()  # ...but nothing marks which are right
    assert "✓" not in html


def test_quiz_submit_through_the_page(client_for, learner, course, right_answers):
    enrollment = enrollment_enrol(user=learner, course=course)
    client = client_for(learner)
    data = {
        f"q{course.q_single.pk}": str(course.single_right.pk),
        f"q{course.q_multiple.pk}": [str(pk) for pk in right_answers[course.q_multiple.pk]],
    }
    response = client.post(reverse("training:quiz", args=[enrollment.pk]), data)
    assert response.status_code == 302
    assert Certification.objects.filter(user=learner).count() == 1
    # A second submit (double click) is refused and issues nothing more.
    response = client.post(reverse("training:quiz", args=[enrollment.pk]), data, follow=True)
    assert response.status_code == 200
    assert Certification.objects.filter(user=learner).count() == 1


def test_someone_elses_quiz_is_404(client_for, partner_rep, learner, course):
    enrollment = enrollment_enrol(user=learner, course=course)
    assert client_for(partner_rep).get(reverse("training:quiz", args=[enrollment.pk])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_issue_one_certificate(postgres_only, partner, cert_type):
    import threading

    from django.db import connection

    from prm.models import Role
    from tests.prm.factories import PartnerUserFactory

    course = CourseFactory(grants=cert_type)
    LessonFactory(course=course, order=1)
    quiz = QuizFactory(course=course, passing_score=100, attempt_limit=5, cooldown_minutes=0)
    q = QuestionFactory(quiz=quiz, order=1)
    right = ChoiceFactory(question=q, is_correct=True)
    ChoiceFactory(question=q)
    user = PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=partner)
    enrollment = enrollment_enrol(user=user, course=course)
    barrier = threading.Barrier(4)
    outcomes = []

    def submit():
        try:
            barrier.wait()
            quiz_submit(enrollment=enrollment, answers={q.pk: [right.pk]})
            outcomes.append("ok")
        except QuizClosed:
            outcomes.append("closed")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["closed", "closed", "closed", "ok"]
    assert Certification.objects.filter(user=user).count() == 1
    assert QuizAttempt.objects.filter(enrollment=enrollment).count() == 1


def test_database_refuses_a_second_certificate_for_the_same_version(learner, cert_type):
    from django.db import IntegrityError, transaction

    from .factories import CertificationFactory

    CertificationFactory(user=learner, type=cert_type, course_version="1.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        CertificationFactory(user=learner, type=cert_type, course_version="1.0")
    CertificationFactory(user=learner, type=cert_type, course_version="2.0")
