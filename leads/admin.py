from django.contrib import admin

from . import models


@admin.register(models.Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "tax_id", "domain", "region", "reserved_for_direct"]
    list_filter = ["reserved_for_direct", "size"]
    search_fields = ["name", "tax_id", "domain"]


@admin.register(models.Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "customer",
        "partner",
        "kind",
        "source",
        "stage",
        "value",
        "currency",
        "created_at",
    ]
    list_filter = ["stage", "kind", "source"]
    search_fields = ["title", "customer__name", "external_id"]
    list_select_related = ["customer", "partner"]
    raw_id_fields = ["customer", "partner", "owner"]


@admin.register(models.Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = ["lead", "partner", "status", "protected_until", "decision_rule"]
    list_filter = ["status"]
    list_select_related = ["lead", "partner"]
    raw_id_fields = ["lead", "partner", "submitted_by", "decided_by"]


@admin.register(models.Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ["lead", "partner", "status", "offered_at", "deadline"]
    list_filter = ["status"]
    list_select_related = ["lead", "partner"]
    raw_id_fields = ["lead", "partner", "decision", "responded_by"]


@admin.register(models.Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "subject", "lead", "partner"]
    list_filter = ["kind"]
    raw_id_fields = ["lead", "partner", "user"]


admin.site.register(models.RoutingDecision, raw_id_fields=["lead", "chosen", "actor"])
admin.site.register(models.ProtectionWindow, list_display=["key_kind", "key", "partner", "active", "ends_at"])
admin.site.register(models.CoSell, raw_id_fields=["lead", "partner"])


# Deal registration
admin.site.register(
    models.RegistrationPolicy, list_display=["program_model", "auto_approve", "protection_days", "extension_days"]
)
admin.site.register(
    models.RegistrationDecision,
    list_display=["registration", "status", "rule", "actor", "at"],
    raw_id_fields=["registration", "actor"],
)


@admin.register(models.RoutingWeights)
class RoutingWeightsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "tier_points", "sla_points", "win_rate_points", "rating_points", "spare_capacity_points"]

    def has_add_permission(self, request):
        return not models.RoutingWeights.objects.exists()


@admin.register(models.AvailabilityCheck)
class AvailabilityCheckAdmin(admin.ModelAdmin):
    list_display = ["at", "partner", "user", "tax_id", "domain", "name", "result"]
    list_filter = ["result"]
    list_select_related = ["partner", "user"]
    raw_id_fields = ["partner", "user"]


@admin.register(models.Dispute)
class DisputeAdmin(admin.ModelAdmin):
    list_display = ["pk", "partner", "status", "outcome", "due_at", "escalated_at", "decided_at"]
    list_filter = ["status", "outcome"]
    list_select_related = ["partner"]
    raw_id_fields = ["partner", "opened_by", "registration", "held_registration", "decided_by"]


@admin.register(models.LeadReclaim)
class LeadReclaimAdmin(admin.ModelAdmin):
    list_display = ["lead", "partner", "reason", "flagged_at", "reclaim_due", "cleared_at", "reclaimed_at"]
    list_filter = ["reason"]
    list_select_related = ["lead", "partner"]
    raw_id_fields = ["lead", "partner"]


from leads.delivery import admin as delivery_admin  # noqa: E402,F401
