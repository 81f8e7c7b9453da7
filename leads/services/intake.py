"""Step 1 of the flow: a vendor lead comes in (the vendor's lead form, a CSV import) and is handed to routing."""

import csv
import io
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from leads.customers import customer_find_or_create
from leads.models import (
    Lead,
    LeadSource,
    Stage,
)
from leads.services.routing import lead_route, leads_route_batch
from prm.models import User
from prm.services import audit_record

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


def leads_import_csv(*, data: bytes | str, actor: User | None) -> ImportResult:
    """Import leads from CSV: the good rows are created, then routed together in one batch; each bad row is
    reported with its line. (Leads a failed batch leaves in stage NEW are routed by leads_route_new.)"""
    from leads.forms.intake import LeadRowForm

    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    result = ImportResult()
    if "\x00" in text:  # a binary file: the csv module cannot read it
        result.errors.append((1, _("This is not a CSV text file (UTF-8).")))
        return result
    reader = csv.DictReader(io.StringIO(text))
    missing = {"title", "customer", "kind", "region"} - set(reader.fieldnames or [])
    if missing:
        result.errors.append((1, _("Missing columns: %(cols)s") % {"cols": ", ".join(sorted(missing))}))
        return result
    for row in reader:
        line = reader.line_num
        if None in row:
            result.errors.append((line, _("More values than columns.")))
            continue
        form = LeadRowForm(data={k: (v or "").strip() for k, v in row.items() if k})
        if not form.is_valid():
            result.errors.append((line, _row_errors(form)))
            continue
        d = form.cleaned_data
        try:
            lead = lead_create(
                title=d["title"], customer_name=d["customer"], customer_tax_id=d["tax_id"], customer_domain=d["domain"],
                kind=d["kind"], region=d["region"], competencies=d["competencies"], value=d["value"] or Decimal(0),
                currency=d["currency"] or "RUB", contact_name=d["contact_name"], contact_email=d["contact_email"],
                contact_phone=d["contact_phone"], products=d["products"], source=LeadSource.IMPORT,
                source_system="csv" if d["external_id"] else "", external_id=d["external_id"], actor=actor,
                route=False,
            )  # fmt: skip
        except ValidationError as exc:
            result.errors.append((line, "; ".join(exc.messages)))
            continue
        result.created.append(lead)
    if result.created:
        leads_route_batch(leads=result.created, actor=actor)
        routed = Lead.objects.in_bulk([lead.pk for lead in result.created])
        result.created = [routed[lead.pk] for lead in result.created]
    return result


def _row_errors(form) -> str:
    return "; ".join(
        f"{name}: {' '.join(str(m) for m in messages)}" if name != "__all__" else " ".join(str(m) for m in messages)
        for name, messages in form.errors.items()
    )
