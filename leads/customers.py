"""Who the customer is: the one rule for customer keys and for finding or creating a customer.

Every door (portal registration, REST single create and bulk upsert, the vendor lead form, CSV import, the
Django admin, the demo data) calls this module, so one company typed through any of them is one customer.

Keys (pure functions, no database):
- tax id: validated and canonicalised before any comparison by the one tax id rule, prm.taxids (shared with
  partners' own tax ids).
- domain: the host of the company website or e-mail, never a free-mail provider.
- name key: legal forms (ООО, OOO, LLC, ЗАО, АО, ИП, GmbH, …), quotes, case, ё/е, punctuation and whitespace
  removed, Cyrillic transliterated, so «ООО «Ромашка»» and "Romashka LLC" share the key "romashka".

Find-or-create (`customers_find_or_create`): tax id → domain → name key. A domain or name match never joins
two different tax ids; a match that lacks the tax id or domain it was found by gets it. On PostgreSQL the keys
of a customer not found at once are taken with transaction advisory locks and looked up again, so concurrent
requests naming one new customer create one row.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import CharField
from django.utils.translation import gettext as _
from unidecode import unidecode

from leads.models import Customer
from prm.bulk import column_defaults
from prm.services import audit_record
from prm.taxids import tax_id_canonical, tax_id_clean  # noqa: F401 (the customer rule's tax id keys)

# --- domains --------------------------------------------------------------------------------------------------

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yandex.ru",
        "yandex.com",
        "ya.ru",
        "mail.ru",
        "bk.ru",
        "list.ru",
        "inbox.ru",
        "internet.ru",
        "rambler.ru",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "zoho.com",
    }
)


def domain_normalize(value: str | None) -> str:
    """The host of a website or e-mail, lower-case, without "www."; empty for free-mail providers."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    if "@" in value and "://" not in value:
        host = value.rsplit("@", 1)[1]
    else:
        try:
            host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
        except ValueError:  # "[" and other text that is no URL
            return ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    if "." not in host or host in FREE_MAIL_DOMAINS:
        return ""
    return host


def domain_from(*, website: str = "", email: str = "") -> str:
    """The company domain: the website if it names one, else the e-mail's (never a free-mail one)."""
    return domain_normalize(website) or domain_normalize(email)


# --- name key ---------------------------------------------------------------------------------------------------

# Legal forms as whole tokens, compared after lower-casing and transliteration and with dots removed
# ("b.v." -> "bv", "s.a." -> "sa"). Multi-word forms are listed as token sequences.
LEGAL_FORMS = frozenset(
    {
        "ooo",
        "oao",
        "zao",
        "ao",
        "pao",
        "ip",
        "nko",
        "ano",
        "fgup",
        "gup",
        "mup",
        "llc",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "plc",
        "jsc",
        "pjsc",
        "ojsc",
        "cjsc",
        "gmbh",
        "ag",
        "kg",
        "bv",
        "nv",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "oy",
        "ab",
        "as",
        "llp",
        "lp",
    }
)
LEGAL_FORM_SEQUENCES = (("sp", "z", "o", "o"), ("sp", "z", "oo"), ("sp", "zoo"), ("spolka", "z", "oo"))

_QUOTES = "«»\"'„“”‘’‚`"
_TOKEN = re.compile(r"[a-z0-9]+")
_ABBREVIATION_DOT = re.compile(r"(?<=\b[a-z])\.(?=[a-z]\b)")
_YO = {"ё": "е", "Ё": "Е"}


