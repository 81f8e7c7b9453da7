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
