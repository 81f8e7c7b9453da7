from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.utils.translation import gettext_lazy as _

from partners.models import Competency, Partner, Region
from prm.models import PARTNER_ROLES, Role

from .models import (
    LESSON_FILE_EXTENSIONS,
    Choice,
    Course,
    CourseLevel,
    LearningPath,
    LearningPathCourse,
    Lesson,
    Question,
    Quiz,
)
from .services import DEFAULT_RECERTIFICATION_GRACE_DAYS, question_choices_check

PARTNER_ROLE_CHOICES = [("", _("Any role"))] + [(r.value, r.label) for r in Role if r in PARTNER_ROLES]


class CourseForm(forms.ModelForm):
    audience_role = forms.ChoiceField(choices=PARTNER_ROLE_CHOICES, required=False, label=_("Audience role"))

    class Meta:
        model = Course
        fields = [
            "title",
            "product",
            "level",
            "language",
            "audience_role",
            "duration_minutes",
            "description",
            "grants",
            "is_mandatory_onboarding",
        ]


class LessonForm(forms.ModelForm):
    url = forms.URLField(required=False, assume_scheme="https", label=_("Link"))

    class Meta:
        model = Lesson
        fields = ["order", "title", "body", "url", "attachment"]
        widgets = {"body": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"attachment": _("Up to 50 MB: %(types)s.") % {"types": ", ".join(LESSON_FILE_EXTENSIONS)}}


LessonFormSet = inlineformset_factory(Course, Lesson, form=LessonForm, extra=1, can_delete=True)


class QuizForm(forms.ModelForm):
    class Meta:
        model = Quiz
        fields = ["passing_score", "attempt_limit", "cooldown_minutes"]

    def clean_attempt_limit(self):
        value = self.cleaned_data["attempt_limit"]
        if value < 1:
            raise ValidationError(_("Allow at least one attempt."))
        return value


class QuestionForm(forms.ModelForm):
    class Meta:
        model = Question
        fields = ["order", "kind", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 2})}


class BaseChoiceFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [
            f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("text")
        ]
        kind = self.data.get("kind") or getattr(self.instance, "kind", Question.Kind.SINGLE)
        question_choices_check(
            kind=kind, total=len(kept), correct=sum(bool(f.cleaned_data.get("is_correct")) for f in kept)
        )


ChoiceFormSet = inlineformset_factory(
    Question, Choice, formset=BaseChoiceFormSet, fields=["text", "is_correct"], extra=4, can_delete=True
)


class PublishForm(forms.Form):
    bump = forms.ChoiceField(
        label=_("Version change"),
        choices=[
            ("none", _("Publish as is")),
            ("minor", _("New minor version (no re-certification)")),
            ("major", _("New major version (holders must re-certify)")),
        ],
    )
    grace_days = forms.IntegerField(
        label=_("Re-certification grace period, days"),
        min_value=1,
        max_value=730,
        initial=DEFAULT_RECERTIFICATION_GRACE_DAYS,
    )


class LearningPathForm(forms.ModelForm):
    role = forms.ChoiceField(choices=PARTNER_ROLE_CHOICES, required=False, label=_("Role"))

    class Meta:
        model = LearningPath
        fields = ["name", "program_model", "role", "description"]


LearningPathCourseFormSet = inlineformset_factory(
    LearningPath, LearningPathCourse, fields=["order", "course", "mandatory"], extra=3, can_delete=True
)


class CatalogFilterForm(forms.Form):
    q = forms.CharField(required=False, label=_("Search"))
    language = forms.CharField(required=False, label=_("Language"))
    product = forms.CharField(required=False, label=_("Product"))
    level = forms.ChoiceField(choices=[("", _("Any level"))] + list(CourseLevel.choices), required=False)
    role = forms.ChoiceField(choices=PARTNER_ROLE_CHOICES, required=False, label=_("Role"))


class ReportFilterForm(forms.Form):
    competency = forms.ModelChoiceField(
        Competency.objects.all(), required=False, to_field_name="code", label=_("Competency")
    )
    region = forms.ModelChoiceField(Region.objects.all(), required=False, to_field_name="code", label=_("Region"))
    partner = forms.ModelChoiceField(Partner.objects.order_by("name"), required=False, label=_("Partner"))


class QuizTakeForm(forms.Form):
    """One field per question; choice labels only — whether a choice is correct never reaches the page."""

    def __init__(self, *args, questions, **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = questions
        for q in questions:
            options = [(c.pk, c.text) for c in q.choices.all()]
            if q.kind == Question.Kind.MULTIPLE:
                field = forms.TypedMultipleChoiceField(
                    choices=options, coerce=int, widget=forms.CheckboxSelectMultiple, required=False
                )
            else:
                field = forms.TypedChoiceField(choices=options, coerce=int, widget=forms.RadioSelect, required=False)
            field.label = f"{q.order}. {q.text}"
            self.fields[f"q{q.pk}"] = field

    def answers(self) -> dict[int, list[int]]:
        result = {}
        for q in self.questions:
            value = self.cleaned_data.get(f"q{q.pk}")
            if value in (None, "", []):
                result[q.pk] = []
            else:
                result[q.pk] = list(value) if isinstance(value, list) else [value]
        return result
