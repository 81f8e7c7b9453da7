from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from prm.files import file_download
from prm.permissions import (
    PartnerAdminRequiredMixin,
    PartnerRequiredMixin,
    SignedInMixin,
    VendorRequiredMixin,
    is_partner_user,
    is_vendor,
)
from prm.services import audit_trail, rate_limit_consume

from . import selectors, services
from .forms import (
    CatalogFilterForm,
    ChoiceFormSet,
    CourseForm,
    LearningPathCourseFormSet,
    LearningPathForm,
    LessonFormSet,
    PublishForm,
    QuestionForm,
    QuizForm,
    QuizTakeForm,
    ReportFilterForm,
)
from .models import Certification, Choice, Course, Enrollment, EnrollmentStatus, LearningPath, Lesson, Question, Quiz

# --- Partner staff: catalog, learning, quiz ------------------------------------------------------------------


class CatalogView(SignedInMixin, View):
    def get(self, request):
        form = CatalogFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        courses = selectors.course_catalog(viewer=request.user, filters=filters)
        page = Paginator(courses, 30).get_page(request.GET.get("page"))
        labels = dict(EnrollmentStatus.choices)
        for course in page.object_list:
            course.my_status_label = labels.get(getattr(course, "my_status", None), "")
        return render(
            request,
            "training/catalog.html",
            {
                "form": form,
                "page": page,
                "courses": page.object_list,
                "facets": selectors.catalog_facets(),
                "filters": {k: v for k, v in request.GET.items() if v},
            },
        )


class CourseDetailView(SignedInMixin, View):
    def get(self, request, pk):
        course = selectors.course_get(viewer=request.user, pk=pk)
        enrollment = None
        if is_partner_user(request.user):
            enrollment = Enrollment.objects.filter(user=request.user, course=course).first()
        done = set(enrollment.completed_lessons.values_list("pk", flat=True)) if enrollment else set()
        return render(
            request,
            "training/course_detail.html",
            {"course": course, "lessons": course.lessons.all(), "enrollment": enrollment, "done": done},
        )


class EnrolView(PartnerRequiredMixin, View):
    def post(self, request, pk):
        course = selectors.course_get(viewer=request.user, pk=pk)
        try:
            enrollment = services.enrollment_enrol(user=request.user, course=course)
        except ValidationError as e:
            messages.error(request, " ".join(e.messages))
            return redirect("training:course_detail", pk=course.pk)
        return redirect("training:enrollment_detail", pk=enrollment.pk)


class MyLearningView(PartnerRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "training/my_learning.html",
            {
                "enrollments": selectors.my_enrollments(user=request.user),
                "paths": selectors.learning_paths_for(user=request.user),
                "passed_course_ids": set(
                    Enrollment.objects.filter(user=request.user, status=EnrollmentStatus.PASSED).values_list(
                        "course_id", flat=True
                    )
                ),
                "certifications": Certification.objects.filter(user=request.user).select_related("type"),
                "today": timezone.localdate(),
            },
        )


class EnrollmentDetailView(SignedInMixin, View):
    def get(self, request, pk):
        enrollment = selectors.enrollment_get(viewer=request.user, pk=pk)
        lessons = list(enrollment.course.lessons.all())
        done = set(enrollment.completed_lessons.values_list("pk", flat=True))
        own = enrollment.user_id == request.user.pk
        return render(
            request,
            "training/enrollment_detail.html",
            {
                "enrollment": enrollment,
                "lessons": lessons,
                "done": done,
                "own": own,
                "attempts": enrollment.attempts.all(),
                "certification": Certification.objects.filter(
                    user=enrollment.user_id, course=enrollment.course_id, revoked_at__isnull=True
                )
                .order_by("-issued_on")
                .first(),
                "quiz": services.quiz_state(enrollment=enrollment) if own else None,
                "progress": round(100 * len(done) / len(lessons)) if lessons else 0,
            },
        )


