from django.contrib import admin

from . import models


class VersionInline(admin.TabularInline):
    model = models.ResourceVersion
    extra = 0
    readonly_fields = ["number", "file", "url", "uploaded_by", "created_at"]
    can_delete = False


@admin.register(models.Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "product", "language", "published_at", "is_archived"]
    list_filter = ["kind", "language", "is_archived"]
    search_fields = ["title", "product"]
    raw_id_fields = ["current_version", "created_by"]
    inlines = [VersionInline]


@admin.register(models.Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "published_at", "course", "take_by"]
    list_filter = ["kind"]
    search_fields = ["title"]


@admin.register(models.VendorSla)
class VendorSlaAdmin(admin.ModelAdmin):
    list_display = ["category", "response_hours", "resolution_hours", "timezone", "country", "work_start", "work_end"]


@admin.register(models.PartnerRequest)
class PartnerRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "partner", "category", "status", "owner", "response_due_at", "escalated_at"]
    list_filter = ["status", "category"]
    search_fields = ["subject", "partner__name"]
    raw_id_fields = ["partner", "opened_by", "owner"]
