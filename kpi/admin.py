from django.contrib import admin

from . import models


@admin.register(models.KpiSnapshot)
class KpiSnapshotAdmin(admin.ModelAdmin):
    list_display = ["partner", "date", "score", "accepted_in_sla_pct", "hygiene_pct", "win_rate_pct"]
    list_filter = ["date"]
    raw_id_fields = ["partner"]


@admin.register(models.TierChange)
class TierChangeAdmin(admin.ModelAdmin):
    list_display = ["partner", "kind", "from_tier", "to_tier", "effective_on", "actor"]
    list_filter = ["kind"]
    raw_id_fields = ["partner", "actor", "run"]


@admin.register(models.CommissionEntry)
class CommissionEntryAdmin(admin.ModelAdmin):
    """Read-only: the ledger is written by its services (accruals, penalties, adjustments on the portal's
    statement page, clawbacks, reimbursements), never typed in here."""

    list_display = [
        "entry_date",
        "partner",
        "kind",
        "status",
        "statement_period",
        "amount",
        "currency",
        "amount_reporting",
        "description",
    ]
    list_filter = ["kind", "status"]
    raw_id_fields = ["partner", "lead"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.NightlyRun)
class NightlyRunAdmin(admin.ModelAdmin):
    list_display = ["date", "status", "started_at", "finished_at", "attempts"]


admin.site.register(models.ScoreComponent, list_display=["name", "metric", "target", "max_points"])
admin.site.register(models.TierLock, raw_id_fields=["partner", "locked_by"])
admin.site.register(models.ExchangeRate, list_display=["currency", "valid_from", "rate"])


from kpi.funds.admin import *  # noqa: E402,F401,F403
from kpi.payouts.admin import *  # noqa: E402,F401,F403
