"""Forms for step 4: stage moves, activities, co-selling."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import ActivityKind, Lead, Stage
from leads.services.deals import DEAL_EDITABLE, deal_owner_choices
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


class DealEditForm(forms.ModelForm):
    """The deal's record as its owner keeps it; saving goes through leads.services.deals.deal_update."""

    class Meta:
        model = Lead
        fields = list(DEAL_EDITABLE)
        widgets = {
            "expected_close": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "currency": forms.TextInput(attrs={"maxlength": 3, "size": 3, "class": "text-uppercase"}),
        }
        labels = {
            "contact_name": _("Customer contact"),
            "contact_email": _("Contact e-mail"),
            "contact_phone": _("Contact phone"),
            "products": _("Products"),
            "value": _("Value"),
            "currency": _("Currency"),
            "expected_close": _("Expected close"),
            "notes": _("Notes"),
            "owner": _("Owner"),
        }

    def __init__(self, *args, lead: Lead, **kwargs):
        super().__init__(*args, instance=lead, **kwargs)
        self.fields["owner"].queryset = deal_owner_choices(lead=lead)
        self.fields["owner"].required = False

    def _post_clean(self):
        """The service validates and writes; the form only parses (no model save or full_clean here)."""

    def changes(self) -> dict:
        return {f: self.cleaned_data[f] for f in self.Meta.fields if f in self.cleaned_data}
