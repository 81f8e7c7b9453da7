"""Forms for step 2: filtering routing decisions."""

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import ROUTING_RULE_LABELS
from partners.models import Region


class DecisionFilterForm(forms.Form):
    """Filters for recent routing decisions on the channel-manager queue page."""

    rule = forms.ChoiceField(
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
        choices=[
            ("", _("Any rule")),
            *((rule, label) for rule, label in ROUTING_RULE_LABELS.items() if rule != "dispute_transfer"),
        ],
    )
    region = forms.ModelChoiceField(
        required=False,
        queryset=Region.objects.all(),
        empty_label=_("Any region"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    q = forms.CharField(required=False, max_length=100)

    def filters(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if v} if self.is_valid() else {}
