from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from partners.models import Partner, ProgramModel, Region, Tier

from .models import PROOF_EXTENSIONS, ActivityType, Allocation

DATE = forms.DateInput(attrs={"type": "date"})


class BudgetForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    period_start = forms.DateField(label=_("Period start"), widget=DATE)
    period_end = forms.DateField(label=_("Period end"), widget=DATE)
    amount = forms.DecimalField(label=_("Amount"), min_value=0.01, max_digits=14, decimal_places=2)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial=settings.PRM_REPORTING_CURRENCY)
    region = forms.ModelChoiceField(Region.objects.order_by("name"), required=False, label=_("Region"))
    program_model = forms.ChoiceField(
        choices=[("", _("Any"))] + list(ProgramModel.choices), required=False, label=_("Program model")
    )


class AllocationForm(forms.Form):
    partner = forms.ModelChoiceField(Partner.objects.order_by("name"), label=_("Partner"))
    amount = forms.DecimalField(label=_("Amount"), min_value=0, max_digits=14, decimal_places=2)


class AllocationRuleForm(forms.Form):
    amount_each = forms.DecimalField(label=_("Amount per partner"), min_value=0.01, max_digits=14, decimal_places=2)
    program_models = forms.MultipleChoiceField(
        choices=ProgramModel.choices, required=False, widget=forms.CheckboxSelectMultiple, label=_("Program models")
    )
    min_tier_rank = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label=_("Minimum tier"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["min_tier_rank"].choices = [("", _("Every tier"))] + [
            (t.rank, _("%(tier)s and above") % {"tier": t.name}) for t in Tier.objects.order_by("rank")
        ]


class FundRequestForm(forms.Form):
    allocation = forms.ModelChoiceField(Allocation.objects.none(), label=_("Fund"))
    activity_type = forms.ChoiceField(choices=ActivityType.choices, label=_("Activity"))
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    starts_on = forms.DateField(label=_("Starts on"), widget=DATE)
    ends_on = forms.DateField(label=_("Ends on"), widget=DATE)
    planned_cost = forms.DecimalField(label=_("Planned cost"), max_digits=14, decimal_places=2)
    requested_amount = forms.DecimalField(label=_("Requested funds"), max_digits=14, decimal_places=2)
    expected_leads = forms.IntegerField(label=_("Expected leads"), min_value=0, initial=0)
    expected_pipeline = forms.DecimalField(label=_("Expected pipeline"), max_digits=16, decimal_places=2, initial=0)

    def __init__(self, *args, partner, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["allocation"].queryset = Allocation.objects.filter(
            partner=partner, expired_amount__isnull=True
        ).select_related("budget")
        self.fields["allocation"].label_from_instance = lambda a: f"{a.budget} ({a.available} {a.budget.currency})"


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))], label=_("Decision"))
    approved_amount = forms.DecimalField(
        label=_("Approved amount"), required=False, max_digits=14, decimal_places=2, help_text=_("Empty: in full.")
    )
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ClaimForm(forms.Form):
    amount = forms.DecimalField(label=_("Actual cost claimed"), max_digits=14, decimal_places=2)
    proof = forms.FileField(
        label=_("Proof of performance"), help_text=_("Up to 20 MB: %(t)s.") % {"t": ", ".join(PROOF_EXTENSIONS)}
    )
    leads_generated = forms.IntegerField(label=_("Leads generated"), min_value=0, initial=0)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class LeadLinkForm(forms.Form):
    lead = forms.IntegerField(label=_("Deal number"), min_value=1)