class LessonView(PartnerRequiredMixin, View):
    def _load(self, request, pk, lesson_pk):
        enrollment = selectors.enrollment_get(viewer=request.user, pk=pk, own=True)
        lesson = get_object_or_404(Lesson, pk=lesson_pk, course_id=enrollment.course_id)
        return enrollment, lesson

    def get(self, request, pk, lesson_pk):
        enrollment, lesson = self._load(request, pk, lesson_pk)
        lessons = list(enrollment.course.lessons.all())
        index = next(i for i, item in enumerate(lessons) if item.pk == lesson.pk)
        return render(
            request,
            "training/lesson.html",
            {
                "enrollment": enrollment,
                "lesson": lesson,
                "previous": lessons[index - 1] if index > 0 else None,
                "next": lessons[index + 1] if index + 1 < len(lessons) else None,
                "is_done": enrollment.completed_lessons.filter(pk=lesson.pk).exists(),
            },
        )

    def post(self, request, pk, lesson_pk):
        enrollment, lesson = self._load(request, pk, lesson_pk)
        services.lesson_complete(enrollment=enrollment, lesson=lesson)
        following = enrollment.course.lessons.filter(order__gt=lesson.order).first()
        if following:
            return redirect("training:lesson", pk=enrollment.pk, lesson_pk=following.pk)
        return redirect("training:enrollment_detail", pk=enrollment.pk)


class LessonFileView(SignedInMixin, View):
    """Attachments go through the storage API and an access check, never a public media URL."""

    def get(self, request, lesson_pk):
        lesson = get_object_or_404(Lesson.objects.select_related("course"), pk=lesson_pk)
        allowed = is_vendor(request.user) or Enrollment.objects.filter(user=request.user, course=lesson.course).exists()
        if not allowed:
            raise Http404
        return file_download(lesson.attachment)


class QuizView(PartnerRequiredMixin, View):
    def _context(self, request, enrollment, form=None):
        quiz = get_object_or_404(Quiz, course=enrollment.course)
        # Only ids and texts are loaded: is_correct is never part of the page's data.
        questions = list(
            quiz.questions.prefetch_related(Prefetch("choices", queryset=Choice.objects.only("pk", "text", "question")))
        )
        form = form or QuizTakeForm(questions=questions)
        return {
            "enrollment": enrollment,
            "quiz": quiz,
            "form": form,
            "state": services.quiz_state(enrollment=enrollment),
        }

    def get(self, request, pk):
        enrollment = selectors.enrollment_get(viewer=request.user, pk=pk, own=True)
        return render(request, "training/quiz.html", self._context(request, enrollment))

    def post(self, request, pk):
        enrollment = selectors.enrollment_get(viewer=request.user, pk=pk, own=True)
        context = self._context(request, enrollment)
        form = QuizTakeForm(request.POST, questions=context["form"].questions)
        if not form.is_valid():
            context["form"] = form
            return render(request, "training/quiz.html", context)
        try:
            attempt = services.quiz_submit(enrollment=enrollment, answers=form.answers())
        except ValidationError as e:
            messages.error(request, " ".join(e.messages))
            return redirect("training:enrollment_detail", pk=enrollment.pk)
        if attempt.passed:
            messages.success(request, _("Passed with %(score)s%%.") % {"score": attempt.score})
        else:
            messages.warning(request, _("Not passed: %(score)s%%.") % {"score": attempt.score})
        return redirect("training:enrollment_detail", pk=enrollment.pk)


class CertificationListView(SignedInMixin, View):
    def get(self, request):
        certifications = selectors.certifications_visible(viewer=request.user).order_by("expires_on", "id")
        page = Paginator(certifications, 50).get_page(request.GET.get("page"))
        return render(
            request,
            "training/certifications.html",
            {"certifications": page, "page": page, "filters": {}, "today": timezone.localdate()},
        )


class CertificationRevokeView(VendorRequiredMixin, View):
    def post(self, request, pk):
        certification = get_object_or_404(Certification, pk=pk, revoked_at__isnull=True)
        try:
            services.certification_revoke(
                certification=certification, actor=request.user, reason=request.POST.get("reason", "")
            )
        except ValidationError as e:
            messages.error(request, " ".join(e.messages))
        else:
            messages.success(request, _("Certificate %(code)s revoked.") % {"code": certification.code})
        return redirect("training:certifications")


