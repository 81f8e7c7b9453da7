from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import models
from .dispatch import ticket_dispatch


@admin.register(models.SlaTemplate)
class SlaTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "coverage", "onsite_included", "credit_pct_per_breach", "penalty_per_breach", "published"]
    list_filter = ["published", "coverage"]


@admin.register(models.ServiceContract)
class ServiceContractAdmin(admin.ModelAdmin):
    list_display = ["__str__", "customer", "partner", "coverage", "starts_on", "ends_on"]
    list_filter = ["coverage"]
    list_select_related = ["customer", "partner"]
    raw_id_fields = ["customer", "partner", "lead", "template", "support_owner"]


class MilestoneInline(admin.TabularInline):
    model = models.Milestone
    extra = 0
    raw_id_fields = ["owner"]
    readonly_fields = ["done_at", "late_flagged_at"]


@admin.register(models.Implementation)
class ImplementationAdmin(admin.ModelAdmin):
    """Read-mostly: changes go through the portal so they are audited; go-live only by the customer's sign-off."""

    list_display = ["lead", "partner", "owner", "planned_go_live", "status", "signed_off_at"]
    list_filter = ["status"]
    list_select_related = ["lead", "partner", "owner"]
    raw_id_fields = ["lead", "partner", "customer", "owner", "team"]
    readonly_fields = ["status", "signed_off_at", "signed_off_by"]
    inlines = [MilestoneInline]


class ClockInline(admin.TabularInline):
    model = models.TicketClock
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "kind",
        "state",
        "target_seconds",
        "elapsed_seconds",
        "due_at",
        "warned_at",
        "breached_at",
        "stopped_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Status and priority change through the portal or the API (the clocks follow them there)."""

    list_display = ["__str__", "partner", "customer", "priority", "kind", "status", "created_at"]
    list_filter = ["status", "priority", "kind", "source"]
    list_select_related = ["partner", "customer"]
    raw_id_fields = ["partner", "customer", "contract", "opened_by"]
    readonly_fields = ["status", "priority", "resolved_at", "closed_at", "reopen_count", "rating", "rated_at"]
    inlines = [ClockInline]
    actions = ["dispatch_onsite"]

    @admin.action(description=_("Dispatch to a field partner"))
    def dispatch_onsite(self, request, queryset):
        """The same rule as the ticket page and the API (leads.delivery.dispatch.ticket_dispatch)."""
        for ticket in queryset:
            try:
                ticket_dispatch(ticket=ticket, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"#{ticket.pk}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"#{ticket.pk}: {_('dispatched')}", messages.SUCCESS)


@admin.register(models.Dispatch)
class DispatchAdmin(admin.ModelAdmin):
    list_display = ["ticket", "work_order", "partner", "created_at"]
    list_select_related = ["ticket", "work_order", "partner"]
    raw_id_fields = ["ticket", "work_order", "partner", "created_by"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    """Answers come only from the customer's one-time link."""

    list_display = ["implementation", "partner", "day", "due_on", "invited_at", "rating", "answered_at"]
    list_filter = ["day"]
    list_select_related = ["implementation__lead", "partner"]
    raw_id_fields = ["implementation", "partner"]
    readonly_fields = ["rating", "comment", "author_name", "consent_publish", "answered_at", "invited_at"]


@admin.register(models.ServiceReport)
class ServiceReportAdmin(admin.ModelAdmin):
    list_display = ["customer", "partner", "month", "email", "sent_at"]
    raw_id_fields = ["customer", "partner"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.ClockEvent)
class ClockEventAdmin(admin.ModelAdmin):
    list_display = ["clock", "action", "at", "elapsed_seconds", "due_at", "actor"]
    list_filter = ["action"]
    raw_id_fields = ["clock", "actor"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.ServiceCredit)
class ServiceCreditAdmin(admin.ModelAdmin):
    list_display = ["contract", "ticket", "reason", "percent", "amount", "currency", "occurred_on"]
    list_filter = ["reason"]
    raw_id_fields = ["contract", "ticket", "clock", "partner"]


@admin.register(models.CustomerLink)
class CustomerLinkAdmin(admin.ModelAdmin):
    list_display = ["customer", "partner", "email", "created_at", "expires_at", "revoked_at"]
    raw_id_fields = ["customer", "partner", "created_by"]
