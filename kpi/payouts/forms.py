from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from partners.models import Partner


class AdjustmentForm(forms.Form):
    partner = forms.ModelChoiceField(Partner.objects.order_by("name"), label=_("Partner"))
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2, help_text=_("Negative to deduct."))
    currency = forms.CharField(label=_("Currency"), max_length=3, initial=settings.PRM_REPORTING_CURRENCY)
    reason = forms.CharField(label=_("Reason (shown on the statement)"), max_length=300)


class PayForm(forms.Form):
    payment_reference = forms.CharField(label=_("Payment reference"), max_length=120)


class CloseMonthForm(forms.Form):
    """The vendor closes a month by hand (the monthly job does the same on the 2nd)."""

    period = forms.DateField(
        label=_("Month to close"),
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        error_messages={"invalid": _("Enter a month as YYYY-MM.")},
    )
