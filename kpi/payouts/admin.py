from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from ..models import CommissionRate, DistributorOverride, Statement
from .services import statement_approve

__all__ = ["StatementAdmin"]


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    """Totals are frozen by the close and the status moves only through the services (the action below)."""

    list_display = ["period", "partner", "status", "total", "currency", "payment_reference"]
    list_filter = ["status", "period"]
    raw_id_fields = ["partner"]
    actions = ["approve"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Approve the selected closed statements"))
    def approve(self, request, queryset):
        for statement in queryset:
            statement_approve(statement=statement, actor=request.user)
        self.message_user(request, _("Approved."), messages.SUCCESS)


admin.site.register(
    CommissionRate, list_display=["tier", "lead_kind", "product_line", "min_value", "valid_from", "rate"]
)
admin.site.register(
    DistributorOverride, list_display=["distributor", "valid_from", "percent"], raw_id_fields=["distributor"]
)
