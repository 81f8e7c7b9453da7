from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from prm.files import file_download
from prm.forms import apply_service_errors
from prm.permissions import PartnerRequiredMixin, SignedInMixin, VendorRequiredMixin, is_vendor
from prm.services import audit_trail

from . import selectors, services
from .forms import (
    AnnouncementForm,
    AssignForm,
    MessageForm,
    RequestFilterForm,
    RequestForm,
    ResourceFilterForm,
    ResourceForm,
    TransitionForm,
    VersionForm,
)
from .models import Announcement, Resource, VendorSla


def _filters(request) -> dict:
    return {k: v for k, v in request.GET.items() if v and k != "page"}


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- Resource library ----------------------------------------------------------------------------------------


class LibraryView(SignedInMixin, View):
    def get(self, request):
        form = ResourceFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        if is_vendor(request.user):
            filters["archived"] = request.GET.get("archived")
        since = selectors.library_last_visit(user=request.user)
        resources = selectors.resource_list(viewer=request.user, filters=filters, since=since)
        page = Paginator(resources, 30).get_page(request.GET.get("page"))
        response = render(
            request,
            "enablement/library.html",
            {
                "form": form,
                "page": page,
                "resources": page.object_list,
                "since": since,
                "facets": selectors.resource_facets(),
                "filters": _filters(request),
            },
        )
        services.library_visit_record(user=request.user)
        return response


class ResourceDetailView(SignedInMixin, View):
    def get(self, request, pk):
        resource = selectors.resource_get(viewer=request.user, pk=pk)
        context = {"resource": resource}
        if is_vendor(request.user):
            context.update(
                versions=resource.versions.select_related("uploaded_by"),
                stats=selectors.resource_download_stats(resource=resource),
                audit=audit_trail(target=resource),
                version_form=VersionForm(),
            )
        return render(request, "enablement/resource_detail.html", context)


class ResourceDownloadView(SignedInMixin, View):
    def get(self, request, pk):
        resource = selectors.resource_get(viewer=request.user, pk=pk)
        version = services.resource_download(resource=resource, user=request.user)
        if version is None:
            raise Http404
        if version.url:
            return HttpResponseRedirect(version.url)
        return file_download(version.file)


class RequestAttachmentView(SignedInMixin, View):
    def get(self, request, pk, message_pk):
        partner_request = selectors.request_get(viewer=request.user, pk=pk)
        message = get_object_or_404(partner_request.messages, pk=message_pk)
        return file_download(message.attachment)


