from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from leads.customers import customer_find, customer_name_clean, customer_save, tax_id_clean
from leads.services.deals import deal_stage_change
from leads.services.offers import offer_withdraw
from leads.services.policies import SLA_FIELDS, sla_policy_save
from leads.services.registration import registration_approve, registration_reject
from leads.services.routing import lead_route
from partners.models import SlaPolicy

from . import models

# Rule 7: what the admin may do. Fields that a service owns (a lead's stage and partner, a registration's or an
# offer's status, a customer's key, protection windows) are read-only here; changing them is an admin action that
# calls the service, so the audit row, the webhook and the protection change happen as from the portal.

ADMIN_REASON = _("Decided in the Django admin.")


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = models.Customer
        fields = [
            "name",
            "country",
            "tax_id",
            "domain",
            "region",
            "industry",
            "size",
            "reserved_for_direct",
            "reserved_reason",
        ]

    def clean_name(self):
        return customer_name_clean(self.cleaned_data["name"])

    def clean(self):
        data = super().clean()
        if "tax_id" in data and "country" in data:
            try:
                data["tax_id"] = tax_id_clean(data["tax_id"], data["country"])
            except ValidationError as exc:
                self.add_error("tax_id", exc)
        if not self.errors:
            existing, matched_by = customer_find(
                name=data["name"],
                tax_id=data.get("tax_id", ""),
                domain=data.get("domain", ""),
                country=data.get("country", "RU"),
                exclude_pk=self.instance.pk,
            )
            if existing is not None:
                raise ValidationError(
                    _("This is customer #%(id)s «%(name)s» (same %(key)s): edit that one instead.")
                    % {"id": existing.pk, "name": existing.name, "key": matched_by}
                )
        return data


@admin.register(models.Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = ["name", "normalized_name", "tax_id", "domain", "region", "reserved_for_direct"]
    list_filter = ["reserved_for_direct", "size"]
    search_fields = ["name", "normalized_name", "tax_id", "domain"]
    readonly_fields = ["normalized_name"]

    def save_model(self, request, obj, form, change):
        customer_save(customer=obj, actor=request.user)


def _each(modeladmin, request, queryset, call) -> None:
    done = 0
    for obj in queryset:
        try:
            call(obj)
            done += 1
        except ValidationError as exc:
            modeladmin.message_user(request, f"{obj}: {' '.join(exc.messages)}", level=messages.ERROR)
    if done:
        modeladmin.message_user(request, _("%(n)s done.") % {"n": done}, level=messages.SUCCESS)


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
    search_fields = ["title", "customer__name", "customer_name", "external_id"]
    list_select_related = ["customer", "partner"]
    raw_id_fields = ["owner"]
    readonly_fields = [
        "customer",
        "customer_name",
        "partner",
        "stage",
        "source",
        "offered_at",
        "accepted_at",
        "first_contact_due",
        "first_contact_at",
        "last_activity_at",
        "won_at",
        "closed_at",
        "route_failures",
    ]
    actions = ["route", "mark_lost"]

    def has_add_permission(self, request):
        return False  # leads come in through the lead form, the CSV import, the API or a registration

    @admin.action(description=_("Route the selected new leads"))
    def route(self, request, queryset):
        _each(
            self,
            request,
            queryset.filter(stage=models.Stage.NEW),
            lambda lead: lead_route(lead=lead, actor=request.user),
        )

    @admin.action(description=_("Mark the selected deals lost"))
    def mark_lost(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda lead: deal_stage_change(
                lead=lead, to_stage=models.Stage.LOST, actor=request.user, lost_reason=str(ADMIN_REASON)
            ),
        )


@admin.register(models.Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = ["lead", "partner", "status", "protected_until", "decision_rule"]
    list_filter = ["status"]
    list_select_related = ["lead", "partner"]
    raw_id_fields = ["submitted_by"]
    readonly_fields = [
        "lead",
        "partner",
        "status",
        "protected_from",
        "protected_until",
        "extended",
        "expiry_warned_at",
        "decided_at",
        "decided_by",
        "decision_rule",
        "decision_reason",
        "matches",
    ]
    actions = ["approve", "reject"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Approve the selected registrations"))
    def approve(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda reg: registration_approve(registration=reg, actor=request.user, reason=str(ADMIN_REASON)),
        )

    @admin.action(description=_("Reject the selected registrations"))
    def reject(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda reg: registration_reject(registration=reg, actor=request.user, reason=str(ADMIN_REASON)),
        )


@admin.register(models.Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ["lead", "partner", "status", "offered_at", "deadline"]
    list_filter = ["status"]
    list_select_related = ["lead", "partner"]
    readonly_fields = [
        "lead",
        "partner",
        "decision",
        "status",
        "offered_at",
        "deadline",
        "responded_at",
        "responded_by",
        "reason",
    ]
    actions = ["withdraw"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Withdraw the selected pending offers"))
    def withdraw(self, request, queryset):
        _each(
            self,
            request,
            queryset.filter(status=models.OfferStatus.PENDING),
            lambda offer: offer_withdraw(offer=offer, actor=request.user, reason=str(ADMIN_REASON)),
        )


@admin.register(models.ProtectionWindow)
class ProtectionWindowAdmin(admin.ModelAdmin):
    """Windows are written by the registration service only."""

    list_display = ["key_kind", "key", "partner", "active", "ends_at"]
    list_filter = ["key_kind", "active"]
    search_fields = ["key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "subject", "lead", "partner"]
    list_filter = ["kind"]
    raw_id_fields = ["lead", "partner", "user"]


admin.site.register(models.RoutingDecision, raw_id_fields=["lead", "chosen", "actor"])
admin.site.register(models.CoSell, raw_id_fields=["lead", "partner"])


# Deal registration
@admin.register(models.RegistrationPolicy)
class RegistrationPolicyAdmin(admin.ModelAdmin):
    list_display = ["program_model", "auto_approve", "protection_days", "extension_days"]

    def save_model(self, request, obj, form, change):
        """The configuration page's service: the same validation and the same audit row."""
        from leads.services.policies import REGISTRATION_FIELDS, registration_policy_save

        values = {f: form.cleaned_data[f] for f in REGISTRATION_FIELDS if f in form.cleaned_data}
        obj.pk = registration_policy_save(program_model=obj.program_model, values=values, actor=request.user).pk


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

    def save_model(self, request, obj, form, change):
        """The configuration page's service: the same validation and the same audit row."""
        from leads.services.policies import WEIGHT_FIELDS, routing_weights_update

        values = {f: form.cleaned_data[f] for f in WEIGHT_FIELDS if f in form.cleaned_data}
        obj.pk = routing_weights_update(values=values, actor=request.user).pk


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


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    """The SLA policies (a partners model) the pipeline's clocks read; registered here, beside their service."""

    list_display = ["name", "accept_within_hours", "first_contact_within_hours", "deal_update_days"]

    def save_model(self, request, obj, form, change):
        """The configuration page's service: the same validation and the same audit row."""
        values = {f: form.cleaned_data[f] for f in SLA_FIELDS if f in form.cleaned_data}
        before = SlaPolicy.objects.get(pk=obj.pk) if change else None
        obj.pk = sla_policy_save(policy=before, values=values, actor=request.user).pk


from leads.delivery import admin as delivery_admin  # noqa: E402,F401