class _Transliteration(dict):
    """str.translate table: ё → е, quotes → space, every other character as unidecode spells it. unidecode works
    character by character, so one table filled on first sight of each character gives the same text at a
    fraction of the cost (a CRM batch names thousands of customers)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = " " if char in _QUOTES else unidecode(_YO.get(char, char))
        self[code] = value
        return value


_TRANSLITERATION = _Transliteration()


def name_tokens(name: str | None) -> list[str]:
    text = (name or "").translate(_TRANSLITERATION).lower()
    # Quotes are gone already; an apostrophe now is a transliterated soft/hard sign ("Альфа" -> "al'fa").
    text = text.replace("'", "")
    # Dots inside abbreviations join them ("b.v." -> "bv"); other punctuation separates words.
    text = _ABBREVIATION_DOT.sub("", text).replace(".", " ")
    tokens = _TOKEN.findall(text)
    for seq in LEGAL_FORM_SEQUENCES:
        n = len(seq)
        i = 0
        while i + n <= len(tokens):
            if tuple(tokens[i : i + n]) == seq:
                del tokens[i : i + n]
            else:
                i += 1
    # A name that is only a legal form ("ООО") becomes empty: it names no company, forms reject it.
    return [t for t in tokens if t not in LEGAL_FORMS]


@lru_cache(maxsize=10_000)
def customer_name_key(name: str | None) -> str:
    """The customer's name key: «ООО «Ромашка»», "Romashka LLC" and "ромашка, ооо" are all "romashka"."""
    return " ".join(name_tokens(name))


def name_prefix(normalized: str) -> str:
    """The SQL narrowing key for fuzzy matching: the first word of the normalised name."""
    return normalized.split(" ", 1)[0] if normalized else ""


def customer_name_clean(name: str | None) -> str:
    """The name as typed (stripped), or a ValidationError when it names no company (only a legal form)."""
    name = (name or "").strip()
    if not customer_name_key(name):
        raise ValidationError(_("Enter the company's name, not only its legal form."))
    return name


# --- find or create ---------------------------------------------------------------------------------------------


class MatchedBy:
    TAX_ID = "tax_id"
    DOMAIN = "domain"
    NAME = "name"


@dataclass(frozen=True)
class CustomerRef:
    """A customer as one door names it. Values may be raw; the keys are computed here."""

    name: str
    tax_id: str = ""
    domain: str = ""
    country: str = "RU"
    region: object = None
    industry: object = None
    size: str = ""

    def keys(self) -> tuple[str, str, str]:
        return (
            tax_id_canonical(self.tax_id, self.country),
            domain_normalize(self.domain),
            customer_name_key(self.name),
        )


@dataclass(frozen=True)
class Resolved:
    customer_id: int
    created: bool
    matched_by: str = ""  # how an existing customer was found ("" when created)


@dataclass(frozen=True)
class CustomerResolution:
    customer: Customer
    created: bool
    matched_by: str = ""


_ROW = ("id", "tax_id", "domain", "normalized_name", "reserved_for_direct")


class _Index:
    """Customers by each key, best first (the vendor's named account, then the oldest)."""

    def __init__(self, rows):
        self.by = {MatchedBy.TAX_ID: {}, MatchedBy.DOMAIN: {}, MatchedBy.NAME: {}}
        for row in sorted(rows, key=lambda r: (not r["reserved_for_direct"], r["id"] or 0)):
            self.add(row)

    def add(self, row: dict) -> None:
        for kind, field in (
            (MatchedBy.TAX_ID, "tax_id"),
            (MatchedBy.DOMAIN, "domain"),
            (MatchedBy.NAME, "normalized_name"),
        ):
            if row[field]:
                bucket = self.by[kind].setdefault(row[field], [])
                if row not in bucket:
                    bucket.append(row)

    def match(self, tax_id: str, domain: str, key: str) -> tuple[dict | None, str]:
        """tax id → domain → name key; a domain or name match must not carry another tax id."""
        if tax_id and (rows := self.by[MatchedBy.TAX_ID].get(tax_id)):
            return rows[0], MatchedBy.TAX_ID
        for kind, value in ((MatchedBy.DOMAIN, domain), (MatchedBy.NAME, key)):
            for row in self.by[kind].get(value, ()) if value else ():
                if not tax_id or not row["tax_id"]:
                    return row, kind
        return None, ""


