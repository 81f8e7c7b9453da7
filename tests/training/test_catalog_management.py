import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from training.models import Choice, Course, Lesson, Question, Quiz, validate_lesson_file

from .factories import CourseFactory, QuizFactory


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _course_data(**overrides):
    data = {
        "title": "Security basics",
        "product": "Platform",
        "level": "basic",
        "language": "en",
        "audience_role": "partner_engineer",
        "duration_minutes": "90",
        "description": "",
        "grants": "",
        "lessons-TOTAL_FORMS": "1",
        "lessons-INITIAL_FORMS": "0",
        "lessons-MIN_NUM_FORMS": "0",
        "lessons-MAX_NUM_FORMS": "1000",
        "lessons-0-order": "1",
        "lessons-0-title": "Welcome",
        "lessons-0-body": "Hello",
        "lessons-0-url": "",
    }
    data.update(overrides)
    return data


def test_channel_manager_creates_course_with_lesson_file(client_for, channel_manager):
    pdf = SimpleUploadedFile("intro.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    response = client_for(channel_manager).post(
        reverse("training:manage_course_create"), {**_course_data(), "lessons-0-attachment": pdf}
    )
    assert response.status_code == 302
    course = Course.objects.get(title="Security basics")
    lesson = course.lessons.get()
    assert lesson.attachment.name.startswith("lessons/intro")
    assert lesson.attachment.storage.exists(lesson.attachment.name)


