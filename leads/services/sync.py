"""CRM sync writes: set-based bulk upsert of leads and activities, and the single-object API writes.

Upserts are keyed by (partner, source_system, external_id): a partner key always writes with its own partner,
so its rows can only ever collide with its own rows. Every batch is validated item by item in plain Python
(cheap), then written with a constant number of queries: customer resolution (two SELECTs, one INSERT), then on
PostgreSQL a COPY into a temporary table and one INSERT … ON CONFLICT DO UPDATE … WHERE <something changed>
RETURNING (xmax = 0), so the database says what was created, updated or left alone (elsewhere one SELECT,
bulk_create and bulk_update). Good items are saved even when others are bad. A partner's new deals are deal
registrations: they get no protection until `leads.services.registration.registrations_check` decides them.
"""

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import CharField, Q, TextField
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from leads.customers import CustomerRef, customer_name_clean, customers_find_or_create, tax_id_clean
from leads.models import Activity, ActivityKind, Lead, LeadKind, LeadSource, Stage
from leads.services.deals import leads_activity_clock
from leads.services.registration import registrations_submit
from partners.models import Partner
from prm.bulk import column_defaults, gc_paused
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
    if value.__class__ is str:  # the common case, checked cheaply
        stripped = value.strip()
        if len(stripped) <= max_length and (stripped or not required) and "\x00" not in stripped:
            return stripped
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
        number = Decimal(value if value.__class__ is str else str(value))
    except (InvalidOperation, ValueError):
        errors[name] = ["A number."]
        return default
    if not number.is_finite() or number < 0:
        errors[name] = ["A number ≥ 0."]
        return default
    try:
        quantized = number.quantize(_STEPS[places])
    except InvalidOperation:  # more digits than the context holds
        quantized = None
    if quantized != number or quantized >= _TEN ** (max_digits - places):
        errors[name] = [f"At most {max_digits} digits with {places} decimal places."]
        return default
    return quantized


_STEPS = {places: Decimal(1).scaleb(-places) for places in range(7)}
_TEN = Decimal(10)


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


# --- the generic set-based write ------------------------------------------------------------------------------------

# A write the guard refused: the caller turns it into an item error.
BLOCKED = "blocked"


@dataclass(frozen=True)
class Guard:
    """A rule an existing row must satisfy to be updated, in SQL (over `{row}` = stored, `{new}` = incoming)
    and in Python (stored values, incoming values) for the non-PostgreSQL path."""

    sql: str
    columns: tuple[str, ...]
    allows: Callable[[dict, dict], bool]


def _upsert(*, model, rows: list[dict], update_fields: list[str], guard: Guard | None = None) -> list[tuple[int, str]]:
    """Create or update `rows` (dicts of attname → value with partner_id, source_system, external_id) by that
    key; (id, created | updated | unchanged | blocked) per row, in order. Columns the rows do not carry take
    the model's defaults; `update_fields` are what an update may change (and what decides "unchanged")."""
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _upsert_pg(model=model, rows=rows, update_fields=update_fields, guard=guard)
    existing = _existing(model, {_row_key(r) for r in rows}, [*update_fields, *(guard.columns if guard else ())])
    now = timezone.now()
    out, new, changed = [], [], []
    for row in rows:
        old = existing.get(_row_key(row))
        if old is None:
            new.append(model(**row))
            out.append([None, "created"])
        elif all(old[f] == row[f] for f in update_fields):
            out.append([old["id"], "unchanged"])
        elif guard and not guard.allows(old, row):
            out.append([old["id"], BLOCKED])
        else:
            # bulk_update does not run auto_now.
            changed.append(model(id=old["id"], updated_at=now, **{f: row[f] for f in update_fields}))
            out.append([old["id"], "updated"])
    model.objects.bulk_create(new)
    created = iter(new)
    for pair in out:
        if pair[1] == "created":
            pair[0] = next(created).pk
    if changed:
        model.objects.bulk_update(changed, [*update_fields, "updated_at"])
    return [tuple(pair) for pair in out]


def _row_key(row: dict) -> tuple:
    return row["partner_id"], row["source_system"], row["external_id"]


