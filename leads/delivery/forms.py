from django import forms
from django.utils.translation import gettext_lazy as _

from prm.models import User

from .models import Coverage, Priority, ServiceContract, TicketKind, TicketStatus


class TicketForm(forms.Form):
    contract = forms.ModelChoiceField(queryset=ServiceContract.objects.none(), label=_("Contract"))
    title = forms.CharField(max_length=200, label=_("Title"))
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label=_("Description"))
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.P3, label=_("Priority"))
    kind = forms.ChoiceField(choices=TicketKind.choices, label=_("Kind"))
    contact_name = forms.CharField(max_length=200, required=False, label=_("Customer contact"))

    def __init__(self, *args, contracts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contract"].queryset = contracts
        self.fields["contract"].label_from_instance = lambda c: f"{c.customer} — {c.number or c.pk}"


class CustomerTicketForm(TicketForm):
    """The customer's form on the status page: no kind (the partner classifies), a contact name."""

    kind = None
    contact_name = forms.CharField(max_length=200, label=_("Your name"))

    def __init__(self, *args, contracts, **kwargs):
        super().__init__(*args, contracts=contracts, **kwargs)
        self.fields["contract"].label_from_instance = lambda c: c.number or f"#{c.pk}"
        self.fields["contract"].empty_label = None  # most customers have one contract: it is preselected


class TicketFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", _("Any status")), *TicketStatus.choices], required=False)
    priority = forms.ChoiceField(choices=[("", _("Any priority")), *Priority.choices], required=False)
    open = forms.BooleanField(required=False, label=_("Open"))
    breached = forms.BooleanField(required=False, label=_("Breached"))


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=TicketStatus.choices)


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices)


def _staff(partner_id):
    return User.objects.filter(partner_id=partner_id, is_active=True).order_by("last_name", "first_name", "email")


class ImplementationForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label=_("Owner"))
    team = forms.ModelMultipleChoiceField(queryset=User.objects.none(), required=False, label=_("Team"))
    planned_go_live = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("Planned go-live")
    )

    def __init__(self, *args, partner_id, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = self.fields["team"].queryset = _staff(partner_id)


class MilestoneForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Milestone"))
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label=_("Due on"))
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label=_("Owner"))

    def __init__(self, *args, partner_id, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _staff(partner_id)


class ContractForm(forms.Form):
    number = forms.CharField(max_length=40, required=False, label=_("Number"))
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label=_("Starts on"))
    ends_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("Ends on"))
    coverage = forms.ChoiceField(
        choices=[("", _("As in the vendor's SLA")), *Coverage.choices], required=False, label=_("Coverage")
    )
    monthly_fee = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, label=_("Monthly fee"))
    currency = forms.RegexField(r"^[A-Z]{3}$", initial="RUB", label=_("Currency"))
    support_owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label=_("Support owner"))

    def __init__(self, *args, partner_id, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["support_owner"].queryset = _staff(partner_id)


class LinkForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=365, initial=30, label=_("Valid for (days)"))
    email = forms.EmailField(required=False, label=_("Customer e-mail"))


class SignOffForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Your name"))


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        choices=[(i, "★" * i) for i in range(5, 0, -1)], coerce=int, widget=forms.RadioSelect, label=_("Rating")
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label=_("Comment"))


class CheckInForm(RatingForm):
    author_name = forms.CharField(max_length=200, required=False, label=_("Your name"))
    consent_publish = forms.BooleanField(
        required=False, label=_("Publish my rating and comment as a review of the partner (after moderation)")
    )
