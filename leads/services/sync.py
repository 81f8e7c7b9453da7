"""CRM sync writes: set-based bulk upsert of leads and activities, and the single-object API writes.

Upserts are keyed by (partner, source_system, external_id): a partner key always writes with its own partner,
so its rows can only ever collide with its own rows. Every batch is validated item by item in plain Python
(cheap), then written with a constant number of queries: one SELECT of the existing rows, one customer
resolution, one INSERT … ON CONFLICT DO UPDATE … WHERE <something changed> (PostgreSQL; bulk_create +
bulk_update elsewhere). Good items are saved even when others are bad.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leads.models import Activity, ActivityKind, Customer, Lead, LeadKind, LeadSource, Stage
from partners.models import Partner
from prm.services import audit_record

MAX_BATCH = 5000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass
class ItemResult:
    index: int
    status: str = "error"  # created | updated | unchanged | error
    id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"index": self.index, "status": self.status, "id": self.id, "errors": self.errors}


# --- fast field checks (DRF serializers are ~50× slower per item; these batches have 5,000 items) -----------------


def _text(item, errors, name, *, max_length, required=False, default=""):
    value = item.get(name, default)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return default
    value = value.strip()
    if "\x00" in value:
        errors[name] = ["Null characters are not allowed."]
    elif required and not value:
        errors[name] = ["This field is required."]
    elif len(value) > max_length:
        errors[name] = [f"At most {max_length} characters."]
    return value


def _choice(item, errors, name, choices, default):
    value = item.get(name, default)
    if not isinstance(value, str) or value not in choices:
        errors[name] = [f"One of: {', '.join(sorted(choices))}."]
        return default
    return value


def _decimal(item, errors, name, *, max_digits, places, default):
    value = item.get(name, default)
    if isinstance(value, bool):
        errors[name] = ["A number."]
        return default
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[name] = ["A number."]
        return default
    if not number.is_finite() or number < 0:
        errors[name] = ["A number ≥ 0."]
        return default
    quantized = number.quantize(Decimal(1).scaleb(-places))
    if quantized != number or len(quantized.as_tuple().digits) > max_digits:
        errors[name] = [f"At most {max_digits} digits with {places} decimal places."]
        return default
    return quantized


def _date(item, errors, name):
    value = item.get(name)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        errors[name] = ["A date (YYYY-MM-DD)."]
        return None


def _datetime(item, errors, name):
    value = item.get(name)
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        errors[name] = ["This field is required." if value in (None, "") else "An ISO 8601 date-time."]
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _id(value) -> int | None:
    """A database id, or None: bools and out-of-range numbers are not ids."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    return None


def _key(item, errors):
    source_system = _text(item, errors, "source_system", max_length=40, required=True)
    external_id = _text(item, errors, "external_id", max_length=100, required=True)
    return source_system, external_id


