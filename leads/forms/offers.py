"""Forms for step 2: declining an offer, withdrawing and assigning by hand."""

from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import Partner, PartnerStatus


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("Why do you decline?"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class AssignForm(ReasonForm):
    partner = forms.ModelChoiceField(label=_("Partner"), queryset=Partner.objects.filter(status=PartnerStatus.ACTIVE))

    field_order = ["partner", "reason"]
