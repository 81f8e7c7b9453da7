from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
    path("courses/<int:pk>/", views.CourseDetailView.as_view(), name="course_detail"),
    path("courses/<int:pk>/enrol/", views.EnrolView.as_view(), name="enrol"),
    path("my/", views.MyLearningView.as_view(), name="my_learning"),
    path("enrollments/<int:pk>/", views.EnrollmentDetailView.as_view(), name="enrollment_detail"),
    path("enrollments/<int:pk>/lessons/<int:lesson_pk>/", views.LessonView.as_view(), name="lesson"),
    path("enrollments/<int:pk>/quiz/", views.QuizView.as_view(), name="quiz"),
    path("lessons/<int:lesson_pk>/file/", views.LessonFileView.as_view(), name="lesson_file"),
    path("certifications/", views.CertificationListView.as_view(), name="certifications"),
    path("certifications/<int:pk>/revoke/", views.CertificationRevokeView.as_view(), name="certification_revoke"),
    path("verify/<str:code>/", views.certificate_verify, name="certificate_verify"),
    path("team/", views.TeamTrainingView.as_view(), name="team"),
    path("reports/", views.ReportsView.as_view(), name="reports"),
    path("manage/", views.CourseManageListView.as_view(), name="manage_courses"),
    path("manage/courses/new/", views.CourseEditView.as_view(), name="manage_course_create"),
    path("manage/courses/<int:pk>/", views.CourseEditView.as_view(), name="manage_course"),
    path("manage/courses/<int:pk>/quiz/", views.QuizEditView.as_view(), name="manage_quiz"),
    path(
        "manage/courses/<int:course_pk>/questions/new/", views.QuestionEditView.as_view(), name="manage_question_create"
    ),
    path(
        "manage/courses/<int:course_pk>/questions/<int:pk>/", views.QuestionEditView.as_view(), name="manage_question"
    ),
    path(
        "manage/courses/<int:course_pk>/questions/<int:pk>/delete/",
        views.QuestionDeleteView.as_view(),
        name="manage_question_delete",
    ),
    path("manage/courses/<int:pk>/publish/", views.CoursePublishView.as_view(), name="manage_publish"),
    path("manage/courses/<int:pk>/archive/", views.CourseArchiveView.as_view(), name="manage_archive"),
    path("manage/paths/new/", views.LearningPathEditView.as_view(), name="manage_path_create"),
    path("manage/paths/<int:pk>/", views.LearningPathEditView.as_view(), name="manage_path"),
]