def _strongest(keys: tuple[str, str, str]) -> str:
    tax_id, domain, _key = keys
    return MatchedBy.TAX_ID if tax_id else MatchedBy.DOMAIN if domain else MatchedBy.NAME


def _pg_array(values) -> str:
    """One PostgreSQL array literal ('{"a","b",NULL}') for a parameter: psycopg2 sends a list as ARRAY['a', 'b', …],
    one expression per element that PostgreSQL parses and plans one by one (most of a 5,000-key statement's time)."""
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
        )
        + "}"
    )


def _index_load(all_keys: Sequence[tuple[str, str, str]]) -> _Index:
    """Candidates for every key of the batch, in three indexed queries at most."""
    tax_ids = {k[0] for k in all_keys if k[0]}
    domains = {k[1] for k in all_keys if k[1]}
    names = {k[2] for k in all_keys if k[2]}
    rows = {}
    if connection.vendor == "postgresql":
        # One statement, one array per key (a 5,000-customer batch as three IN lists costs more to build and send).
        columns = ", ".join(_ROW)
        with connection.cursor() as cursor:
            cursor.execute(
                " UNION ".join(
                    # ARRAY(SELECT unnest(…)): a parameter the planner does not estimate element by element
                    f"SELECT {columns} FROM {Customer._meta.db_table} WHERE {field} = ANY(ARRAY(SELECT unnest(%s::text[])))"
                    for field in ("tax_id", "domain", "normalized_name")
                ),
                [_pg_array(tax_ids), _pg_array(domains), _pg_array(names)],
            )
            return _Index(dict(zip(_ROW, row, strict=True)) for row in cursor.fetchall())
    for field, values in (("tax_id", tax_ids), ("domain", domains), ("normalized_name", names)):
        if values:
            for row in Customer.objects.filter(**{f"{field}__in": values}).values(*_ROW):
                rows[row["id"]] = row
    return _Index(rows.values())


def _lock(all_keys: Sequence[tuple[str, str, str]]) -> None:
    """Transaction advisory locks on every key, in one order for every writer (no deadlock)."""
    labels = sorted(
        {f"{kind}:{value}" for keys in all_keys for kind, value in zip(("t", "d", "n"), keys, strict=True) if value}
    )
    if labels and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended('prm.customer:' || k, 0) h "
                "FROM unnest(%s::text[]) k) x ORDER BY h",
                [_pg_array(labels)],
            )


def customers_find_or_create(*, refs: Sequence[CustomerRef]) -> list[Resolved]:
    """The customer of every ref, found by tax id → domain → name key or created; one result per ref, in order.

    Set-based (a CRM batch has 5,000 items): three queries to find, one bulk insert, one update per customer
    that gains a tax id or domain. Raises ValidationError when a ref's name is only a legal form.
    """
    keys = [ref.keys() for ref in refs]
    if any(not k[2] for k in keys):
        raise ValidationError({"customer_name": [_("Enter the company's name, not only its legal form.")]})
    unique = list(dict.fromkeys(keys))
    with transaction.atomic():
        index = _index_load(unique)
        unsure = [k for k in unique if index.match(*k)[1] != _strongest(k)]
        if unsure and connection.vendor == "postgresql":
            _lock(unsure)
            index = _index_load(unique)
        first_ref = {}
        for ref, k in zip(refs, keys, strict=True):
            first_ref.setdefault(k, ref)
        new: dict[tuple, dict] = {}  # key → the customer this call creates for it (field → value)
        found: dict[tuple, tuple[dict, str]] = {}
        gains: dict[int, dict] = {}
        for k in unique:
            row, matched_by = index.match(*k)
            if row is None:
                ref = first_ref[k]
                new[k] = {
                    "name": ref.name.strip()[:300],
                    "normalized_name": k[2],
                    "tax_id": k[0],
                    "domain": k[1],
                    "country": (ref.country or "RU").upper()[:2],
                    "region_id": getattr(ref.region, "pk", ref.region),
                    "industry_id": getattr(ref.industry, "pk", ref.industry),
                    "size": ref.size or "",
                }
                row = {"id": None, "new": k, "tax_id": k[0], "domain": k[1], "normalized_name": k[2]}
                row["reserved_for_direct"] = False
                index.add(row)
            else:
                # Found by a weaker key: the customer gains the tax id / domain it lacked.
                for field, value in (("tax_id", k[0]), ("domain", k[1])):
                    if value and not row[field]:
                        row[field] = value
                        index.add(row)
                        if row["id"] is not None:
                            gains.setdefault(row["id"], {})[field] = value
                        else:
                            new[row["new"]][field] = value
            found[k] = (row, matched_by)
        new_ids = dict(zip(new, _customers_insert(list(new.values())), strict=True)) if new else {}
        for pk, values in gains.items():
            Customer.objects.filter(pk=pk, **{f: "" for f in values}).update(**values)
        result = []
        for k in keys:
            row, matched_by = found[k]
            if row["id"] is None:
                result.append(Resolved(customer_id=new_ids[row["new"]], created=True))
            else:
                result.append(Resolved(customer_id=row["id"], created=False, matched_by=matched_by))
    return result


