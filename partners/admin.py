from django.contrib import admin
from django.db import models as db_models

from . import models


@admin.register(models.Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "country", "timezone"]
    search_fields = ["code", "name"]


@admin.register(models.Competency, models.Industry)
class CodeNameAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


class TierRequirementInline(admin.TabularInline):
    model = models.TierRequirement
    extra = 0


@admin.register(models.Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["rank", "name", "commission_rate", "allocation_weight", "protection_days"]
    inlines = [TierRequirementInline]


# SlaPolicy is registered in leads.admin, next to the service that saves it (leads.services.policies).


class ContactInline(admin.TabularInline):
    model = models.PartnerContact
    extra = 0
    raw_id_fields = ["user"]


@admin.register(models.Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "tax_id", "program_model", "partner_type", "status", "tier", "account_manager"]
    list_filter = ["status", "program_model", "partner_type", "tier"]
    search_fields = ["name", "legal_name", "tax_id"]
    list_select_related = ["tier", "account_manager"]
    raw_id_fields = ["parent"]
    filter_horizontal = ["regions", "competencies", "industries"]
    # Status, tier and account manager change only through the audited services (the partner page).
    readonly_fields = ["status", "status_reason", "status_changed_at", "tier", "account_manager"]
    inlines = [ContactInline]
    formfield_overrides = {db_models.URLField: {"assume_scheme": "https"}}


@admin.register(models.Agreement)
class AgreementAdmin(admin.ModelAdmin):
    list_display = ["number", "partner", "program_model", "status", "starts_on", "ends_on"]
    list_filter = ["status", "program_model"]
    search_fields = ["number", "partner__name"]
    raw_id_fields = ["partner", "signed_by_vendor"]
    filter_horizontal = ["territory"]
    list_select_related = ["partner"]


@admin.register(models.CustomerReview)
class CustomerReviewAdmin(admin.ModelAdmin):
    list_display = ["partner", "rating", "status", "submitted_at", "moderated_by"]
    list_filter = ["status"]
    list_select_related = ["partner", "moderated_by"]
    search_fields = ["partner__name", "author_name", "text"]
    readonly_fields = ["token"]
    raw_id_fields = ["lead", "partner", "moderated_by"]


from partners.enablement import admin as enablement_admin  # noqa: E402,F401
