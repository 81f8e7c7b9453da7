"""Step 1, intake: the vendor lead form and the CSV import."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from leads.forms.intake import ImportForm, LeadForm
from leads.services import intake
from prm.forms import apply_service_errors
from prm.permissions import VendorRequiredMixin


class LeadCreateView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "leads/intake/lead_form.html", {"form": LeadForm()})

    def post(self, request):
        form = LeadForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                lead = intake.lead_create(
                    title=d["title"], customer_name=d["customer_name"], customer_tax_id=d["customer_tax_id"],
                    customer_domain=d["customer_domain"], kind=d["kind"], region=d["region"],
                    competencies=d["competencies"], value=d["value"] or 0, currency=d["currency"],
                    contact_name=d["contact_name"], contact_email=d["contact_email"],
                    contact_phone=d["contact_phone"], products=d["products"], notes=d["notes"], actor=request.user,
                )  # fmt: skip
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Lead created and routed."))
                return redirect("leads:routing_lead", lead.pk)
        return render(request, "leads/intake/lead_form.html", {"form": form})


class LeadImportView(VendorRequiredMixin, View):
    def get(self, request):
        return render(request, "leads/intake/import.html", {"form": ImportForm()})

    def post(self, request):
        form = ImportForm(request.POST, request.FILES)
        result = None
        if form.is_valid():
            result = intake.leads_import_csv(data=form.cleaned_data["file"].read(), actor=request.user)
        return render(request, "leads/intake/import.html", {"form": form, "result": result})
