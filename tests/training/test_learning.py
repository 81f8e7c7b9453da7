import pytest
from django.urls import reverse

from prm.models import Role
from tests.prm.factories import PartnerUserFactory
from training.models import CourseStatus, Enrollment, EnrollmentStatus
from training.services import enrollment_enrol

from .factories import CourseFactory, LearningPathFactory, LessonFactory


def test_enrol_via_page_is_idempotent(client_for, learner, course):
    client = client_for(learner)
    url = reverse("training:enrol", args=[course.pk])
    first = client.post(url)
    second = client.post(url)
    enrollment = Enrollment.objects.get(user=learner, course=course)
    assert first.url == second.url == reverse("training:enrollment_detail", args=[enrollment.pk])
    assert enrollment.partner == learner.partner
    assert enrollment.course_version == "1.0"


def test_draft_course_is_404_for_partner(client_for, learner):
    draft = CourseFactory(status=CourseStatus.DRAFT)
    client = client_for(learner)
    assert client.get(reverse("training:course_detail", args=[draft.pk])).status_code == 404
    assert client.post(reverse("training:enrol", args=[draft.pk])).status_code == 404
    assert not Enrollment.objects.exists()


def test_vendor_cannot_enrol(client_for, channel_manager, course):
    assert client_for(channel_manager).post(reverse("training:enrol", args=[course.pk])).status_code == 403


def test_lesson_progress_saved(client_for, learner, course):
    enrollment = enrollment_enrol(user=learner, course=course)
    first, second = course.lessons.order_by("order")
    client = client_for(learner)
    response = client.get(reverse("training:lesson", args=[enrollment.pk, first.pk]))
    assert response.status_code == 200 and "Intro" in response.content.decode()
    response = client.post(reverse("training:lesson", args=[enrollment.pk, first.pk]))
    assert response.url == reverse("training:lesson", args=[enrollment.pk, second.pk])
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.IN_PROGRESS
    assert list(enrollment.completed_lessons.all()) == [first]
    page = client.get(reverse("training:my_learning")).content.decode()
    assert "1/2" in page


def test_lesson_of_another_course_is_404(client_for, learner, course):
    enrollment = enrollment_enrol(user=learner, course=course)
    foreign = LessonFactory(course=CourseFactory())
    response = client_for(learner).post(reverse("training:lesson", args=[enrollment.pk, foreign.pk]))
    assert response.status_code == 404
    assert not enrollment.completed_lessons.exists()


def test_other_partners_enrollment_is_404(client_for, learner, course, other_partner_rep, other_partner):
    enrollment = enrollment_enrol(user=learner, course=course)
    other_admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=other_partner)
    for user in (other_partner_rep, other_admin):
        client = client_for(user)
        assert client.get(reverse("training:enrollment_detail", args=[enrollment.pk])).status_code == 404
        assert (
            client.get(reverse("training:lesson", args=[enrollment.pk, course.lessons.first().pk])).status_code == 404
        )


def test_partner_admin_sees_team_enrollment_but_cannot_take_it(client_for, partner_admin, learner, course):
    enrollment = enrollment_enrol(user=learner, course=course)
    client = client_for(partner_admin)
    assert client.get(reverse("training:enrollment_detail", args=[enrollment.pk])).status_code == 200
    assert client.get(reverse("training:quiz", args=[enrollment.pk])).status_code == 404


def test_colleague_cannot_see_enrollment(client_for, partner_rep, learner, course):
    enrollment = enrollment_enrol(user=learner, course=course)
    assert client_for(partner_rep).get(reverse("training:enrollment_detail", args=[enrollment.pk])).status_code == 404


def test_lesson_file_only_for_enrolled(client_for, settings, tmp_path, learner, partner_rep, course):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = tmp_path
    lesson = course.lessons.first()
    lesson.attachment.save("notes.pdf", ContentFile(b"%PDF"), save=True)
    url = reverse("training:lesson_file", args=[lesson.pk])
    assert client_for(partner_rep).get(url).status_code == 404
    enrollment_enrol(user=learner, course=course)
    response = client_for(learner).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF"


def test_catalog_filters(client_for, learner):
    CourseFactory(title="Russian basics", language="ru", level="basic")
    CourseFactory(title="English expert", language="en", level="expert", audience_role=Role.PARTNER_SALES)
    client = client_for(learner)
    html = client.get(reverse("training:catalog"), {"language": "en"}).content.decode()
    assert "English expert" in html and "Russian basics" not in html
    html = client.get(reverse("training:catalog"), {"level": "basic"}).content.decode()
    assert "Russian basics" in html and "English expert" not in html
    html = client.get(reverse("training:catalog"), {"role": Role.PARTNER_ENGINEER}).content.decode()
    assert "Russian basics" in html and "English expert" not in html


def test_my_learning_shows_assigned_path(client_for, learner, course):
    path = LearningPathFactory(
        name="Engineer track", program_model=learner.partner.program_model, role=Role.PARTNER_ENGINEER
    )
    path.learningpathcourse_set.create(course=course, order=1, mandatory=True)
    LearningPathFactory(name="Sales track", role=Role.PARTNER_SALES)
    html = client_for(learner).get(reverse("training:my_learning")).content.decode()
    assert "Engineer track" in html and "Sales track" not in html


@pytest.mark.parametrize("n", [2, 8])
def test_list_pages_constant_queries(client_for, learner, django_assert_max_num_queries, n):
    for _ in range(n):
        c = CourseFactory()
        LessonFactory(course=c, order=1)
        enrollment_enrol(user=learner, course=c)
    client = client_for(learner)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("training:catalog")).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("training:my_learning")).status_code == 200


def test_every_training_page_needs_login_except_verification(client, db):
    from django.urls import get_resolver

    resolver = get_resolver()
    patterns = resolver.url_patterns
    training = next(p for p in patterns if getattr(p, "namespace", None) == "training")
    for pattern in training.url_patterns:
        kwargs = {name: "1" if name != "code" else "ABC" for name in pattern.pattern.regex.groupindex}
        url = reverse(f"training:{pattern.name}", kwargs=kwargs)
        response = client.get(url)
        if pattern.name == "certificate_verify":
            assert response.status_code == 404  # public, and the code is unknown
        else:
            assert response.status_code == 302 and "/login/" in response.url, url
