"""Imports that work with real files (issue 17, item 6): encodings and delimiters Excel writes, a template with the
valid codes, bad files refused with a form error, the import as a job with a result page, re-upload idempotent."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leads.models import Lead, LeadImport, LeadImportStatus, Stage
from leads.services import intake
from tests.leads.routing_factories import competency, region, routing_partner

pytestmark = pytest.mark.django_db

ROWS = "title;customer;tax_id;kind;region\nВнедрение ERP;ООО «Ромашка»;7707083893;license;msk\nПоставка;АО Звезда;;license;msk\n"


@pytest.fixture
def msk():
    return region("msk")


def _upload(client, data: bytes, capture, name="leads.csv"):
    with capture(execute=True):
        return client.post(reverse("leads:lead_import"), {"file": SimpleUploadedFile(name, data)})


@pytest.mark.parametrize(
    "encoded",
    [
        ROWS.encode("utf-8"),
        b"\xef\xbb\xbf" + ROWS.encode("utf-8"),
        ROWS.encode("cp1251"),
        ROWS.replace(";", ",").encode("cp1251"),
        ROWS.replace(";", "\t").encode("utf-8"),
    ],
    ids=["utf8", "utf8-bom", "cp1251-semicolon", "cp1251-comma", "utf8-tab"],
)
def test_real_files_are_read_right(encoded, msk, channel_manager):
    result = intake.leads_import_csv(data=encoded, actor=channel_manager)
    assert result.errors == []
    assert [lead.title for lead in result.created] == ["Внедрение ERP", "Поставка"]
    assert result.created[0].customer.name == "ООО «Ромашка»"


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), b"", b"   \n"],
    ids=["binary", "empty", "blank"],
)
def test_bad_files_get_a_form_error_not_a_500(data, client_for, channel_manager, django_capture_on_commit_callbacks):
    response = _upload(client_for(channel_manager), data, django_capture_on_commit_callbacks, name="photo.csv")
    assert response.status_code == 400
    assert response.context["form"].errors["file"]
    assert not LeadImport.objects.exists()


def test_import_runs_as_a_job_and_shows_its_result(
    msk, client_for, channel_manager, django_capture_on_commit_callbacks
):
    routing_partner(regions=[msk], competencies=[competency("erp")])
    client = client_for(channel_manager)
    data = (ROWS + "Плохая;Beta;;license;mars\n").encode("cp1251")
    response = _upload(client, data, django_capture_on_commit_callbacks)
    job = LeadImport.objects.get()
    assert response.status_code == 302 and response.url == reverse("leads:lead_import_detail", args=[job.pk])
    assert (job.status, job.rows_created, job.rows_failed, job.encoding) == (LeadImportStatus.DONE, 2, 1, "cp1251")
    page = client.get(response.url).content.decode()
    assert "2 leads imported and routed." in page and "<td>4</td>" in page
    assert set(Lead.objects.values_list("stage", flat=True)) <= {Stage.OFFERED, Stage.QUEUE}
    # the same file again: the same import, no second set of leads
    again = _upload(client, data, django_capture_on_commit_callbacks)
    assert again.url == response.url and Lead.objects.count() == 2 and LeadImport.objects.count() == 1


def test_running_page_refreshes_itself_until_done(msk, client_for, channel_manager):
    job = intake.lead_import_start(data=ROWS.encode(), filename="x.csv", actor=channel_manager)  # not run yet
    client = client_for(channel_manager)
    page = client.get(reverse("leads:lead_import_detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page
    intake.lead_import_run(import_id=job.pk)
    assert intake.lead_import_run(import_id=job.pk) is None  # a duplicated task does nothing
    fragment = client.get(reverse("leads:lead_import_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in fragment.content.decode() and "2 leads imported" in fragment.content.decode()


def test_template_lists_the_valid_codes_and_imports_as_is(msk, client_for, channel_manager):
    competency("erp")
    response = client_for(channel_manager).get(reverse("leads:lead_import_template"))
    body = response.content.decode("utf-8-sig")
    assert response["Content-Type"].startswith("text/csv")
    assert "# region: msk" in body and "erp" in body and "implementation" in body
    result = intake.leads_import_csv(data=response.content, actor=channel_manager)
    assert result.errors == [] and len(result.created) == 1


def test_import_page_is_for_vendor_staff_only(client_for, partner_rep):
    assert client_for(partner_rep).get(reverse("leads:lead_import_template")).status_code == 403


def test_rows_already_imported_by_external_id_are_reported_not_duplicated(msk, channel_manager):
    data = "title,customer,kind,region,external_id\nA,Alpha,license,msk,X-1\nB,Beta,license,msk,X-2\n"
    assert len(intake.leads_import_csv(data=data, actor=channel_manager).created) == 2
    again = intake.leads_import_csv(data=data + "C,Gamma,license,msk,X-3\n", actor=channel_manager)
    assert [lead.title for lead in again.created] == ["C"]
    assert [line for line, _msg in again.errors] == [2, 3] and "X-1" in again.errors[0][1]
    assert Lead.objects.count() == 3


def test_a_running_import_shows_how_many_rows_are_handled(msk, client_for, channel_manager, monkeypatch):
    """The job records its progress after each committed chunk; the page shows the count and the bar follows."""
    body = "title,customer,kind,region\n" + "".join(f"Deal {i},Customer {i},license,msk\n" for i in range(5))
    job = intake.lead_import_start(data=body.encode(), filename="five.csv", actor=channel_manager)
    monkeypatch.setattr(intake, "IMPORT_CHUNK", 2)
    seen = []
    real = intake.leads_import_csv

    def spy(**kwargs):
        progress = kwargs["progress"]

        def record(created, failed):
            progress(created=created, failed=failed)
            seen.append(LeadImport.objects.get(pk=job.pk).rows_done)

        return real(**{**kwargs, "progress": record})

    monkeypatch.setattr(intake, "leads_import_csv", spy)
    intake.lead_import_run(import_id=job.pk)
    assert seen == [2, 4]

    LeadImport.objects.filter(pk=job.pk).update(status=LeadImportStatus.RUNNING, rows_created=2, rows_failed=1)
    page = client_for(channel_manager).get(reverse("leads:lead_import_detail", args=[job.pk])).content.decode()
    assert "3 of 5 rows handled" in page and 'style="width: 60%"' in page


def test_imported_leads_are_reported_as_stored(msk, channel_manager):
    """The import hands back the routed leads as routing left them (no second read): each one equals its row."""
    routing_partner(regions=[msk], capacity=5)  # five leads offered, the other four queued
    rows = "".join(f"Lead {i};Customer {i % 3};;implementation;{'msk' if i % 4 else 'nowhere'}\n" for i in range(12))
    result = intake.leads_import_csv(data="title;customer;tax_id;kind;region\n" + rows, actor=channel_manager)
    assert [line for line, _m in result.errors] == [2, 6, 10]  # the unknown region
    stored = Lead.objects.in_bulk([lead.pk for lead in result.created])
    fields = ["title", "customer_id", "stage", "partner_id", "offered_at", "updated_at", "route_failures"]
    for lead in result.created:
        assert [getattr(lead, f) for f in fields] == [getattr(stored[lead.pk], f) for f in fields]
    assert [lead.stage for lead in result.created] == [Stage.OFFERED] * 5 + [Stage.QUEUE] * 4


def test_a_routing_failure_leaves_the_chunks_leads_new_for_the_routing_job(msk, channel_manager, monkeypatch):
    """Leads are inserted in their routed state; when routing fails they are still stored, in stage NEW, and the
    import stops with the error (leads_route_new routes them later)."""
    from leads.services import routing

    routing_partner(regions=[msk], capacity=5)

    def broken(**kwargs):
        raise RuntimeError("routing down")

    monkeypatch.setattr(routing, "_route", broken)
    with pytest.raises(RuntimeError, match="routing down"):
        intake.leads_import_csv(data=ROWS, actor=channel_manager)
    assert sorted(Lead.objects.values_list("stage", "offered_at", "competencies")) == [(Stage.NEW, None, None)] * 2
    monkeypatch.undo()
    assert routing.leads_route_new() == 2
    assert not Lead.objects.filter(stage=Stage.NEW).exists()  # routed now (offered or queued)