def certificate_verify(request, code):
    """Public: anyone holding the code can check a certificate. Shows no contact data; throttled per client."""
    client = f"user:{request.user.pk}" if request.user.is_authenticated else f"ip:{request.META.get('REMOTE_ADDR')}"
    if not rate_limit_consume(
        bucket=f"certificate-verify:{client}", limit=settings.PRM_CERTIFICATE_VERIFY_RATE, window_seconds=60
    ):
        response = render(request, "training/certificate_verify_throttled.html", status=429)
        response["Retry-After"] = "60"
        return response
    cert = selectors.certificate_by_code(code=code)
    return render(
        request,
        "training/certificate_verify.html",
        {"cert": cert, "status": cert.status_on(timezone.localdate())},
    )


# --- Partner admins ------------------------------------------------------------------------------------------


class TeamTrainingView(PartnerAdminRequiredMixin, View):
    def get(self, request):
        today = timezone.localdate()
        return render(
            request,
            "training/team.html",
            {"team": selectors.team_training_status(viewer=request.user, on=today), "today": today},
        )


# --- Channel managers: catalog building ----------------------------------------------------------------------


class CourseManageListView(VendorRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "training/manage_courses.html",
            {"courses": selectors.course_manage_list(), "paths": LearningPath.objects.all()},
        )


class CourseEditView(VendorRequiredMixin, View):
    """Course settings and its ordered lessons on one page."""

    def _render(self, request, course, form, lessons):
        return render(
            request,
            "training/manage_course.html",
            {"course": course, "form": form, "lessons": lessons, "audit": audit_trail(target=course) if course else []},
        )

    def get(self, request, pk=None):
        course = get_object_or_404(Course, pk=pk) if pk else None
        return self._render(request, course, CourseForm(instance=course), LessonFormSet(instance=course or Course()))

    def post(self, request, pk=None):
        course = get_object_or_404(Course, pk=pk) if pk else None
        form = CourseForm(request.POST, instance=course)
        lessons = LessonFormSet(request.POST, request.FILES, instance=course or Course())
        if not (form.is_valid() and lessons.is_valid()):
            return self._render(request, course, form, lessons)
        course = services.catalog_save(
            actor=request.user,
            form=form,
            formsets=[lessons],
            action="training.course_created" if pk is None else "training.course_changed",
        )
        messages.success(request, _("Saved."))
        return redirect("training:manage_course", pk=course.pk)


class QuizEditView(VendorRequiredMixin, View):
    def _render(self, request, course, form):
        quiz = Quiz.objects.filter(course=course).first()  # course.quiz may be the unsaved instance of the form
        questions = quiz.questions.prefetch_related("choices") if quiz else []
        return render(
            request,
            "training/manage_quiz.html",
            {"course": course, "quiz": quiz, "form": form, "questions": questions},
        )

    def get(self, request, pk):
        course = get_object_or_404(Course, pk=pk)
        return self._render(request, course, QuizForm(instance=getattr(course, "quiz", None)))

    def post(self, request, pk):
        course = get_object_or_404(Course, pk=pk)
        quiz = getattr(course, "quiz", None) or Quiz(course=course)
        form = QuizForm(request.POST, instance=quiz)
        if not form.is_valid():
            return self._render(request, course, form)
        services.catalog_save(actor=request.user, form=form, action="training.quiz_changed")
        messages.success(request, _("Saved."))
        return redirect("training:manage_quiz", pk=course.pk)


