"""Forms for step 4: stage moves, activities, co-selling."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import ActivityKind, Stage
from partners.models import Partner, PartnerStatus


class StageForm(forms.Form):
    to_stage = forms.ChoiceField(label=_("Move to"), choices=Stage.choices)
    lost_reason = forms.CharField(label=_("Lost reason"), max_length=300, required=False)


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=ActivityKind.choices)
    occurred_at = forms.DateTimeField(
        label=_("When"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class CoSellForm(forms.Form):
    """Up to three co-sellers with their share; the owning partner keeps the remainder."""

    ROWS = 3

    def __init__(self, *args, lead, **kwargs):
        super().__init__(*args, **kwargs)
        partners = (
            Partner.objects.filter(status=PartnerStatus.ACTIVE)
            .exclude(pk=lead.partner_id)
            .only("id", "name")
            .order_by("name")
        )
        for i in range(self.ROWS):
            self.fields[f"partner_{i}"] = forms.ModelChoiceField(
                label=_("Co-seller"), queryset=partners, required=False
            )
            self.fields[f"share_{i}"] = forms.DecimalField(
                label=_("Share, %"), max_digits=5, decimal_places=2, required=False, min_value=Decimal("0.01")
            )
            self.fields[f"role_{i}"] = forms.CharField(label=_("Role"), max_length=120, required=False)

    def clean(self):
        data = super().clean()
        shares, roles = {}, {}
        for i in range(self.ROWS):
            partner, share = data.get(f"partner_{i}"), data.get(f"share_{i}")
            if partner is None and share is None:
                continue
            if partner is None or share is None:
                self.add_error(f"share_{i}", _("Give both the partner and its share."))
                continue
            if partner in shares:
                self.add_error(f"partner_{i}", _("This partner is listed twice."))
                continue
            shares[partner] = share
            roles[partner] = data.get(f"role_{i}", "")
        data["shares"], data["roles"] = shares, roles
        return data
