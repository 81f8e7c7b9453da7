"""Step 1 of the flow: a vendor lead comes in (the vendor's lead form, a CSV import) and is handed to routing."""

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from decimal import Decimal

import charset_normalizer
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.customers import CustomerRef, customer_find_or_create, customers_find_or_create
from leads.models import Lead, LeadImport, LeadImportStatus, LeadKind, LeadSource, Stage
from leads.services.routing import lead_route, leads_route_batch
from partners.models import Competency, Region
from prm.bulk import ids_reserve, objects_insert
from prm.models import NotificationKind, User
from prm.services import audit_record, audit_record_many, notifications_batched, notify
from prm.texts import N_, compose_plural

logger = logging.getLogger(__name__)


def lead_create(
    *,
    title: str,
    customer_name: str,
    kind: str,
    region,
    competencies=(),
    customer_tax_id: str = "",
    customer_domain: str = "",
    value: Decimal = Decimal(0),
    currency: str = "RUB",
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    products: str = "",
    notes: str = "",
    source: str = LeadSource.VENDOR,
    source_system: str = "",
    external_id: str = "",
    actor: User | None = None,
    route: bool = True,
    customer=None,
) -> Lead:
    """Create a vendor lead (web form, CSV import, API) and, by default, route it at once. `customer` is given when
    it is already known (an on-site work order for a ticket's customer); otherwise found or created by the rule."""
    with transaction.atomic():
        customer = (
            customer
            or customer_find_or_create(
                name=customer_name, tax_id=customer_tax_id, domain=customer_domain, region=region
            ).customer
        )
        lead = Lead(
            customer=customer, customer_name=customer_name.strip(), title=title, kind=kind, source=source, stage=Stage.NEW, region=region, value=value,
            currency=currency, contact_name=contact_name, contact_email=contact_email, contact_phone=contact_phone,
            products=products, notes=notes, source_system=source_system, external_id=external_id,
        )  # fmt: skip
        lead.full_clean()
        lead.save()
        lead.competencies.set(competencies)
        audit_record(actor=actor, action="lead.created", target=lead, data={"source": source})
        if route:
            lead_route(lead=lead, actor=actor)
            lead.refresh_from_db()
        return lead


@dataclass
class ImportResult:
    created: list[Lead] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


CSV_COLUMNS = ["title", "customer", "tax_id", "domain", "kind", "region", "competencies", "value", "currency",
               "contact_name", "contact_email", "contact_phone", "products", "external_id"]  # fmt: skip


