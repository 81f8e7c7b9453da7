from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from prm.forms import apply_service_errors
from prm.models import PARTNER_ROLES, VENDOR_ROLES, Role, User

from . import services
from .models import (
    Competency,
    ContactRole,
    Industry,
    Partner,
    PartnerStatus,
    PartnerType,
    ProgramModel,
    Region,
    SlaPolicy,
    Tier,
)

COUNTRIES = [
    ("RU", _("Russia")),
    ("BY", _("Belarus")),
    ("KZ", _("Kazakhstan")),
    ("AM", _("Armenia")),
    ("AT", _("Austria")),
    ("BE", _("Belgium")),
    ("CZ", _("Czechia")),
    ("DE", _("Germany")),
    ("ES", _("Spain")),
    ("FI", _("Finland")),
    ("FR", _("France")),
    ("IT", _("Italy")),
    ("NL", _("Netherlands")),
    ("PL", _("Poland")),
    ("SE", _("Sweden")),
]


class ApplicationForm(forms.Form):
    name = forms.CharField(label=_("Company"), max_length=200)
    legal_name = forms.CharField(label=_("Legal name"), max_length=300)
    country = forms.ChoiceField(label=_("Country"), choices=COUNTRIES, initial="RU")
    tax_id = forms.CharField(label=_("Tax id (INN / VAT number)"), max_length=32)
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    regions = forms.ModelMultipleChoiceField(label=_("Regions you serve"), queryset=Region.objects.all())
    competencies = forms.ModelMultipleChoiceField(
        label=_("Competencies"), queryset=Competency.objects.all(), required=False
    )
    industries = forms.ModelMultipleChoiceField(label=_("Industries"), queryset=Industry.objects.all(), required=False)
    program_model = forms.ChoiceField(label=_("Desired program model"), choices=ProgramModel.choices)
    partner_type = forms.ChoiceField(label=_("Partner type"), choices=PartnerType.choices)
    contact_name = forms.CharField(label=_("Your name"), max_length=200)
    contact_email = forms.EmailField(label=_("Your e-mail"))
    contact_phone = forms.CharField(label=_("Your phone"), max_length=40, required=False)

    def clean(self):
        data = super().clean()
        if data.get("country") and data.get("tax_id"):
            try:
                data["tax_id"] = services.tax_id_check(country=data["country"], tax_id=data["tax_id"])
            except ValidationError as exc:
                apply_service_errors(self, exc)
        return data


class StatusChangeForm(forms.Form):
    to_status = forms.ChoiceField(label=_("New status"), choices=PartnerStatus.choices)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, partner: Partner | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if partner is not None:
            allowed = services.TRANSITIONS.get(partner.status, ())
            self.fields["to_status"].choices = [(s, PartnerStatus(s).label) for s in allowed]


class AgreementForm(forms.Form):
    """Terms entered when a channel manager marks the agreement signed."""

    prefix = "agreement"
    number = forms.CharField(label=_("Agreement number"), max_length=40, required=False)
    sla_policy = forms.ModelChoiceField(label=_("SLA policy"), queryset=SlaPolicy.objects.all(), required=False)
    territory = forms.ModelMultipleChoiceField(label=_("Territory"), queryset=Region.objects.all(), required=False)
    commission_plan = forms.CharField(
        label=_("Commission plan"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    commission_rate_override = forms.DecimalField(
        label=_("Commission rate override (0-1)"),
        max_digits=5,
        decimal_places=4,
        required=False,
        min_value=0,
        max_value=1,
    )
    payout_currency = forms.RegexField(
        label=_("Payout currency"),
        regex=r"^[A-Za-z]{3}$",
        required=False,
        help_text=_("ISO code, e.g. USD; empty: the reporting currency."),
        error_messages={"invalid": _("Enter a three-letter currency code.")},
    )
    payout_hold_days = forms.IntegerField(
        label=_("Holding period, days"),
        required=False,
        min_value=0,
        max_value=365,
        help_text=_("Days after a win before commission is payable; empty: the program default."),
    )
    penalty_terms = forms.CharField(label=_("Penalties"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    starts_on = forms.DateField(label=_("Starts on"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label=_("Ends on"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    signed_by_partner = forms.CharField(label=_("Signed by (partner side)"), max_length=200, required=False)

    def terms(self) -> dict | None:
        """Terms for the service, or None when the form was left empty (a draft agreement is signed instead)."""
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "", [])}
        if data.get("payout_currency"):
            data["payout_currency"] = data["payout_currency"].upper()
        if not data:
            return None
        data.setdefault("territory", [])
        data["program_model"] = self.partner_model
        return data

    def __init__(self, *args, partner: Partner | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.partner_model = partner.program_model if partner else ""


class TierSetForm(forms.Form):
    tier = forms.ModelChoiceField(label=_("Tier"), queryset=Tier.objects.all(), required=False)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class AccountManagerForm(forms.Form):
    account_manager = forms.ModelChoiceField(
        label=_("Account manager"), queryset=User.objects.filter(role__in=VENDOR_ROLES, is_active=True), required=False
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class ContactForm(forms.Form):
    prefix = "contact"
    role = forms.ChoiceField(label=_("Responsible for"), choices=ContactRole.choices)
    name = forms.CharField(label=_("Name"), max_length=200)
    email = forms.EmailField(label=_("E-mail"))
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)


PARTNER_ROLE_CHOICES = [(r.value, r.label) for r in PARTNER_ROLES]


class TeamInviteForm(forms.Form):
    prefix = "invite"
    email = forms.EmailField(label=_("E-mail"))
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=PARTNER_ROLE_CHOICES, initial=Role.PARTNER_SALES)


class TeamRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=PARTNER_ROLE_CHOICES)


class ProfileForm(forms.Form):
    description = forms.CharField(
        label=_("About the company"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Rating"), coerce=int, choices=[(i, "★" * i) for i in range(5, 0, -1)], widget=forms.RadioSelect
    )
    text = forms.CharField(label=_("Your review"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)
    author_name = forms.CharField(label=_("Your name"), max_length=200)


class ModerationForm(forms.Form):
    decision = forms.ChoiceField(choices=[("publish", _("Publish")), ("reject", _("Reject"))])
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000)