def customer_normalize_name(name: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", name.lower()).split())


# --- the generic set-based write ------------------------------------------------------------------------------------


def _write(*, model, defaults: dict, new: list[dict], changed: list[dict], update_fields: list[str]) -> None:
    """Insert `new` rows and update `changed` rows (dicts of attname → value; changed ones carry "id").

    On PostgreSQL one INSERT … ON CONFLICT DO UPDATE … WHERE <a value differs> over the batch as one JSON document does both,
    so a row that a concurrent request already brought to the same values is left alone. Columns the rows do
    not carry take the model's defaults (built once per batch, not per row). New rows get their "id".
    """
    rows = new + changed
    if not rows:
        return
    now = timezone.now()
    if connection.vendor != "postgresql":
        objs = [model(**defaults, **row) for row in new]
        model.objects.bulk_create(objs)
        for row, obj in zip(new, objs):
            row["id"] = obj.pk
        if changed:
            # bulk_update does not run auto_now.
            updates = [model(**row, updated_at=now) for row in changed]
            model.objects.bulk_update(updates, [*update_fields, "updated_at"])
        return
    template = model(**defaults)
    # One key order for every writer: concurrent batches then wait for each other instead of deadlocking.
    rows.sort(key=lambda r: (r["partner_id"] or 0, r["source_system"], r["external_id"]))
    varying = {name for row in rows for name in row} - {"id", "_raced"}
    columns, selects, params, record = [], [], [], []
    qn = connection.ops.quote_name
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(qn(f.column))
        if f.attname in varying:
            selects.append(f"x.{qn(f.attname)}")
            record.append(f"{qn(f.attname)} {f.db_type(connection)}")
        else:
            selects.append(f"%s::{f.db_type(connection)}")
            params.append(f.get_db_prep_save(f.pre_save(template, add=True), connection))
    # The whole batch travels as one JSON document: PostgreSQL parses it far faster than 5,000-element arrays.
    params.append(json.dumps([{k: row[k] for k in varying} for row in rows], cls=DjangoJSONEncoder))
    table = qn(model._meta.db_table)
    update_cols = [connection.ops.quote_name(model._meta.get_field(n).column) for n in update_fields]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in update_cols)
    distinct = " OR ".join(f"{table}.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in update_cols)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selects)} "
        f"FROM json_to_recordset(%s::json) AS x({', '.join(record)}) "
        f"ON CONFLICT (partner_id, source_system, external_id) WHERE external_id <> '' "
        f"DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at WHERE {distinct} "
        f"RETURNING id, partner_id, source_system, external_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = {(p, s, e): pk for pk, p, s, e in cursor.fetchall()}
    raced = []
    for row in new:
        row["id"] = ids.get((row["partner_id"], row["source_system"], row["external_id"]))
        if row["id"] is None:
            raced.append(row)
    if raced:
        # A concurrent request inserted these keys first with the same values: nothing changed here.
        found = _existing(model, {(r["partner_id"], r["source_system"], r["external_id"]) for r in raced}, [])
        for row in raced:
            row["id"] = found[(row["partner_id"], row["source_system"], row["external_id"])]["id"]
            row["_raced"] = True


def _existing(model, keys: set[tuple], columns: list[str]) -> dict[tuple, dict]:
    if not keys:
        return {}
    partners = {k[0] for k in keys}
    qs = model.objects.filter(source_system__in={k[1] for k in keys}, external_id__in={k[2] for k in keys}).exclude(
        external_id=""
    )
    partner_q = Q(partner_id__in=[p for p in partners if p is not None])
    if None in partners:
        partner_q |= Q(partner_id__isnull=True)
    rows = qs.filter(partner_q).values("id", "partner_id", "source_system", "external_id", *columns)
    return {(r["partner_id"], r["source_system"], r["external_id"]): r for r in rows}


# --- leads ----------------------------------------------------------------------------------------------------------

LEAD_CRM_FIELDS = [
    "customer_id",
    "title",
    "kind",
    "contact_name",
    "contact_email",
    "contact_phone",
    "products",
    "value",
    "currency",
    "expected_close",
    "notes",
]
_LEAD_KINDS = set(LeadKind.values)


def _lead_values(item, errors) -> dict:
    values = {
        "title": _text(item, errors, "title", max_length=200, required=True),
        "kind": _choice(item, errors, "kind", _LEAD_KINDS, LeadKind.LICENSE),
        "contact_name": _text(item, errors, "contact_name", max_length=200),
        "contact_email": _text(item, errors, "contact_email", max_length=254),
        "contact_phone": _text(item, errors, "contact_phone", max_length=40),
        "products": _text(item, errors, "products", max_length=300),
        "value": _decimal(item, errors, "value", max_digits=14, places=2, default=Decimal("0")),
        "currency": _text(item, errors, "currency", max_length=3, default="RUB").upper() or "RUB",
        "expected_close": _date(item, errors, "expected_close"),
        "notes": _text(item, errors, "notes", max_length=100_000),
    }
    if values["contact_email"] and not _EMAIL.match(values["contact_email"]):
        errors["contact_email"] = ["Enter a valid e-mail address."]
    if "currency" not in errors and not _CURRENCY.match(values["currency"]):
        errors["currency"] = ["Three capital letters (ISO 4217)."]
    return values


def _customer_ref(item, errors) -> tuple[str, str, str] | None:
    ref = item.get("customer")
    if not isinstance(ref, dict):
        errors["customer"] = ["An object with `name` and optionally `tax_id` and `country`."]
        return None
    sub: dict = {}
    name = _text(ref, sub, "name", max_length=300, required=True)
    tax_id = _text(ref, sub, "tax_id", max_length=32)
    country = _text(ref, sub, "country", max_length=2, default="RU").upper() or "RU"
    if sub:
        errors["customer"] = [f"{k}: {m}" for k, msgs in sub.items() for m in msgs]
        return None
    return tax_id, customer_normalize_name(name) or name.lower(), name, country


def customers_resolve(refs: list[tuple]) -> dict[tuple, int]:
    """(tax_id, normalized_name, name, country) → customer id: by tax id when given, else by normalised name.

    Two queries to find, one bulk insert for the rest, whatever the batch size.
    """
    tax_ids = {r[0] for r in refs if r[0]}
    names = {r[1] for r in refs if not r[0]}
    by_tax, by_name = {}, {}
    if tax_ids:
        for pk, tax_id in Customer.objects.filter(tax_id__in=tax_ids).order_by("id").values_list("id", "tax_id"):
            by_tax.setdefault(tax_id, pk)
    if names:
        for pk, name in (
            Customer.objects.filter(normalized_name__in=names).order_by("id").values_list("id", "normalized_name")
        ):
            by_name.setdefault(name, pk)
    missing: dict[str, Customer] = {}
    for tax_id, normalized, name, country in refs:
        lookup = ("t", tax_id) if tax_id else ("n", normalized)
        if (tax_id and tax_id in by_tax) or (not tax_id and normalized in by_name) or lookup in missing:
            continue
        missing[lookup] = Customer(name=name, normalized_name=normalized, tax_id=tax_id, country=country)
    if missing:
        Customer.objects.bulk_create(list(missing.values()))
        for (kind, value), customer in missing.items():
            (by_tax if kind == "t" else by_name)[value] = customer.pk
    return {r: (by_tax[r[0]] if r[0] else by_name[r[1]]) for r in refs}


def leads_bulk_upsert(*, items: list, partner_id: int | None, actor=None) -> list[ItemResult]:
    """Create or update leads by (partner, source_system, external_id).

    `partner_id` is the key's partner: every item is written for it and an item naming another partner is an
    error. Vendor keys (partner_id None) may name a partner per item, or none for unassigned leads.
    """
    if len(items) > MAX_BATCH:
        raise ValidationError({"items": [f"At most {MAX_BATCH} items per request."]})
    results = [ItemResult(index=i) for i in range(len(items))]
    parsed = []  # (result, key, values, customer_ref)
    seen: set[tuple] = set()
    wanted_partners: set[int] = set()
    for result, item in zip(results, items):
        errors = result.errors
        if not isinstance(item, dict):
            errors["non_field_errors"] = ["Each item must be an object."]
            continue
        ss, eid = _key(item, errors)
        values = _lead_values(item, errors)
        ref = _customer_ref(item, errors)
        item_partner = item.get("partner", partner_id)
        if partner_id is not None and item_partner not in (None, partner_id):
            errors["partner"] = ["A partner key writes only its own partner's leads."]
        elif partner_id is None and item_partner is not None:
            if _id(item_partner) is None:
                errors["partner"] = ["A partner id."]
            else:
                wanted_partners.add(item_partner)
        key = (partner_id if partner_id is not None else item_partner, ss, eid)
        if not errors:
            if key in seen:
                errors["external_id"] = ["Duplicate of an earlier item in this request."]
            seen.add(key)
        if not errors:
            parsed.append((result, key, values, ref))
    if wanted_partners:
        known = set(Partner.objects.filter(pk__in=wanted_partners).values_list("pk", flat=True))
        for result, key, _values, _ref in parsed:
            if key[0] is not None and key[0] not in known:
                result.errors["partner"] = ["No such partner."]
        parsed = [p for p in parsed if not p[0].errors]

    with transaction.atomic():
        customer_ids = customers_resolve([p[3] for p in parsed]) if parsed else {}
        existing = _existing(Lead, {p[1] for p in parsed}, LEAD_CRM_FIELDS)
        new, changed = [], []
        for result, key, values, ref in parsed:
            values["customer_id"] = customer_ids[ref]
            row = existing.get(key)
            stage = Stage.REGISTERED if key[0] is not None else Stage.NEW
            values.update(partner_id=key[0], source_system=key[1], external_id=key[2], stage=stage)
            if row is None:
                new.append(values)
                result.status = "created"
            elif any(row[f] != values[f] for f in LEAD_CRM_FIELDS):
                values["id"] = row["id"]
                changed.append(values)
                result.status = "updated"
            else:
                result.status, result.id = "unchanged", row["id"]
                continue
            result._row = values
        _write(model=Lead, defaults={"source": LeadSource.API}, new=new, changed=changed, update_fields=LEAD_CRM_FIELDS)
        for result, *_ in parsed:
            if hasattr(result, "_row"):
                result.id = result._row["id"]
                if result._row.get("_raced"):
                    result.status = "unchanged"
        if new or changed:
            audit_record(
                actor=api_actor(actor),
                action="lead.bulk_upserted",
                partner=Partner(pk=partner_id) if partner_id else None,
                data={"created": len(new), "updated": len(changed)},
            )
    return results


# --- activities -------------------------------------------------------------------------------------------------

ACTIVITY_CRM_FIELDS = ["lead_id", "kind", "occurred_at", "subject", "notes"]
_ACTIVITY_KINDS = set(ActivityKind.values)


def activities_bulk_upsert(*, items: list, partner_id: int | None, actor=None) -> list[ItemResult]:
    """Create or update activities by (partner, source_system, external_id); the partner is the lead's.

    A lead is named by `lead` (id) or `lead_ref` ({source_system, external_id}); a partner key only finds its
    own partner's leads.
    """
    if len(items) > MAX_BATCH:
        raise ValidationError({"items": [f"At most {MAX_BATCH} items per request."]})
    results = [ItemResult(index=i) for i in range(len(items))]
    parsed = []
    lead_ids, lead_refs = set(), set()
    for result, item in zip(results, items):
        errors = result.errors
        if not isinstance(item, dict):
            errors["non_field_errors"] = ["Each item must be an object."]
            continue
        ss, eid = _key(item, errors)
        values = {
            "kind": _choice(item, errors, "kind", _ACTIVITY_KINDS, ActivityKind.NOTE),
            "occurred_at": _datetime(item, errors, "occurred_at"),
            "subject": _text(item, errors, "subject", max_length=200, required=True),
            "notes": _text(item, errors, "notes", max_length=100_000),
        }
        lead_ref = None
        if _id(item.get("lead")) is not None:
            lead_ref = ("id", item["lead"])
            lead_ids.add(item["lead"])
        elif isinstance(item.get("lead_ref"), dict):
            sub: dict = {}
            ref_key = _key(item["lead_ref"], sub)
            if sub:
                errors["lead_ref"] = [f"{k}: {m}" for k, msgs in sub.items() for m in msgs]
            else:
                lead_ref = ("ref", ref_key)
                lead_refs.add(ref_key)
        else:
            errors["lead"] = ["Give `lead` (an id) or `lead_ref` ({source_system, external_id})."]
        if not errors:
            parsed.append((result, (ss, eid), values, lead_ref))

    # Leads the key may write to, in two queries; another partner's lead is simply "not found".
    leads = Lead.objects.all() if partner_id is None else Lead.objects.filter(partner_id=partner_id)
    by_id = dict(leads.filter(pk__in=lead_ids).values_list("id", "partner_id")) if lead_ids else {}
    by_ref = {}
    if lead_refs:
        for pk, p, s, e in leads.filter(
            source_system__in={r[0] for r in lead_refs}, external_id__in={r[1] for r in lead_refs}
        ).values_list("id", "partner_id", "source_system", "external_id"):
            if partner_id is not None or p is not None:
                by_ref.setdefault((s, e), (pk, p))
    rows, seen = [], set()
    for result, (ss, eid), values, (kind, ref) in parsed:
        found = by_ref.get(ref) if kind == "ref" else ((ref, by_id[ref]) if ref in by_id else None)
        if found is None:
            result.errors["lead" if kind == "id" else "lead_ref"] = ["No such lead."]
            continue
        if found[1] is None:
            result.errors["lead"] = ["The lead has no partner yet; activities belong to a partner's deal."]
            continue
        key = (found[1], ss, eid)
        if key in seen:
            result.errors["external_id"] = ["Duplicate of an earlier item in this request."]
            continue
        seen.add(key)
        values["lead_id"] = found[0]
        rows.append((result, key, values))

    with transaction.atomic():
        existing = _existing(Activity, {r[1] for r in rows}, ACTIVITY_CRM_FIELDS)
        new, changed = [], []
        for result, key, values in rows:
            row = existing.get(key)
            values.update(partner_id=key[0], source_system=key[1], external_id=key[2])
            if row is None:
                new.append(values)
                result.status = "created"
            elif any(row[f] != values[f] for f in ACTIVITY_CRM_FIELDS):
                values["id"] = row["id"]
                changed.append(values)
                result.status = "updated"
            else:
                result.status, result.id = "unchanged", row["id"]
                continue
            result._row = values
        _write(model=Activity, defaults={}, new=new, changed=changed, update_fields=ACTIVITY_CRM_FIELDS)
        for result, *_ in rows:
            if hasattr(result, "_row"):
                result.id = result._row["id"]
                if result._row.get("_raced"):
                    result.status = "unchanged"
        touched = {v["lead_id"] for v in new + changed}
        if touched:
            leads_touch_last_activity(lead_ids=touched)
    return results


def leads_touch_last_activity(*, lead_ids) -> int:
    """One UPDATE: each lead's last_activity_at is its latest activity (hygiene KPIs read it)."""
    latest = Activity.objects.filter(lead=OuterRef("pk")).order_by().values("lead").annotate(m=Max("occurred_at"))
    return Lead.objects.filter(pk__in=lead_ids).update(
        last_activity_at=Subquery(latest.values("m")), updated_at=timezone.now()
    )


# --- single-object writes ---------------------------------------------------------------------------------------


def api_actor(actor):
    """API callers act as their key's creator in the audit trail."""
    return getattr(actor, "user", actor)


def lead_create_from_api(*, partner_id: int | None, customer_id: int, actor, **fields) -> Lead:
    lead = Lead(
        partner_id=partner_id,
        customer_id=customer_id,
        source=LeadSource.API,
        stage=Stage.REGISTERED if partner_id else Stage.NEW,
        **fields,
    )
    with transaction.atomic():
        lead.full_clean()
        lead.save()
        audit_record(actor=api_actor(actor), action="lead.created_via_api", target=lead)
    return lead


def lead_update_from_api(*, lead: Lead, actor, **fields) -> Lead:
    changed = {k: v for k, v in fields.items() if getattr(lead, k) != v}
    if not changed:
        return lead
    with transaction.atomic():
        for name, value in changed.items():
            setattr(lead, name, value)
        lead.full_clean()
        lead.save()
        audit_record(
            actor=api_actor(actor),
            action="lead.updated_via_api",
            target=lead,
            data={k: str(v) for k, v in changed.items()},
        )
    return lead
