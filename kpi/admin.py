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
    list_display = ["entry_date", "partner", "kind", "amount", "currency", "amount_reporting", "description"]
    list_filter = ["kind"]
    raw_id_fields = ["partner", "lead"]


@admin.register(models.NightlyRun)
class NightlyRunAdmin(admin.ModelAdmin):
    list_display = ["date", "status", "started_at", "finished_at", "attempts"]


admin.site.register(models.ScoreComponent, list_display=["name", "metric", "target", "max_points"])
admin.site.register(models.TierLock, raw_id_fields=["partner", "locked_by"])
admin.site.register(models.ExchangeRate, list_display=["currency", "valid_from", "rate"])
