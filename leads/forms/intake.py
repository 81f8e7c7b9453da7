"""Forms for step 1: the vendor lead form and the CSV import."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from leads.customers import customer_name_clean, tax_id_clean
from leads.models import LeadKind
from partners.models import Competency, Region


class LeadForm(forms.Form):
    """A channel manager enters a vendor lead; it is routed as soon as it is saved."""

    title = forms.CharField(label=_("Lead"), max_length=200)
    customer_name = forms.CharField(label=_("Customer"), max_length=300)
    customer_tax_id = forms.CharField(label=_("Customer tax id"), max_length=32, required=False)
    customer_domain = forms.CharField(label=_("Customer web domain"), max_length=120, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=LeadKind.choices)
    region = forms.ModelChoiceField(label=_("Region"), queryset=Region.objects.all())
    competencies = forms.ModelMultipleChoiceField(
        label=_("Needed competencies"), queryset=Competency.objects.all(), required=False
    )
    value = forms.DecimalField(label=_("Estimated value"), min_value=0, max_digits=14, decimal_places=2, required=False)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="RUB")
    contact_name = forms.CharField(label=_("Contact person"), max_length=200, required=False)
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=40, required=False)
    products = forms.CharField(label=_("Products"), max_length=300, required=False)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_customer_name(self):
        return customer_name_clean(self.cleaned_data["customer_name"])

    def clean_customer_tax_id(self):
        return tax_id_clean(self.cleaned_data["customer_tax_id"])


class LeadRowForm(forms.Form):
    """One CSV row. Regions and competencies are given by code; competencies separated by ';'."""

    title = forms.CharField(max_length=200)
    customer = forms.CharField(max_length=300)
    tax_id = forms.CharField(max_length=32, required=False)
    domain = forms.CharField(max_length=120, required=False)
    kind = forms.ChoiceField(choices=LeadKind.choices)
    region = forms.CharField(max_length=40)
    competencies = forms.CharField(required=False)
    value = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2, required=False)
    currency = forms.CharField(max_length=3, required=False)
    contact_name = forms.CharField(max_length=200, required=False)
    contact_email = forms.EmailField(required=False)
    contact_phone = forms.CharField(max_length=40, required=False)
    products = forms.CharField(max_length=300, required=False)
    external_id = forms.CharField(max_length=100, required=False)

    def __init__(self, *args, regions: dict | None = None, competencies: dict | None = None, **kwargs):
        """`regions` and `competencies` by code, loaded once for a whole file (default: all of them)."""
        super().__init__(*args, **kwargs)
        self.regions = regions if regions is not None else {r.code: r for r in Region.objects.all()}
        self.known = competencies if competencies is not None else {c.code: c for c in Competency.objects.all()}

    def clean_customer(self):
        return customer_name_clean(self.cleaned_data["customer"])

    def clean_tax_id(self):
        return tax_id_clean(self.cleaned_data["tax_id"])

    def clean_region(self):
        return _row_region(self.cleaned_data["region"], self.regions)

    def clean_competencies(self):
        return _row_competencies(self.cleaned_data["competencies"], self.known)


def _row_region(code: str, regions: dict):
    region = regions.get(code)
    if region is None:
        raise forms.ValidationError(_("Select a valid choice. That choice is not one of the available choices."))
    return region


def _row_competencies(text: str, known: dict) -> list:
    codes = sorted({c.strip() for c in text.split(";") if c.strip()})
    found = [known[c] for c in codes if c in known]
    unknown = set(codes) - {c.code for c in found}
    if unknown:
        raise forms.ValidationError(_("Unknown competency: %(codes)s") % {"codes": ", ".join(sorted(unknown))})
    return found


_ROW_HOOKS = {
    "customer": lambda value, regions, known: customer_name_clean(value),
    "tax_id": lambda value, regions, known: tax_id_clean(value),
    "region": lambda value, regions, known: _row_region(value, regions),
    "competencies": lambda value, regions, known: _row_competencies(value, known),
}


def lead_row_clean(*, data: dict, regions: dict, competencies: dict) -> tuple[dict, dict[str, list[str]]]:
    """One CSV row checked as LeadRowForm checks it – the same fields, hooks and messages – without building a form
    per row (a file has 100,000 rows): (cleaned data, errors by field in field order; empty when the row is good)."""
    cleaned, errors = {}, {}
    for name, field in LeadRowForm.base_fields.items():
        try:
            value = field.clean(data.get(name))
            if hook := _ROW_HOOKS.get(name):
                value = hook(value, regions, competencies)
        except ValidationError as exc:
            errors[name] = exc.messages
        else:
            cleaned[name] = value
    return cleaned, errors


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8 or Windows-1251, separated by commas, semicolons or tabs, with a header row: title, customer, "
            "kind, region (required); tax_id, domain, competencies (codes separated by ';'), value, currency, "
            "contact_name, contact_email, contact_phone, products, external_id. The template lists the valid codes."
        ),
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > 5 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        # Binary content and the encoding (UTF-8, Windows-1251) are judged by the import itself (one rule).
        return f