def _upsert_pg(*, model, rows, update_fields, guard) -> list[tuple[int, str]]:
    """COPY the rows into a temporary table, then one INSERT … ON CONFLICT DO UPDATE … WHERE <a value differs>
    RETURNING (xmax = 0): the database says which rows it created, updated or left alone, in one statement.

    Rows are applied in key order, the same for every writer, so concurrent batches over the same keys wait for
    each other instead of deadlocking; a row a concurrent request just brought to the same values is unchanged.
    """
    qn = connection.ops.quote_name
    table, tmp = qn(model._meta.db_table), qn(f"upsert_{model._meta.db_table}")
    carried = list(rows[0])
    fields = [model._meta.get_field(name) for name in carried]
    defaults = column_defaults(model, carried, connection)
    buf = io.StringIO()
    get = itemgetter(*carried)
    # `ord` is the row's place in the request; the file goes in key order (sorting here is ~10× cheaper than
    # sorting text in the statement), and the INSERT reads it back in file order.
    order = sorted(
        range(len(rows)), key=lambda i: (rows[i]["partner_id"] or 0, rows[i]["source_system"], rows[i]["external_id"])
    )
    csv.writer(buf).writerows((i, *get(rows[i])) for i in order)
    buf.seek(0)

    cols = ", ".join(qn(f.column) for f in fields)
    not_null = ", ".join(qn(f.column) for f in fields if not f.null and isinstance(f, (CharField, TextField)))
    updated = [qn(model._meta.get_field(name).column) for name in update_fields]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    differs = f"({', '.join(f'{table}.{c}' for c in updated)}) IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in updated)})"
    if guard:
        differs += f" AND ({guard.sql.format(row=table, new='EXCLUDED')})"
    insert = (
        f"INSERT INTO {table} ({cols}, {', '.join(qn(f.column) for f, _v in defaults)}) "
        f"SELECT {cols}, {', '.join(f'%s::{f.db_type(connection)}' for f, _v in defaults)} FROM {tmp} "
        f"ORDER BY ctid "
        f"ON CONFLICT (partner_id, source_system, external_id) WHERE external_id <> '' "
        f"DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at WHERE {differs} "
        f"RETURNING id, xmax = 0, partner_id, source_system, external_id"
    )
    out: list = [None] * len(rows)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {tmp}")
        columns = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
        cursor.execute(f"CREATE TEMPORARY TABLE {tmp} (ord integer, {columns}) ON COMMIT DROP")
        force = f", FORCE_NOT_NULL ({not_null})" if not_null else ""
        cursor.cursor.copy_expert(f"COPY {tmp} (ord, {cols}) FROM STDIN WITH (FORMAT csv{force})", buf)
        cursor.execute(insert, [v for _f, v in defaults])
        position = {_row_key(row): i for i, row in enumerate(rows)}
        for pk, created, *key in cursor.fetchall():
            out[position[tuple(key)]] = (pk, "created" if created else "updated")
        rest = [i for i, pair in enumerate(out) if pair is None]
        if rest:
            # Left alone: nothing differed (or the guard refused). One look-up for their ids.
            # Two branches so that both can use the unique (partial) index: `IS NOT DISTINCT FROM` cannot.
            blocked = f"NOT ({guard.sql.format(row='r', new='t')})" if guard else "false"
            select = (
                f"SELECT t.ord, r.id, {blocked} "
                f"FROM {tmp} t JOIN {table} r ON r.source_system = t.source_system AND r.external_id = t.external_id "
                f"AND r.external_id <> '' AND {{partner}} WHERE t.ord = ANY(%s)"
            )
            cursor.execute(
                select.format(partner="r.partner_id = t.partner_id")
                + " UNION ALL "
                + select.format(partner="r.partner_id IS NULL AND t.partner_id IS NULL"),
                [rest, rest],
            )
            for i, pk, is_blocked in cursor.fetchall():
                out[i] = (pk, BLOCKED if is_blocked else "unchanged")
    return out


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


