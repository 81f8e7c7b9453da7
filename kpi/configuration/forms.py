"""Forms of the program configuration pages: they translate input; the rules live in the services."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _


class SlaPolicyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    accept_within_hours = forms.DecimalField(
        label=_("Accept an offer within (business hours)"), min_value=Decimal("0.25"), max_value=9999, decimal_places=2
    )
    first_contact_within_hours = forms.DecimalField(
        label=_("First contact within (business hours)"), min_value=Decimal("0.25"), max_value=9999, decimal_places=2
    )
    deal_update_days = forms.IntegerField(label=_("Update a deal at least every (days)"), min_value=1, max_value=365)
    working_hours_start = forms.TimeField(label=_("Working day starts"), widget=forms.TimeInput(attrs={"type": "time"}))
    working_hours_end = forms.TimeField(label=_("Working day ends"), widget=forms.TimeInput(attrs={"type": "time"}))
    penalty_per_breach = forms.DecimalField(label=_("Penalty per breach"), min_value=0, max_digits=12, decimal_places=2)
    penalty_currency = forms.RegexField(
        label=_("Penalty currency"), regex=r"^[A-Za-z]{3}$", max_length=3,
        error_messages={"invalid": _("Enter a three-letter currency code (ISO 4217), e.g. USD.")},
    )  # fmt: skip
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_penalty_currency(self):
        return self.cleaned_data["penalty_currency"].upper()

    def clean(self):
        data = super().clean()
        start, end = data.get("working_hours_start"), data.get("working_hours_end")
        if start and end and start >= end:
            self.add_error("working_hours_end", _("The working day must end after it starts."))
        return data


class RegistrationPolicyForm(forms.Form):
    auto_approve = forms.BooleanField(label=_("Approve conflict-free registrations at once"), required=False)
    protection_days = forms.IntegerField(
        label=_("Protection (days) for partners without a tier length"), min_value=1, max_value=3650, required=False,
        help_text=_("Tiers with their own protection length keep it."),
    )  # fmt: skip
    extension_days = forms.IntegerField(label=_("Extension (days)"), min_value=1, max_value=3650)


class RoutingWeightsForm(forms.Form):
    tier_points = forms.IntegerField(label=_("Points per unit of tier allocation weight"), min_value=0, max_value=10000)
    sla_points = forms.IntegerField(label=_("Points for an SLA score of 100%"), min_value=0, max_value=10000)
    win_rate_points = forms.IntegerField(label=_("Points for a 100% win rate"), min_value=0, max_value=10000)
    rating_points = forms.IntegerField(label=_("Points for a customer rating of 5"), min_value=0, max_value=10000)
    spare_capacity_points = forms.IntegerField(
        label=_("Points for a partner with no open routed leads"), min_value=0, max_value=10000
    )


class ExchangeRateForm(forms.Form):
    currency = forms.CharField(label=_("Currency"), max_length=3, min_length=3)
    valid_from = forms.DateField(label=_("Valid from"), widget=forms.DateInput(attrs={"type": "date"}))
    rate = forms.DecimalField(
        label=_("Rate to the reporting currency"), min_value=Decimal("0.000001"), max_digits=14, decimal_places=6
    )

    def clean_currency(self):
        return self.cleaned_data["currency"].strip().upper()