def _customers_insert(rows: list[dict]) -> list[int]:
    """Insert new customers (dicts of attname → value, one set of keys), their ids in order. On PostgreSQL one
    INSERT … SELECT FROM unnest(<one array per column>) RETURNING id: building and compiling 5,000 model instances
    for bulk_create cost more than the insert itself. Columns the rows do not carry take the model's defaults."""
    if connection.vendor != "postgresql":
        customers = [Customer(**row) for row in rows]
        Customer.objects.bulk_create(customers)
        return [c.pk for c in customers]
    qn, carried = connection.ops.quote_name, list(rows[0])
    fields = [Customer._meta.get_field(name) for name in carried]
    defaults = column_defaults(Customer, carried, connection)
    # Text as text: the insert's own cast then refuses a value too long for its column, as bulk_create's does.
    arrays = ", ".join(f"%s::{'text' if isinstance(f, CharField) else f.db_type(connection)}[]" for f in fields)
    columns = ", ".join(qn(f.column) for f in [*fields, *(f for f, _v in defaults)])
    names = ", ".join(f"c{i}" for i in range(len(fields)))
    constants = ", ".join(f"%s::{f.db_type(connection)}" for f, _v in defaults)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(Customer._meta.db_table)} ({columns}) "
            f"SELECT {names}, {constants} FROM unnest({arrays}) WITH ORDINALITY AS u({names}, ord) ORDER BY ord "
            f"RETURNING {qn(Customer._meta.pk.column)}",
            [*(v for _f, v in defaults), *(_pg_array([row[name] for row in rows]) for name in carried)],
        )
        return [pk for (pk,) in cursor.fetchall()]


def customer_find_or_create(
    *, name: str, tax_id: str = "", domain: str = "", country: str = "RU", region=None, industry=None, size: str = ""
) -> CustomerResolution:
    """The one customer for this name / tax id / domain, found or created (see `customers_find_or_create`)."""
    ref = CustomerRef(
        name=name, tax_id=tax_id, domain=domain, country=country, region=region, industry=industry, size=size
    )
    with transaction.atomic():
        (resolved,) = customers_find_or_create(refs=[ref])
        customer = Customer.objects.get(pk=resolved.customer_id)
    return CustomerResolution(customer=customer, created=resolved.created, matched_by=resolved.matched_by)


def customer_find(*, name: str = "", tax_id: str = "", domain: str = "", country: str = "RU", exclude_pk=None):
    """The existing customer these values name, by the same rule (no write), and how it matched; else (None, "")."""
    keys = CustomerRef(name=name, tax_id=tax_id, domain=domain, country=country).keys()
    index = _index_load([keys])
    if exclude_pk is not None:
        index = _Index(
            r for bucket in index.by.values() for rows in bucket.values() for r in rows if r["id"] != exclude_pk
        )
    row, matched_by = index.match(*keys)
    if row is None:
        return None, ""
    return Customer.objects.get(pk=row["id"]), matched_by