# (name, max_length, required) of the lead's free-text fields.
_LEAD_TEXTS = (
    ("title", 200, True),
    ("contact_name", 200, False),
    ("contact_email", 254, False),
    ("contact_phone", 40, False),
    ("products", 300, False),
    ("notes", 100_000, False),
)


def _lead_values(item, errors) -> dict:
    values = {}
    for name, max_length, required in _LEAD_TEXTS:
        values[name] = _text(item, errors, name, max_length=max_length, required=required)
    values["kind"] = _choice(item, errors, "kind", _LEAD_KINDS, LeadKind.LICENSE)
    values["value"] = _decimal(item, errors, "value", max_digits=14, places=2, default=Decimal("0"))
    values["currency"] = _text(item, errors, "currency", max_length=3, default="RUB").upper() or "RUB"
    values["expected_close"] = _date(item, errors, "expected_close")
    if values["contact_email"] and not _EMAIL.match(values["contact_email"]):
        errors["contact_email"] = ["Enter a valid e-mail address."]
    if "currency" not in errors and not _CURRENCY.match(values["currency"]):
        errors["currency"] = ["Three capital letters (ISO 4217)."]
    return values


def _customer_ref(item, errors) -> CustomerRef | None:
    ref = item.get("customer")
    if not isinstance(ref, dict):
        errors["customer"] = ["An object with `name` and optionally `tax_id` and `country`."]
        return None
    sub: dict = {}
    name = _text(ref, sub, "name", max_length=300, required=True)
    tax_id = _text(ref, sub, "tax_id", max_length=32)
    country = _text(ref, sub, "country", max_length=2, default="RU").upper() or "RU"
    if not sub:
        try:
            name = customer_name_clean(name)
        except ValidationError as exc:
            sub["name"] = exc.messages
        try:
            tax_id = tax_id_clean(tax_id, country)
        except ValidationError as exc:
            sub["tax_id"] = exc.messages
    if sub:
        errors["customer"] = [f"{k}: {m}" for k, msgs in sub.items() for m in msgs]
        return None
    return CustomerRef(name=name, tax_id=tax_id, country=country)


@gc_paused()
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
        resolved = customers_find_or_create(refs=[p[3] for p in parsed]) if parsed else []
        # A partner's own new deal is a deal registration (decided by the registration rules right after the
        # commit); a vendor key assigns deals, as routing does.
        source = LeadSource.PARTNER_REGISTRATION if partner_id is not None else LeadSource.API
        rows = []
        for (_result, key, values, ref), customer in zip(parsed, resolved, strict=True):
            values["customer_id"] = customer.customer_id
            values["customer_name"] = ref.name
            values.update(
                partner_id=key[0],
                source_system=key[1],
                external_id=key[2],
                stage=Stage.REGISTERED if key[0] is not None else Stage.NEW,
                source=source,
            )
            rows.append(values)
        written = _upsert(
            model=Lead, rows=rows, update_fields=[*LEAD_CRM_FIELDS, "customer_name"], guard=_REGISTERED_CUSTOMER_FIXED
        )
        counts = {"created": 0, "updated": 0}
        created = []
        for (result, *_rest), (pk, status) in zip(parsed, written):
            if status == BLOCKED:
                result.errors["customer"] = [
                    _("A registered deal keeps its customer; register a new deal for another customer.")
                ]
                continue
            result.id, result.status = pk, status
            if status in counts:
                counts[status] += 1
            if status == "created":
                created.append(pk)
        if partner_id is not None and created:
            registrations_submit(lead_ids=created, submitted_by=api_actor(actor))
        if counts["created"] or counts["updated"]:
            audit_record(
                actor=api_actor(actor),
                action="lead.bulk_upserted",
                partner=Partner(pk=partner_id) if partner_id else None,
                data=counts,
            )
    return results


# Protection was decided for the customer the partner registered: moving the deal to another customer would
# carry it over without a conflict check.
_REGISTERED_CUSTOMER_FIXED = Guard(
    sql=f"{{row}}.source <> '{LeadSource.PARTNER_REGISTRATION.value}' OR {{row}}.customer_id = {{new}}.customer_id",
    columns=("source",),
    allows=lambda old, new: (
        old["source"] != LeadSource.PARTNER_REGISTRATION or old["customer_id"] == new["customer_id"]
    ),
)


