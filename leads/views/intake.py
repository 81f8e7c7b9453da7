"""Step 1, intake: the vendor lead form and the CSV import."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from leads.forms.intake import ImportForm, LeadForm
from leads.models import LeadImport
from leads.services import intake
from prm.exports import table_download
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
        recent = LeadImport.objects.select_related("created_by")[:10]
        return render(request, "leads/intake/import.html", {"form": ImportForm(), "imports": recent})

    def post(self, request):
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = intake.lead_import_start(data=upload.read(), filename=upload.name, actor=request.user)
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                return redirect("leads:lead_import_detail", job.pk)
        return render(request, "leads/intake/import.html", {"form": form, "imports": []}, status=400)


class LeadImportDetailView(VendorRequiredMixin, View):
    def get(self, request, pk):
        job = get_object_or_404(LeadImport, pk=pk)
        template = "leads/intake/_import_status.html" if request.htmx else "leads/intake/import_detail.html"
        return render(request, template, {"job": job})


class LeadImportTemplateView(VendorRequiredMixin, View):
    def get(self, request):
        headers, rows = intake.lead_import_template()
        return table_download(headers=headers, rows=rows, filename="leads-template")