def customer_save(*, customer: Customer, actor) -> Customer:
    """Save a customer edited by hand (the Django admin): its keys come from the one rule, never from the form."""
    customer.name = customer_name_clean(customer.name)
    customer.normalized_name = customer_name_key(customer.name)
    customer.tax_id = tax_id_canonical(customer.tax_id, customer.country)
    customer.domain = domain_normalize(customer.domain)
    created = customer.pk is None
    with transaction.atomic():
        customer.full_clean()
        customer.save()
        audit_record(
            actor=actor,
            action="customer.created" if created else "customer.changed",
            target=customer,
            data={"tax_id": customer.tax_id, "domain": customer.domain, "key": customer.normalized_name},
        )
    return customer


def customer_matched_message(*, lead, matched_by: str) -> str:
    """What a partner is told when the customer it typed was already known: the deal keeps the typed name."""
    how = {
        MatchedBy.TAX_ID: _("the tax id"),
        MatchedBy.DOMAIN: _("the company domain"),
        MatchedBy.NAME: _("the company name"),
    }[matched_by]
    return _(
        "By %(how)s this is a customer already known as «%(stored)s»; your deal keeps the name you entered, "
        "«%(typed)s»."
    ) % {"how": how, "stored": lead.customer.name, "typed": lead.customer_name or lead.customer.name}


# --- re-keying and merging (the data migration and `manage.py customers_merge`) -----------------------------------


@dataclass
class RekeyReport:
    customers_changed: int = 0
    windows_rekeyed: int = 0
    windows_released: list = None  # (window id, registration id, key kind, key) that lost to an older holder

    def __post_init__(self):
        self.windows_released = self.windows_released or []


def customers_rekey(*, customer_ids=None, customer_model=None, window_model=None) -> RekeyReport:
    """Recompute customer keys with the one rule and re-key the active protection windows of their deals to them.

    Windows held through a customer's deals take that customer's keys (what every lookup produces). When two
    active windows end up with one key, the older keeps it and the newer is released (reported). The models can
    be passed in so the data migration runs this with its historical models.
    """
    customer_model = customer_model or Customer
    if window_model is None:
        from leads.models import ProtectionWindow as window_model
    report = RekeyReport()
    customers = customer_model.objects.all()
    if customer_ids is not None:
        customers = customers.filter(pk__in=list(customer_ids))
    keys_of: dict[int, tuple[str, str, str]] = {}
    changed = []
    for c in customers.only("id", "name", "tax_id", "domain", "country", "normalized_name").iterator(chunk_size=2000):
        tax_id, domain = tax_id_canonical(c.tax_id, c.country), domain_normalize(c.domain)
        key = customer_name_key(c.name) or c.normalized_name
        keys_of[c.pk] = (tax_id, domain, key)
        if (c.tax_id, c.domain, c.normalized_name) != (tax_id, domain, key):
            c.tax_id, c.domain, c.normalized_name = tax_id, domain, key
            changed.append(c)
    customer_model.objects.bulk_update(changed, ["tax_id", "domain", "normalized_name"], batch_size=1000)
    report.customers_changed = len(changed)

    windows = window_model.objects.filter(active=True)
    if customer_ids is not None:
        windows = windows.filter(registration__lead__customer_id__in=list(keys_of))
    moves = []  # (starts_at, id, registration id, kind, new key)
    for w in windows.values("id", "registration_id", "key_kind", "key", "starts_at", "registration__lead__customer_id"):
        tax_id, domain, name = keys_of.get(w["registration__lead__customer_id"], ("", "", ""))
        new = {"tax_id": tax_id or tax_id_canonical(w["key"]), "domain": domain or domain_normalize(w["key"])}.get(
            w["key_kind"], name or customer_name_key(w["key"])
        )
        if new and new != w["key"]:
            moves.append((w["starts_at"], w["id"], w["registration_id"], w["key_kind"], new))
    if not moves:
        return report
    moving = [m[1] for m in moves]
    taken = set(
        window_model.objects.filter(active=True, key__in={m[4] for m in moves})
        .exclude(pk__in=moving)
        .values_list("key_kind", "key")
    )
    # Free the old keys first, so that swapping keys between windows never trips the unique index.
    window_model.objects.filter(pk__in=moving).update(active=False)
    kept = []
    for _starts, pk, registration_id, kind, key in sorted(moves):
        if (kind, key) in taken:
            report.windows_released.append((pk, registration_id, kind, key))
            continue
        taken.add((kind, key))
        kept.append(window_model(pk=pk, key=key, active=True))
    window_model.objects.bulk_update(kept, ["key", "active"], batch_size=1000)
    report.windows_rekeyed = len(kept)
    return report