class QuestionEditView(VendorRequiredMixin, View):
    def _load(self, course_pk, pk):
        quiz = get_object_or_404(Quiz.objects.select_related("course"), course_id=course_pk)
        question = get_object_or_404(Question, pk=pk, quiz=quiz) if pk else Question(quiz=quiz)
        return quiz, question

    def _render(self, request, quiz, question, form, choices):
        return render(
            request,
            "training/manage_question.html",
            {"course": quiz.course, "question": question, "form": form, "choices": choices},
        )

    def get(self, request, course_pk, pk=None):
        quiz, question = self._load(course_pk, pk)
        if not pk:
            question.order = quiz.questions.count() + 1
        return self._render(request, quiz, question, QuestionForm(instance=question), ChoiceFormSet(instance=question))

    def post(self, request, course_pk, pk=None):
        quiz, question = self._load(course_pk, pk)
        form = QuestionForm(request.POST, instance=question)
        choices = ChoiceFormSet(request.POST, instance=question)
        if not (form.is_valid() and choices.is_valid()):
            return self._render(request, quiz, question, form, choices)
        services.catalog_save(actor=request.user, form=form, formsets=[choices], action="training.question_saved")
        messages.success(request, _("Saved."))
        return redirect("training:manage_quiz", pk=quiz.course_id)


class QuestionDeleteView(VendorRequiredMixin, View):
    def post(self, request, course_pk, pk):
        question = get_object_or_404(Question.objects.select_related("quiz__course"), pk=pk, quiz__course_id=course_pk)
        services.question_delete(question=question, actor=request.user)
        return redirect("training:manage_quiz", pk=course_pk)


class CoursePublishView(VendorRequiredMixin, View):
    def _render(self, request, course, form):
        return render(request, "training/manage_publish.html", {"course": course, "form": form})

    def get(self, request, pk):
        course = get_object_or_404(Course, pk=pk)
        return self._render(request, course, PublishForm(initial={"bump": "none"}))

    def post(self, request, pk):
        course = get_object_or_404(Course, pk=pk)
        form = PublishForm(request.POST)
        if form.is_valid():
            try:
                course = services.course_publish(course=course, actor=request.user, **form.cleaned_data)
            except ValidationError as e:
                form.add_error(None, e)
            else:
                messages.success(request, _("Published as version %(v)s.") % {"v": course.version})
                return redirect("training:manage_course", pk=course.pk)
        return self._render(request, course, form)


class CourseArchiveView(VendorRequiredMixin, View):
    def post(self, request, pk):
        services.course_archive(course=get_object_or_404(Course, pk=pk), actor=request.user)
        return redirect("training:manage_courses")


class LearningPathEditView(VendorRequiredMixin, View):
    def _render(self, request, path, form, courses):
        return render(request, "training/manage_path.html", {"path": path, "form": form, "courses": courses})

    def get(self, request, pk=None):
        path = get_object_or_404(LearningPath, pk=pk) if pk else None
        return self._render(
            request, path, LearningPathForm(instance=path), LearningPathCourseFormSet(instance=path or LearningPath())
        )

    def post(self, request, pk=None):
        path = get_object_or_404(LearningPath, pk=pk) if pk else None
        form = LearningPathForm(request.POST, instance=path)
        courses = LearningPathCourseFormSet(request.POST, instance=path or LearningPath())
        if not (form.is_valid() and courses.is_valid()):
            return self._render(request, path, form, courses)
        services.catalog_save(actor=request.user, form=form, formsets=[courses], action="training.path_saved")
        messages.success(request, _("Saved."))
        return redirect(reverse("training:manage_courses") + "#paths")


# --- Channel managers: reports -------------------------------------------------------------------------------


class ReportsView(VendorRequiredMixin, View):
    def get(self, request):
        today = timezone.localdate()
        form = ReportFilterForm(request.GET or None)
        filters = {}
        if form.is_valid():
            data = form.cleaned_data
            filters = {
                "competency": data["competency"].code if data["competency"] else None,
                "region": data["region"].code if data["region"] else None,
                "partner": data["partner"].pk if data["partner"] else None,
            }
        rows = selectors.certified_people_report(filters=filters, on=today)
        completion = selectors.course_completion_rates()
        by_competency: dict[str, int] = {}
        for r in rows:
            name = r["type__competency__name"]
            by_competency[name] = by_competency.get(name, 0) + r["people"]
        chart = {
            "competency": {"labels": list(by_competency), "values": list(by_competency.values())},
            "completion": {"labels": [c["title"] for c in completion], "values": [c["rate"] for c in completion]},
        }
        return render(
            request,
            "training/reports.html",
            {"form": form, "rows": rows, "completion": completion, "chart": chart, "today": today},
        )
