from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import Metric, Tier
from prm.l10n import number_format

from .rules import METRIC_FIELDS


class WhatIfForm(forms.Form):
    """Override any metric (blank keeps today's value); people per competency for the tiers that ask for them."""

    def __init__(self, *args, values: dict, competencies, **kwargs):
        super().__init__(*args, **kwargs)
        for metric in METRIC_FIELDS:
            current = values.get(metric)
            self.fields[metric] = forms.DecimalField(
                label=Metric(metric).label,
                required=False,
                min_value=0,
                max_digits=16,
                decimal_places=2,
                help_text=_("Now: %(v)s") % {"v": number_format(current) if current is not None else "—"},
            )
        for comp in competencies:
            current = values.get("by_competency", {}).get(comp.code, 0)
            self.fields[f"people_{comp.code}"] = forms.IntegerField(
                label=_("Certified people in %(c)s") % {"c": comp.name},
                required=False,
                min_value=0,
                help_text=_("Now: %(v)s") % {"v": current},
            )

    def overrides(self) -> dict:
        out = {"by_competency": {}}
        for name, value in self.cleaned_data.items():
            if value is None:
                continue
            if name.startswith("people_"):
                out["by_competency"][name.removeprefix("people_")] = value
            else:
                out[name] = value
        return out


class TierLockForm(forms.Form):
    tier = forms.ModelChoiceField(queryset=Tier.objects.order_by("rank"), label=_("Tier"))
    until = forms.DateField(label=_("Locked until"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))