# --- activities -------------------------------------------------------------------------------------------------

ACTIVITY_CRM_FIELDS = ["lead_id", "kind", "occurred_at", "subject", "notes"]
_ACTIVITY_KINDS = set(ActivityKind.values)


@gc_paused()
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
        for _result, key, values in rows:
            values.update(partner_id=key[0], source_system=key[1], external_id=key[2])
        written = _upsert(model=Activity, rows=[r[2] for r in rows], update_fields=ACTIVITY_CRM_FIELDS)
        touched = set()
        for (result, _k, values), (pk, status) in zip(rows, written):
            result.id, result.status = pk, status
            if status != "unchanged":
                touched.add(values["lead_id"])
        if touched:
            leads_activity_clock(lead_ids=touched)  # first contact and last activity, as in the portal
    return results


# --- single-object writes ---------------------------------------------------------------------------------------


def api_actor(actor):
    """API callers act as their key's creator in the audit trail."""
    return getattr(actor, "user", actor)


def lead_create_from_api(
    *, partner_id: int | None, customer_id: int, actor, by_partner: bool = False, **fields
) -> Lead:
    """`by_partner`: a partner key creates its own deal, which is a deal registration (see leads_bulk_upsert)."""
    lead = Lead(
        partner_id=partner_id,
        customer_id=customer_id,
        source=LeadSource.PARTNER_REGISTRATION if by_partner else LeadSource.API,
        stage=Stage.REGISTERED if partner_id else Stage.NEW,
        **fields,
    )
    with transaction.atomic():
        lead.full_clean()
        lead.save()
        audit_record(actor=api_actor(actor), action="lead.created_via_api", target=lead)
        if by_partner:
            registrations_submit(lead_ids=[lead.pk], submitted_by=api_actor(actor))
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


# --- a partner's deals from a CSV file --------------------------------------------------------------------------

DEAL_CSV_COLUMNS = ["external_id", "title", "customer", "tax_id", "country", "kind", "contact_name", "contact_email",
                    "contact_phone", "products", "value", "currency", "expected_close", "notes"]  # fmt: skip
_DEAL_CSV_REQUIRED = {"external_id", "title", "customer"}


def deals_import_csv(*, data: bytes | str, partner_id: int, actor=None) -> list[tuple[int, ItemResult]]:
    """A partner's deals from a CSV file (its CRM's export): every row is a bulk-upsert item keyed by
    ("csv", external_id), so importing the file again updates the deals instead of adding them twice, and the new
    deals are deal registrations decided by the same set-based check as the API's (registrations_check, queued
    after each commit). Returns (line, result) for every row; a file that is not readable CSV or lacks a required
    column raises ValidationError."""
    from leads.services.intake import csv_decode

    text, _encoding, delimiter = csv_decode(data)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    reader.fieldnames = [(f or "").strip().lower() for f in (reader.fieldnames or [])]
    missing = _DEAL_CSV_REQUIRED - set(reader.fieldnames)
    if missing:
        raise ValidationError(_("Missing columns: %(cols)s") % {"cols": ", ".join(sorted(missing))})
    lines, items = [], []
    for row in reader:
        values = {k: (v or "").strip() for k, v in row.items() if k and isinstance(v, str)}
        customer = {"name": values.pop("customer", ""), "tax_id": values.pop("tax_id", "")}
        if country := values.pop("country", ""):
            customer["country"] = country
        item = {k: v for k, v in values.items() if v and k in DEAL_CSV_COLUMNS}
        items.append(
            {**item, "source_system": "csv", "external_id": values.get("external_id", ""), "customer": customer}
        )
        lines.append(reader.line_num)
    results: list[ItemResult] = []
    for start in range(0, len(items), MAX_BATCH):
        results += leads_bulk_upsert(items=items[start : start + MAX_BATCH], partner_id=partner_id, actor=actor)
    return list(zip(lines, results, strict=True))
