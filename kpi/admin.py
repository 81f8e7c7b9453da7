from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from . import models
from .services.tiers import tier_change, tier_change_check, tier_lock_release, tier_lock_set


@admin.register(models.KpiSnapshot)
class KpiSnapshotAdmin(admin.ModelAdmin):
    list_display = ["partner", "date", "score", "accepted_in_sla_pct", "hygiene_pct", "win_rate_pct"]
    list_filter = ["date"]
    raw_id_fields = ["partner"]


class ManualTierChangeForm(forms.ModelForm):
    """The admin's door to a manual tier change: the same service and checks as the partner page."""

    note = forms.CharField(widget=forms.Textarea, label="Reason")

    class Meta:
        model = models.TierChange
        fields = ["partner", "to_tier"]

    def clean(self):
        data = super().clean()
        if data.get("partner"):
            try:
                tier_change_check(
                    partner=data["partner"],
                    kind=models.TierChangeKind.MANUAL,
                    to_tier=data.get("to_tier"),
                    note=data.get("note", ""),
                )
            except ValidationError as exc:
                raise ValidationError(
                    {
                        ("note" if k == "reason" else "to_tier" if k == "tier" else None): v
                        for k, v in exc.message_dict.items()
                    }
                ) from exc
        return data


@admin.register(models.TierChange)
class TierChangeAdmin(admin.ModelAdmin):
    """Decisions are append-only: "add" makes a manual change through `tier_change`; nothing is edited."""

    list_display = ["partner", "kind", "from_tier", "to_tier", "effective_on", "actor"]
    list_filter = ["kind"]
    raw_id_fields = ["partner", "actor", "run"]
    readonly_fields = [f.name for f in models.TierChange._meta.fields]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ManualTierChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        return ["partner", "to_tier", "note"] if obj is None else super().get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        made = tier_change(
            partner=form.cleaned_data["partner"],
            to_tier=form.cleaned_data["to_tier"],
            kind=models.TierChangeKind.MANUAL,
            actor=request.user,
            note=form.cleaned_data["note"],
        )
        obj.pk = made.pk

    def save_related(self, request, form, formsets, change):
        pass


class TierLockAdminForm(forms.ModelForm):
    class Meta:
        model = models.TierLock
        fields = ["partner", "tier", "until", "reason"]

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until < timezone.localdate():
            raise ValidationError(_("The end date must not be in the past."))
        return until


@admin.register(models.TierLock)
class TierLockAdmin(admin.ModelAdmin):
    """Locks are set through `tier_lock_set` (its tier change, audit and webhook) and released by the action."""

    list_display = ["partner", "tier", "until", "locked_by", "released_at"]
    raw_id_fields = ["partner", "locked_by"]
    form = TierLockAdminForm
    actions = ["release"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        lock = tier_lock_set(partner=obj.partner, tier=obj.tier, until=obj.until, reason=obj.reason, actor=request.user)
        obj.pk = lock.pk

    @admin.action(description="Release the selected locks")
    def release(self, request, queryset):
        for lock in queryset.filter(released_at__isnull=True):
            tier_lock_release(lock=lock, actor=request.user)
        messages.success(request, "Released.")


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


class ExchangeRateAdminForm(forms.ModelForm):
    class Meta:
        model = models.ExchangeRate
        fields = ["currency", "valid_from", "rate"]

    def clean(self):
        from kpi.services.rates import exchange_rate_check

        data = super().clean()
        if data.get("currency") and data.get("rate") is not None:
            try:
                data["currency"], data["rate"] = exchange_rate_check(currency=data["currency"], rate=data["rate"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return data


@admin.register(models.ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    """Rates are added, never edited (converted amounts keep their rate): through the same service as the page."""

    form = ExchangeRateAdminForm
    list_display = ["currency", "valid_from", "rate"]

    def has_change_permission(self, request, obj=None):
        return obj is None  # the list, not an existing rate

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from kpi.services.rates import exchange_rate_add

        obj.pk = exchange_rate_add(
            currency=obj.currency, valid_from=obj.valid_from, rate=obj.rate, actor=request.user
        ).pk


from kpi.funds.admin import *  # noqa: E402,F401,F403
from kpi.payouts.admin import *  # noqa: E402,F401,F403
