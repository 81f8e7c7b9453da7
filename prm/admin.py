from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import AuditEvent, Notification, SsoDomain, User
from .services import audit_record


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role", "partner", "is_active"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name", "partner__name"]
    list_select_related = ["partner"]
    autocomplete_fields = ["partner"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "phone", "job_title")}),
        ("Role", {"fields": ("role", "partner", "is_channel_lead", "email_events")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "role", "partner", "password1", "password2")}),)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        watched = {"role", "partner", "is_staff", "is_superuser", "is_active"}
        changed = sorted(watched & set(form.changed_data))
        if changed:
            audit_record(
                actor=request.user,
                action="security.role_changed" if change else "security.user_created",
                target=obj,
                partner=obj.partner,
                data={field: str(form.cleaned_data.get(field)) for field in changed},
            )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "action", "actor", "partner", "content_type", "object_id", "reason"]
    list_filter = ["action", "content_type"]
    search_fields = ["action", "reason", "object_id"]
    list_select_related = ["actor", "partner", "content_type"]
    date_hierarchy = "at"

    def has_change_permission(self, request, obj=None):
        return False  # the audit trail is append-only

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at", "emailed_at"]
    list_filter = ["kind"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


@admin.register(SsoDomain)
class SsoDomainAdmin(admin.ModelAdmin):
    """Which identity provider (Social applications: OpenID Connect or SAML) signs in which e-mail domain."""

    list_display = ["domain", "app", "partner"]
    list_select_related = ["app", "partner"]
    search_fields = ["domain", "partner__name"]
    autocomplete_fields = ["partner"]
