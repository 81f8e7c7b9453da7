from django.contrib import admin

from . import models


class LessonInline(admin.StackedInline):
    model = models.Lesson
    extra = 0


@admin.register(models.Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "product",
        "level",
        "language",
        "version",
        "status",
        "grants",
        "is_mandatory_onboarding",
    ]
    list_filter = ["status", "level", "language", "is_mandatory_onboarding"]
    search_fields = ["title", "product"]
    inlines = [LessonInline]


class ChoiceInline(admin.TabularInline):
    model = models.Choice
    extra = 0


@admin.register(models.Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["quiz", "order", "text", "kind"]
    inlines = [ChoiceInline]


@admin.register(models.Certification)
class CertificationAdmin(admin.ModelAdmin):
    list_display = ["code", "type", "user", "partner", "issued_on", "expires_on", "revoked_at"]
    list_filter = ["type"]
    search_fields = ["code", "user__email", "partner__name"]
    raw_id_fields = ["user", "partner", "course"]


@admin.register(models.Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["user", "course", "partner", "status", "completed_at"]
    list_filter = ["status"]
    raw_id_fields = ["user", "partner"]


class LearningPathCourseInline(admin.TabularInline):
    model = models.LearningPathCourse
    extra = 0


@admin.register(models.LearningPath)
class LearningPathAdmin(admin.ModelAdmin):
    list_display = ["name", "program_model", "role"]
    inlines = [LearningPathCourseInline]


admin.site.register(models.CertificationType)
admin.site.register(models.Quiz)