def test_bad_course_input_shows_field_errors(client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("training:manage_course_create"), _course_data(title="", duration_minutes="-5")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "title" in form.errors and "duration_minutes" in form.errors
    assert not Course.objects.exists()
    assert "Welcome" in response.content.decode()  # the lesson the user typed is not lost


def test_wrong_file_type_is_a_field_error(client_for, channel_manager):
    exe = SimpleUploadedFile("setup.exe", b"MZ", content_type="application/octet-stream")
    response = client_for(channel_manager).post(
        reverse("training:manage_course_create"), {**_course_data(), "lessons-0-attachment": exe}
    )
    assert response.status_code == 200
    errors = response.context["lessons"].forms[0].errors
    assert "attachment" in errors and "Unsupported file type" in str(errors["attachment"])
    assert not Lesson.objects.exists()


def test_oversized_file_is_a_field_error(client_for, channel_manager, monkeypatch):
    monkeypatch.setattr(validate_lesson_file, "max_bytes", 10)
    big = SimpleUploadedFile("deck.pptx", b"x" * 11)
    response = client_for(channel_manager).post(
        reverse("training:manage_course_create"), {**_course_data(), "lessons-0-attachment": big}
    )
    assert response.status_code == 200
    assert "50 MB" in str(response.context["lessons"].forms[0].errors["attachment"])


def test_file_at_size_limit_is_accepted(client_for, channel_manager, monkeypatch):
    monkeypatch.setattr(validate_lesson_file, "max_bytes", 10)
    ok = SimpleUploadedFile("slides.png", b"x" * 10)
    response = client_for(channel_manager).post(
        reverse("training:manage_course_create"), {**_course_data(), "lessons-0-attachment": ok}
    )
    assert response.status_code == 302


def test_duplicate_lesson_order_is_an_error(client_for, channel_manager):
    data = _course_data(**{"lessons-TOTAL_FORMS": "2", "lessons-1-order": "1", "lessons-1-title": "Again"})
    response = client_for(channel_manager).post(reverse("training:manage_course_create"), data)
    assert response.status_code == 200
    assert not Course.objects.exists()


def _question_data(kind, correct_flags, texts=None):
    texts = texts or [f"Answer {i}" for i in range(len(correct_flags))]
    data = {
        "order": "1",
        "kind": kind,
        "text": "What?",
        "choices-TOTAL_FORMS": str(len(texts)),
        "choices-INITIAL_FORMS": "0",
        "choices-MIN_NUM_FORMS": "0",
        "choices-MAX_NUM_FORMS": "1000",
    }
    for i, (text, correct) in enumerate(zip(texts, correct_flags, strict=True)):
        data[f"choices-{i}-text"] = text
        if correct:
            data[f"choices-{i}-is_correct"] = "on"
    return data


@pytest.mark.parametrize(
    ("kind", "flags", "message"),
    [
        ("single", [True, True], "exactly one correct"),
        ("single", [False, False], "exactly one correct"),
        ("multiple", [False, False, False], "at least one correct"),
        ("single", [True], "at least two choices"),
    ],
)
def test_invalid_questions_are_rejected(client_for, channel_manager, kind, flags, message):
    quiz = QuizFactory(course=CourseFactory())
    response = client_for(channel_manager).post(
        reverse("training:manage_question_create", args=[quiz.course_id]), _question_data(kind, flags)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Question.objects.exists()


def test_multiple_choice_question_saved(client_for, channel_manager):
    quiz = QuizFactory(course=CourseFactory())
    response = client_for(channel_manager).post(
        reverse("training:manage_question_create", args=[quiz.course_id]),
        _question_data("multiple", [True, True, False]),
    )
    assert response.status_code == 302
    question = Question.objects.get()
    assert question.choices.filter(is_correct=True).count() == 2


def test_quiz_settings_validation(client_for, channel_manager):
    course = CourseFactory()
    client = client_for(channel_manager)
    url = reverse("training:manage_quiz", args=[course.pk])
    response = client.post(url, {"passing_score": "120", "attempt_limit": "0", "cooldown_minutes": "10"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"passing_score", "attempt_limit"}
    assert client.post(url, {"passing_score": "70", "attempt_limit": "2", "cooldown_minutes": "10"}).status_code == 302
    assert Quiz.objects.get(course=course).passing_score == 70


def test_learning_path_created_with_ordered_courses(client_for, channel_manager):
    a, b = CourseFactory(), CourseFactory()
    data = {
        "name": "Engineer onboarding",
        "program_model": "full_cycle",
        "role": "partner_engineer",
        "description": "",
        "learningpathcourse_set-TOTAL_FORMS": "2",
        "learningpathcourse_set-INITIAL_FORMS": "0",
        "learningpathcourse_set-MIN_NUM_FORMS": "0",
        "learningpathcourse_set-MAX_NUM_FORMS": "1000",
        "learningpathcourse_set-0-order": "1",
        "learningpathcourse_set-0-course": str(a.pk),
        "learningpathcourse_set-0-mandatory": "on",
        "learningpathcourse_set-1-order": "2",
        "learningpathcourse_set-1-course": str(b.pk),
    }
    response = client_for(channel_manager).post(reverse("training:manage_path_create"), data)
    assert response.status_code == 302
    from training.models import LearningPath

    path = LearningPath.objects.get()
    links = list(path.learningpathcourse_set.order_by("order").values_list("course_id", "mandatory"))
    assert links == [(a.pk, True), (b.pk, False)]


@pytest.mark.parametrize(
    "name",
    ["training:manage_courses", "training:manage_course_create", "training:reports", "training:manage_path_create"],
)
def test_vendor_pages_forbidden_for_partner_and_redirect_anonymous(client, client_for, partner_admin, name):
    url = reverse(name)
    assert client.get(url).status_code == 302
    assert client_for(partner_admin).get(url).status_code == 403


def test_vendor_pages_render(client_for, channel_manager, course):
    client = client_for(channel_manager)
    for url in [
        reverse("training:manage_courses"),
        reverse("training:manage_course", args=[course.pk]),
        reverse("training:manage_quiz", args=[course.pk]),
        reverse("training:manage_question", args=[course.pk, course.q_single.pk]),
        reverse("training:manage_question_create", args=[course.pk]),
        reverse("training:manage_publish", args=[course.pk]),
        reverse("training:manage_path_create"),
        reverse("training:course_detail", args=[course.pk]),
        reverse("training:catalog"),
        reverse("training:certifications"),
    ]:
        assert client.get(url).status_code == 200, url


def test_delete_question(client_for, channel_manager, course):
    client_for(channel_manager).post(reverse("training:manage_question_delete", args=[course.pk, course.q_single.pk]))
    assert not Question.objects.filter(pk=course.q_single.pk).exists()
    assert not Choice.objects.filter(question_id=course.q_single.pk).exists()