def csv_decode(data: bytes | str) -> tuple[str, str, str]:
    """A CSV upload as text, with the encoding and delimiter it was written in: UTF-8 with or without BOM,
    Windows-1251 (Excel on Russian Windows) and others detected by charset-normalizer; `,` `;` or tab sniffed.
    Raises ValidationError for a file that is not text."""
    if isinstance(data, str):
        text, encoding = data, "utf-8"
    else:
        if not data.strip():
            raise ValidationError(_("The file is empty."))
        if b"\x00" in data[:4096]:
            raise ValidationError(_("This is not a CSV file (binary content). Save it from Excel as CSV."))
        try:
            text, encoding = data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            best = charset_normalizer.from_bytes(data[:200_000]).best()
            if best is None:
                raise ValidationError(_("This is not a CSV file: its text encoding is unknown.")) from None
            encoding = best.encoding
            text = data.decode(encoding, errors="replace")
    head = text[:20_000]
    try:
        delimiter = csv.Sniffer().sniff(head.split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    return text, encoding, delimiter


def leads_import_csv(*, data: bytes | str, actor: User | None, progress=None) -> ImportResult:
    """Import leads from CSV: the good rows are created, then routed together in one batch; each bad row is
    reported with its line. (Leads a failed batch leaves in stage NEW are routed by leads_route_new.)
    `progress(created=, failed=)` is called after each committed chunk (the import page's progress bar)."""
    with notifications_batched(summaries={}):
        return _import_csv(data=data, actor=actor, progress=progress)


def _import_csv(*, data: bytes | str, actor: User | None, progress=None) -> ImportResult:
    from leads.forms.intake import lead_row_clean

    result = ImportResult()
    try:
        text, _encoding, delimiter = csv_decode(data)
    except ValidationError as exc:
        result.errors.append((1, " ".join(exc.messages)))
        return result
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    reader.fieldnames = [(f or "").strip().lower() for f in (reader.fieldnames or [])]
    missing = {"title", "customer", "kind", "region"} - set(reader.fieldnames or [])
    if missing:
        result.errors.append((1, _("Missing columns: %(cols)s") % {"cols": ", ".join(sorted(missing))}))
        return result
    regions = {r.code: r for r in Region.objects.all()}
    competencies = {c.code: c for c in Competency.objects.all()}
    pending: list[tuple[int, dict]] = []
    for row in reader:
        line = reader.line_num
        if next(iter(row.values()), "").startswith("#"):  # the template's notes
            continue
        if None in row:
            result.errors.append((line, _("More values than columns.")))
            continue
        cleaned, errors = lead_row_clean(
            data={k: (v or "").strip() for k, v in row.items() if k}, regions=regions, competencies=competencies
        )
        if errors:
            result.errors.append((line, _row_errors(errors)))
            continue
        pending.append((line, cleaned))
        if len(pending) == IMPORT_CHUNK:
            _import_chunk(pending=pending, result=result, actor=actor)
            pending = []
            if progress is not None:
                progress(created=len(result.created), failed=len(result.errors))
    if pending:
        _import_chunk(pending=pending, result=result, actor=actor)
    result.errors.sort()
    return result


IMPORT_CHUNK = 5000  # rows created and routed per transaction (and per step of the progress bar)


def _import_chunk(*, pending: list[tuple[int, dict]], result: ImportResult, actor: User | None) -> None:
    """Create one chunk of valid rows and route them together in one batch (leads_create_many)."""
    ids = [d["external_id"] for _line, d in pending if d["external_id"]]
    taken = set(
        Lead.objects.filter(partner=None, source_system="csv", external_id__in=ids).values_list(
            "external_id", flat=True
        )
    )
    rows, lines = [], []
    for line, d in pending:
        if d["external_id"] and d["external_id"] in taken:
            result.errors.append((line, _("external_id %(id)s: already imported.") % {"id": d["external_id"]}))
            continue
        taken.add(d["external_id"])
        rows.append(d)
        lines.append(line)
    try:
        created = leads_create_many(rows=rows, source=LeadSource.IMPORT, actor=actor, route=True)
    except ValidationError as exc:
        result.errors.extend((line, "; ".join(exc.messages)) for line in lines)
        return
    result.created.extend(created)


def leads_create_many(*, rows: list[dict], source: str, actor: User | None, route: bool = False) -> list[Lead]:
    """lead_create for many rows at once (a CSV import), set-based: customers resolved together by the one customer
    rule (customers_find_or_create), leads and their competencies inserted in bulk, one audit insert. Rows are
    checked by lead_row_clean.

    `route`: the leads are routed together (leads_route_batch) in the same transaction, so nobody sees them before
    they are routed and routing takes them as they are (no second read under lock); on PostgreSQL their ids are
    reserved first and each lead is inserted once, in the stage routing gave it (no UPDATE of every lead). The
    leads come back as routing left them. A routing failure leaves them in stage NEW (leads_route_new routes them
    later) and is raised once they are committed."""
    if not rows:
        return []
    failure = None
    with transaction.atomic():
        refs = [
            CustomerRef(name=d["customer"], tax_id=d["tax_id"], domain=d["domain"], region=d["region"]) for d in rows
        ]
        customers = customers_find_or_create(refs=refs)
        leads = [
            Lead(
                customer_id=c.customer_id, customer_name=d["customer"].strip(), title=d["title"], kind=d["kind"],
                source=source, stage=Stage.NEW, region_id=d["region"].pk, value=d["value"] or Decimal(0),
                currency=(d["currency"] or "RUB").upper(), contact_name=d["contact_name"],
                contact_email=d["contact_email"], contact_phone=d["contact_phone"], products=d["products"],
                source_system="csv" if d["external_id"] else "", external_id=d["external_id"],
            )
            for d, c in zip(rows, customers, strict=True)
        ]  # fmt: skip
        reserved = ids_reserve(Lead, len(leads)) if route else None
        if reserved is None:
            objects_insert(leads)
        else:
            for lead, pk in zip(leads, reserved, strict=True):
                lead.pk = pk
        through = Lead.competencies.through
        through.objects.bulk_create(
            [through(lead_id=lead.pk, competency_id=c.pk) for lead, d in zip(leads, rows) for c in d["competencies"]],
            batch_size=5000,
        )  # before the leads themselves when their ids are reserved: routing reads them (foreign keys are deferred)
        audit_record_many(
            actor=actor, action="lead.created", items=[(lead, None, "", {"source": source}) for lead in leads]
        )
        if route:
            try:
                with transaction.atomic():
                    leads_route_batch(leads=leads, actor=actor, inserted=True, save_leads=reserved is None)
            except Exception as exc:  # noqa: BLE001 — raised below, once the leads are committed
                failure = exc
                for lead in leads:
                    lead.stage, lead.offered_at = Stage.NEW, None
        if reserved is not None:
            objects_insert(leads)
    if failure is not None:
        raise failure
    return leads


def _row_errors(errors) -> str:
    """A row's errors (by field, as lead_row_clean or LeadRowForm.errors gives them) as one line of the report."""
    return "; ".join(
        f"{name}: {' '.join(str(m) for m in messages)}" if name != "__all__" else " ".join(str(m) for m in messages)
        for name, messages in errors.items()
    )


# --- the import as a job ------------------------------------------------------------------------------------------


def lead_import_start(*, data: bytes, filename: str, actor: User | None) -> LeadImport:
    """Keep the uploaded file and queue its import; the same file again answers with the import it already is.
    A file that is not readable CSV is refused here (ValidationError), before anything is stored."""
    text, encoding, delimiter = csv_decode(data)
    digest = hashlib.sha256(data).hexdigest()
    existing = LeadImport.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            job = LeadImport(
                sha256=digest, filename=filename[:255], encoding=encoding, delimiter=delimiter, created_by=actor,
                rows_total=max(len(text.splitlines()) - 1, 0),
            )  # fmt: skip
            job.file.save(f"{digest}.csv", ContentFile(data), save=False)
            job.save()
            audit_record(actor=actor, action="lead.import_started", target=job, data={"file": filename[:255]})
    except IntegrityError:  # the same file uploaded twice at once
        return LeadImport.objects.get(sha256=digest)
    from leads.tasks import lead_import_run_task

    transaction.on_commit(lambda: lead_import_run_task.delay(import_id=job.pk))
    return job


def lead_import_run(*, import_id: int) -> LeadImport | None:
    """Run a queued import once: the conditional UPDATE from queued to running is the claim, so a duplicated task or
    a second worker does nothing. Its leads are created and routed by leads_import_csv, the one import rule."""
    claimed = LeadImport.objects.filter(pk=import_id, status=LeadImportStatus.QUEUED).update(
        status=LeadImportStatus.RUNNING
    )
    if not claimed:
        return None
    job = LeadImport.objects.select_related("created_by").get(pk=import_id)
    try:
        with job.file.open("rb") as fh:
            result = leads_import_csv(
                data=fh.read(),
                actor=job.created_by,
                progress=lambda created, failed: LeadImport.objects.filter(pk=import_id).update(
                    rows_created=created, rows_failed=failed
                ),
            )
    except Exception:
        logger.exception("lead import %s failed", import_id)
        LeadImport.objects.filter(pk=import_id).update(status=LeadImportStatus.FAILED, finished_at=timezone.now())
        raise
    job.status = LeadImportStatus.DONE
    job.rows_created, job.rows_failed = len(result.created), len(result.errors)
    job.rows_total = job.rows_created + job.rows_failed
    job.errors = [[line, message] for line, message in result.errors[:5000]]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "rows_created", "rows_failed", "rows_total", "errors", "finished_at"])
    if job.created_by is not None:
        notify(
            users=[job.created_by],
            kind=NotificationKind.SYSTEM,
            title=compose_plural(N_("Import finished: %(n)s lead created"), N_("Import finished: %(n)s leads created"),
                                 job.rows_created),
            body=compose_plural(N_("%(n)s row skipped."), N_("%(n)s rows skipped."), job.rows_failed),
            url=reverse("leads:lead_import_detail", args=[job.pk]),
        )  # fmt: skip
    return job


def lead_import_template() -> tuple[list[str], list[list[str]]]:
    """The CSV template as (header, rows): one example row, then the valid codes in rows starting with `#`, which
    the import skips."""
    from partners.models import Competency, Region

    region = Region.objects.order_by("code").first()
    width = len(CSV_COLUMNS)
    example = ["ERP rollout", "ООО «Ромашка»", "7707083893", "romashka.ru", LeadKind.IMPLEMENTATION,
               region.code if region else "msk", "", "1500000", "RUB", "Ivan Petrov", "ivan@romashka.ru",
               "8 495 000-00-00", "ERP", "CRM-1"]  # fmt: skip
    notes = [
        _("# Valid values (lines starting with # are skipped):"),
        "# kind: " + ", ".join(LeadKind.values),
        "# region: " + ", ".join(Region.objects.order_by("code").values_list("code", flat=True)),
        "# competencies (separated by ';'): "
        + ", ".join(Competency.objects.order_by("code").values_list("code", flat=True)),
    ]
    return CSV_COLUMNS, [example] + [[note] + [""] * (width - 1) for note in notes]
