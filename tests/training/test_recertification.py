import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from prm.models import Notification, NotificationKind
from training.models import Certification, CourseStatus
from training.services import course_publish, enrollment_enrol, quiz_state, quiz_submit

from .factories import CertificationFactory, CourseFactory


@pytest.fixture
def holder_cert(learner, course, right_answers):
    enrollment = enrollment_enrol(user=learner, course=course)
    quiz_submit(enrollment=enrollment, answers=right_answers)
    return Certification.objects.get(user=learner)


def test_major_version_pulls_expiry_in_and_notifies(channel_manager, course, holder_cert, learner):
    today = timezone.localdate()
    course_publish(course=course, actor=channel_manager, bump="major", grace_days=60)
    course.refresh_from_db()
    assert course.version == "2.0"
    holder_cert.refresh_from_db()
    assert holder_cert.expires_on == today + datetime.timedelta(days=60)
    note = Notification.objects.get(user=learner, kind=NotificationKind.CERTIFICATION_EXPIRING)
    assert "2.0" in note.title


def test_major_version_never_extends_a_nearer_expiry(channel_manager, course, holder_cert):
    soon = timezone.localdate() + datetime.timedelta(days=10)
    Certification.objects.filter(pk=holder_cert.pk).update(expires_on=soon)
    course_publish(course=course, actor=channel_manager, bump="major", grace_days=90)
    holder_cert.refresh_from_db()
    assert holder_cert.expires_on == soon


def test_minor_version_keeps_certificates(channel_manager, course, holder_cert, learner):
    before = holder_cert.expires_on
    course_publish(course=course, actor=channel_manager, bump="minor")
    course.refresh_from_db()
    holder_cert.refresh_from_db()
    assert course.version == "1.1"
    assert holder_cert.expires_on == before
    assert not Notification.objects.filter(user=learner).exists()


def test_new_major_reopens_quiz_and_issues_new_certificate(
    channel_manager, course, holder_cert, learner, right_answers
):
    enrollment = holder_cert.user.enrollments.get()
    assert not quiz_state(enrollment=enrollment)["open"]
    course_publish(course=course, actor=channel_manager, bump="major")
    enrollment.refresh_from_db()
    assert quiz_state(enrollment=enrollment)["open"]
    quiz_submit(enrollment=enrollment, answers=right_answers)
    versions = sorted(Certification.objects.filter(user=learner).values_list("course_version", flat=True))
    assert versions == ["1.0", "2.0"]


def test_other_courses_certificates_untouched(channel_manager, course, cert_type, learner):
    unrelated = CertificationFactory(user=learner, type=cert_type, course_version="")
    before = unrelated.expires_on
    course_publish(course=course, actor=channel_manager, bump="major")
    unrelated.refresh_from_db()
    assert unrelated.expires_on == before


def test_publish_needs_lessons(channel_manager, db):
    course = CourseFactory(status=CourseStatus.DRAFT)
    with pytest.raises(ValidationError):
        course_publish(course=course, actor=channel_manager)


def test_publish_page_major_with_grace(client_for, channel_manager, course, holder_cert):
    response = client_for(channel_manager).post(
        reverse("training:manage_publish", args=[course.pk]), {"bump": "major", "grace_days": "30"}
    )
    assert response.status_code == 302
    holder_cert.refresh_from_db()
    assert holder_cert.expires_on == timezone.localdate() + datetime.timedelta(days=30)


def test_publish_page_shows_errors(client_for, channel_manager, db):
    course = CourseFactory(status=CourseStatus.DRAFT)
    response = client_for(channel_manager).post(
        reverse("training:manage_publish", args=[course.pk]), {"bump": "none", "grace_days": "90"}
    )
    assert response.status_code == 200
    assert "at least one lesson" in response.content.decode()
    course.refresh_from_db()
    assert course.status == CourseStatus.DRAFT