def customer_duplicates() -> dict[int, list[int]]:
    """Customers that the one rule says are one: survivor id → the ids to merge into it (by fresh keys).

    The survivor is the vendor's named account, else the oldest; the rest match it by tax id → domain → name key
    exactly as `customers_find_or_create` would have matched them."""
    rows = list(
        Customer.objects.order_by("-reserved_for_direct", "id").values(
            "id", "name", "tax_id", "domain", "country", "reserved_for_direct"
        )
    )
    index = _Index([])
    groups: dict[int, list[int]] = {}
    for row in rows:
        tax_id, domain, key = CustomerRef(
            name=row["name"], tax_id=row["tax_id"], domain=row["domain"], country=row["country"]
        ).keys()
        survivor, _how = index.match(tax_id, domain, key) if key or tax_id or domain else (None, "")
        if survivor is None:
            index.add(
                {
                    "id": row["id"],
                    "tax_id": tax_id,
                    "domain": domain,
                    "normalized_name": key,
                    "reserved_for_direct": row["reserved_for_direct"],
                }
            )
        else:
            groups.setdefault(survivor["id"], []).append(row["id"])
            for field, value in (("tax_id", tax_id), ("domain", domain)):
                if value and not survivor[field]:
                    survivor[field] = value
                    index.add(survivor)
    return groups


def customers_merge(*, survivor_id: int, duplicate_ids: Sequence[int], actor) -> RekeyReport:
    """Merge duplicates into the survivor: every row pointing at a duplicate (leads, contracts, tickets, links)
    points at the survivor, the survivor gains a tax id / domain it lacked, the duplicates are deleted, and the
    protection windows of the survivor's deals are re-keyed to its keys. Audited."""
    duplicate_ids = [pk for pk in duplicate_ids if pk != survivor_id]
    with transaction.atomic():
        survivor = Customer.objects.select_for_update().get(pk=survivor_id)
        duplicates = list(Customer.objects.select_for_update().filter(pk__in=duplicate_ids).order_by("id"))
        moved = {}
        for relation in Customer._meta.related_objects:
            if relation.one_to_many:
                model, field = relation.related_model, relation.field.name
                n = model._base_manager.filter(**{f"{field}__in": duplicates}).update(**{field: survivor})
                if n:
                    moved[model._meta.label] = n
        for dup in duplicates:
            if not survivor.tax_id and dup.tax_id:
                survivor.tax_id = dup.tax_id
            if not survivor.domain and dup.domain:
                survivor.domain = dup.domain
        survivor.save(update_fields=["tax_id", "domain", "updated_at"])
        Customer.objects.filter(pk__in=[d.pk for d in duplicates]).delete()
        report = customers_rekey(customer_ids=[survivor.pk])
        audit_record(
            actor=actor,
            action="customer.merged",
            target=survivor,
            data={
                "merged": [{"id": d.pk, "name": d.name, "tax_id": d.tax_id} for d in duplicates],
                "moved": moved,
                "windows_rekeyed": report.windows_rekeyed,
                "windows_released": [w[0] for w in report.windows_released],
            },
        )
    return report
