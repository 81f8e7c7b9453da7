from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import ProgramModel, Tier
from prm.models import VENDOR_ROLES, User
from training.models import Course, CourseStatus

from .models import (
    FILE_EXTENSIONS,
    PARTNER_ROLE_CHOICES,
    Announcement,
    RequestCategory,
    RequestStatus,
    Resource,
    ResourceKind,
    validate_enablement_file,
)

FILE_HELP = _("Up to 50 MB: %(types)s.") % {"types": ", ".join(FILE_EXTENSIONS)}


class TargetingMixin(forms.Form):
    """Program models (none ticked = all) and a minimum tier (empty = every partner)."""

    target_models = forms.MultipleChoiceField(
        choices=ProgramModel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Program models"),
        help_text=_("Leave all unticked for every program model."),
    )
    min_tier_rank = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, label=_("Minimum tier"), help_text=_("Empty: every tier.")
    )

    def init_targeting(self):
        self.fields["min_tier_rank"].choices = [("", _("Everyone"))] + [
            (t.rank, _("%(tier)s and above") % {"tier": t.name}) for t in Tier.objects.order_by("rank")
        ]
        if self.instance.pk:
            self.initial.setdefault("target_models", self.instance.program_model_list)


class ResourceForm(TargetingMixin, forms.ModelForm):
    audience = forms.ChoiceField(choices=[("", _("Everyone"))] + PARTNER_ROLE_CHOICES, required=False)

    class Meta:
        model = Resource
        fields = ["title", "kind", "product", "language", "audience", "description", "min_tier_rank", "is_archived"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_targeting()
        if not self.instance.pk:
            del self.fields["is_archived"]


class VersionForm(forms.Form):
    file = forms.FileField(required=False, validators=[validate_enablement_file], help_text=FILE_HELP)
    url = forms.URLField(required=False, assume_scheme="https", label=_("Or a link"))
    notes = forms.CharField(required=False, max_length=300, label=_("What changed"))

    def clean(self):
        data = super().clean()
        if not self.errors and bool(data.get("file")) == bool(data.get("url")):
            raise forms.ValidationError(_("Upload a file or give a link (one of them)."))
        return data


class ResourceFilterForm(forms.Form):
    q = forms.CharField(required=False, label=_("Search"))
    kind = forms.ChoiceField(choices=[("", _("Any kind"))] + ResourceKind.choices, required=False)
    product = forms.CharField(required=False)
    language = forms.CharField(required=False, max_length=5)


class AnnouncementForm(TargetingMixin, forms.ModelForm):
    published_at = forms.DateTimeField(
        required=False,
        label=_("Publish at"),
        help_text=_("Empty: now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    class Meta:
        model = Announcement
        fields = ["title", "kind", "body", "published_at", "course", "take_by", "min_tier_rank"]
        widgets = {"body": forms.Textarea(attrs={"rows": 6}), "take_by": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_targeting()
        self.fields["course"].queryset = Course.objects.filter(status=CourseStatus.PUBLISHED)

    def clean(self):
        data = super().clean()
        if data.get("take_by") and not data.get("course"):
            self.add_error("take_by", _("Choose the course to be taken by this date."))
        return data


class RequestForm(forms.Form):
    category = forms.ChoiceField(choices=RequestCategory.choices)
    subject = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), label=_("Describe the request"))
    attachment = forms.FileField(required=False, validators=[validate_enablement_file], help_text=FILE_HELP)


class MessageForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label=_("Message"))
    attachment = forms.FileField(required=False, validators=[validate_enablement_file], help_text=FILE_HELP)


class TransitionForm(forms.Form):
    status = forms.ChoiceField(choices=RequestStatus.choices)
    reason = forms.CharField(required=False, max_length=500)


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=User.objects.filter(role__in=VENDOR_ROLES, is_active=True))


class RequestFilterForm(forms.Form):
    q = forms.CharField(required=False, label=_("Search"))
    status = forms.ChoiceField(choices=[("", _("Any status"))] + RequestStatus.choices, required=False)
    category = forms.ChoiceField(choices=[("", _("Any category"))] + RequestCategory.choices, required=False)
    mine = forms.BooleanField(required=False, label=_("Mine"))
    overdue = forms.BooleanField(required=False, label=_("Overdue"))