class ResourceCreateView(VendorRequiredMixin, View):
    def get(self, request):
        return self._render(request, ResourceForm(), VersionForm())

    def post(self, request):
        form = ResourceForm(request.POST)
        version_form = VersionForm(request.POST, request.FILES)
        if form.is_valid() and version_form.is_valid():
            try:
                resource = services.resource_create(
                    actor=request.user,
                    fields={k: form.cleaned_data[k] for k in ResourceForm.Meta.fields if k in form.fields},
                    program_models=form.cleaned_data["target_models"],
                    **version_form.cleaned_data,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Resource published."))
                return redirect("enablement:resource_detail", pk=resource.pk)
        return self._render(request, form, version_form)

    def _render(self, request, form, version_form):
        return render(
            request, "enablement/resource_form.html", {"form": form, "version_form": version_form, "resource": None}
        )


class ResourceEditView(VendorRequiredMixin, View):
    def get(self, request, pk):
        resource = get_object_or_404(Resource, pk=pk)
        return render(
            request, "enablement/resource_form.html", {"form": ResourceForm(instance=resource), "resource": resource}
        )

    def post(self, request, pk):
        resource = get_object_or_404(Resource, pk=pk)
        form = ResourceForm(request.POST, instance=resource)
        if form.is_valid():
            services.resource_update(
                actor=request.user,
                resource=resource,
                fields={k: form.cleaned_data[k] for k in ResourceForm.Meta.fields if k in form.fields},
                program_models=form.cleaned_data["target_models"],
            )
            messages.success(request, _("Resource saved."))
            return redirect("enablement:resource_detail", pk=resource.pk)
        return render(request, "enablement/resource_form.html", {"form": form, "resource": resource})


class ResourceVersionView(VendorRequiredMixin, View):
    def post(self, request, pk):
        resource = get_object_or_404(Resource, pk=pk)
        form = VersionForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.resource_version_add(actor=request.user, resource=resource, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("New version published."))
                return redirect("enablement:resource_detail", pk=resource.pk)
        return render(
            request,
            "enablement/resource_detail.html",
            {
                "resource": resource,
                "versions": resource.versions.select_related("uploaded_by"),
                "stats": selectors.resource_download_stats(resource=resource),
                "audit": audit_trail(target=resource),
                "version_form": form,
            },
        )


# --- Announcements -------------------------------------------------------------------------------------------


class AnnouncementListView(SignedInMixin, View):
    def get(self, request):
        announcements = selectors.announcement_list(viewer=request.user, unread_only=bool(request.GET.get("unread")))
        page = Paginator(announcements, 20).get_page(request.GET.get("page"))
        return render(
            request,
            "enablement/announcements.html",
            {"page": page, "announcements": page.object_list, "filters": _filters(request)},
        )


class AnnouncementDetailView(SignedInMixin, View):
    def get(self, request, pk):
        announcement = selectors.announcement_get(viewer=request.user, pk=pk)
        return render(request, "enablement/announcement_detail.html", {"announcement": announcement})


class AnnouncementReadView(SignedInMixin, View):
    def post(self, request, pk):
        announcement = selectors.announcement_get(viewer=request.user, pk=pk)
        services.announcement_mark_read(announcement=announcement, user=request.user)
        return redirect(request.POST.get("next") or "enablement:announcements")


class AnnouncementEditView(VendorRequiredMixin, View):
    def get(self, request, pk=None):
        instance = get_object_or_404(Announcement, pk=pk) if pk else None
        return self._render(request, AnnouncementForm(instance=instance))

    def post(self, request, pk=None):
        instance = get_object_or_404(Announcement, pk=pk) if pk else None
        form = AnnouncementForm(request.POST, instance=instance)
        if form.is_valid():
            try:
                announcement = services.announcement_save(
                    actor=request.user,
                    announcement=form.save(commit=False),
                    program_models=form.cleaned_data["target_models"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Announcement saved."))
                return redirect("enablement:announcement_detail", pk=announcement.pk)
        return self._render(request, form)

    def _render(self, request, form):
        return render(request, "enablement/announcement_form.html", {"form": form})


# --- Partner requests ----------------------------------------------------------------------------------------


class RequestListView(SignedInMixin, View):
    def get(self, request):
        form = RequestFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        requests = selectors.request_list(viewer=request.user, filters=filters)
        page = Paginator(requests, 30).get_page(request.GET.get("page"))
        return render(
            request,
            "enablement/requests.html",
            {
                "form": form,
                "page": page,
                "requests": page.object_list,
                "filters": _filters(request),
                "report": selectors.vendor_sla_report(),
            },
        )


class RequestCreateView(PartnerRequiredMixin, View):
    def get(self, request):
        return render(request, "enablement/request_form.html", {"form": RequestForm(), "slas": VendorSla.objects.all()})

    def post(self, request):
        form = RequestForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                partner_request = services.request_open(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Request sent to the vendor."))
                return redirect("enablement:request_detail", pk=partner_request.pk)
        return render(request, "enablement/request_form.html", {"form": form, "slas": VendorSla.objects.all()})


class RequestDetailView(SignedInMixin, View):
    def get(self, request, pk):
        return self._render(request, selectors.request_get(viewer=request.user, pk=pk), MessageForm())

    def post(self, request, pk):
        """A message in the conversation."""
        partner_request = selectors.request_get(viewer=request.user, pk=pk)
        form = MessageForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.request_message_add(actor=request.user, request=partner_request, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("enablement:request_detail", pk=pk)
        return self._render(request, partner_request, form)

    def _render(self, request, partner_request, form):
        return render(
            request,
            "enablement/request_detail.html",
            {
                "req": partner_request,
                "conversation": partner_request.messages.select_related("author"),
                "form": form,
                "transitions": [
                    (s, dict(TransitionForm.base_fields["status"].choices)[s])
                    for s in services.request_allowed_transitions(actor=request.user, request=partner_request)
                ],
                "assign_form": AssignForm(initial={"owner": partner_request.owner_id})
                if is_vendor(request.user)
                else None,
                "audit": audit_trail(target=partner_request),
            },
        )


class RequestTransitionView(SignedInMixin, View):
    def post(self, request, pk):
        partner_request = selectors.request_get(viewer=request.user, pk=pk)
        form = TransitionForm(request.POST)
        if form.is_valid():
            try:
                services.request_transition(actor=request.user, request=partner_request, **form.cleaned_data)
            except ValidationError as exc:
                messages.error(request, _error_text(exc))
        else:
            messages.error(request, _("Choose a valid status."))
        return redirect("enablement:request_detail", pk=pk)


class RequestAssignView(VendorRequiredMixin, View):
    def post(self, request, pk):
        partner_request = selectors.request_get(viewer=request.user, pk=pk)
        form = AssignForm(request.POST)
        if form.is_valid():
            services.request_assign(actor=request.user, request=partner_request, owner=form.cleaned_data["owner"])
        else:
            messages.error(request, _("Choose a vendor user."))
        return redirect("enablement:request_detail", pk=pk)


class VendorSlaReportView(VendorRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "enablement/vendor_sla.html",
            {"report": selectors.vendor_sla_report(), "slas": VendorSla.objects.all()},
        )
