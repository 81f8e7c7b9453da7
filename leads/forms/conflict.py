from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import DisputeOutcome, Registration, validate_dispute_file


class AvailabilityForm(forms.Form):
    tax_id = forms.CharField(label=_("Tax id"), max_length=32, required=False)
    domain = forms.CharField(label=_("Domain or e-mail"), max_length=200, required=False)
    name = forms.CharField(label=_("Company name"), max_length=300, required=False)

    def clean(self):
        data = super().clean()
        if not any((data.get(k) or "").strip() for k in ("tax_id", "domain", "name")):
            raise ValidationError(_("Enter a tax id, a domain or e-mail, or a company name."))
        return data


class DisputeForm(forms.Form):
    registration = forms.ModelChoiceField(
        label=_("Your registration"), queryset=Registration.objects.none(), required=False
    )
    customer_name = forms.CharField(label=_("Customer company (if no registration)"), max_length=300, required=False)
    tax_id = forms.CharField(label=_("Customer tax id (if no registration)"), max_length=32, required=False)
    first_contact_date = forms.DateField(
        label=_("Your first contact with the customer"), widget=forms.DateInput(attrs={"type": "date"})
    )
    description = forms.CharField(label=_("What happened"), widget=forms.Textarea(attrs={"rows": 5}))
    attachment = forms.FileField(
        label=_("Evidence"),
        required=False,
        validators=[validate_dispute_file],
        help_text=_("pdf, docx, xlsx, png, jpg or zip; up to 20 MB."),
    )

    def __init__(self, *args, partner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["registration"].queryset = Registration.objects.filter(partner=partner).select_related("lead")

    def clean_first_contact_date(self):
        value = self.cleaned_data["first_contact_date"]
        if value > timezone.localdate():
            raise ValidationError(_("The first contact cannot be in the future."))
        return value

    def clean(self):
        data = super().clean()
        if not data.get("registration") and not (data.get("customer_name") or data.get("tax_id")):
            self.add_error("registration", _("Choose one of your registrations or name the customer."))
        return data


class DisputeDecisionForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Decision"), choices=DisputeOutcome.choices, widget=forms.RadioSelect)
    share = forms.DecimalField(
        label=_("Co-sell share of the disputing partner, %"),
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        required=False,
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if data.get("outcome") == DisputeOutcome.COSELL and data.get("share") is None:
            self.add_error("share", _("Give the disputing partner's share."))
        return data
