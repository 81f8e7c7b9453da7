from django.shortcuts import render
from django.utils import timezone
from django.views import View

from prm.permissions import SignedInMixin, scope_for

from .models import Certification, Course, CourseStatus


class CatalogView(SignedInMixin, View):
    def get(self, request):
        courses = Course.objects.filter(status=CourseStatus.PUBLISHED).select_related("grants").order_by("title")
        return render(request, "training/catalog.html", {"courses": courses})


class CertificationListView(SignedInMixin, View):
    def get(self, request):
        certifications = scope_for(
            Certification.objects.select_related("type", "user", "partner"), request.user
        ).order_by("expires_on")[:500]
        return render(
            request,
            "training/certifications.html",
            {"certifications": certifications, "today": timezone.localdate()},
        )
