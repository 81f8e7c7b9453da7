"""Forms for step 3: registering a deal and deciding a registration."""

from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.customers import customer_name_clean, domain_from, tax_id_clean
from leads.models import CompanySize
from partners.models import Industry, Region


class DealRegistrationForm(forms.Form):
    customer_name = forms.CharField(label=_("Customer company"), max_length=300)
    tax_id = forms.CharField(label=_("Tax id (INN / VAT)"), max_length=32, required=False)
    website = forms.CharField(label=_("Website"), max_length=200, required=False)
    region = forms.ModelChoiceField(label=_("Region"), queryset=Region.objects.all(), required=False)
    industry = forms.ModelChoiceField(label=_("Industry"), queryset=Industry.objects.all(), required=False)
    size = forms.ChoiceField(label=_("Company size"), choices=[("", "—"), *CompanySize.choices], required=False)
    contact_name = forms.CharField(label=_("Contact person"), max_length=200)
    contact_email = forms.EmailField(label=_("Contact e-mail"))
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=40, required=False)
    title = forms.CharField(label=_("Deal title"), max_length=200)
    products = forms.CharField(label=_("Products"), max_length=300)
    value = forms.DecimalField(label=_("Estimated value"), max_digits=14, decimal_places=2, min_value=Decimal("0"))
    currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in ("RUB", "EUR", "USD", "KZT", "BYN")])
    expected_close = forms.DateField(label=_("Expected close"), widget=forms.DateInput(attrs={"type": "date"}))
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_customer_name(self):
        return customer_name_clean(self.cleaned_data["customer_name"])

    def clean_tax_id(self):
        return tax_id_clean(self.cleaned_data["tax_id"])

    def clean_expected_close(self):
        value = self.cleaned_data["expected_close"]
        if value < timezone.localdate():
            raise forms.ValidationError(_("The expected close date is in the past."))
        return value

    def clean(self):
        data = super().clean()
        # A customer must be identifiable by more than its name: a tax id, or a company website/e-mail domain.
        identified = data.get("tax_id") or domain_from(
            website=data.get("website", ""), email=data.get("contact_email", "")
        )
        if not self.errors and not identified:
            self.add_error(
                "tax_id",
                _("Give the tax id, or a company website or e-mail (free-mail addresses do not identify a company)."),
            )
        return data


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Why do you withdraw the registration?"), max_length=300)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    reason = forms.CharField(label=_("Reason"), max_length=1000)
