"""API for the course catalogue, enrollments and certifications."""

from rest_framework import serializers

from prm.api_base import ReadOnlyScopedViewSet, SyncFilterSet
from training.models import Certification, Course, Enrollment


class CourseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Course
        fields = [
            "id",
            "title",
            "product",
            "level",
            "language",
            "audience_role",
            "duration_minutes",
            "description",
            "version_major",
            "version_minor",
            "status",
            "grants",
            "is_mandatory_onboarding",
            "created_at",
            "updated_at",
        ]


class EnrollmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = [
            "id",
            "user",
            "partner",
            "course",
            "status",
            "completed_at",
            "course_version",
            "created_at",
            "updated_at",
        ]


class CertificationSerializer(serializers.ModelSerializer):
    type = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Certification
        fields = [
            "id",
            "type",
            "user",
            "partner",
            "code",
            "issued_on",
            "expires_on",
            "revoked_at",
            "revoked_reason",
            "course_version",
            "created_at",
            "updated_at",
        ]


class CourseFilter(SyncFilterSet):
    class Meta:
        model = Course
        fields = ["level", "language", "status"]


class EnrollmentFilter(SyncFilterSet):
    class Meta:
        model = Enrollment
        fields = ["status", "course", "user"]


class CertificationFilter(SyncFilterSet):
    class Meta:
        model = Certification
        fields = ["user", "expires_on"]


class CourseViewSet(ReadOnlyScopedViewSet):
    resource = "courses"
    serializer_class = CourseSerializer
    filterset_class = CourseFilter
    queryset = Course.objects.all()


class EnrollmentViewSet(ReadOnlyScopedViewSet):
    resource = "enrollments"
    serializer_class = EnrollmentSerializer
    filterset_class = EnrollmentFilter
    queryset = Enrollment.objects.all()


class CertificationViewSet(ReadOnlyScopedViewSet):
    resource = "certifications"
    serializer_class = CertificationSerializer
    filterset_class = CertificationFilter
    queryset = Certification.objects.select_related("type")
