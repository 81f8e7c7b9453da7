"""Inserting many new rows of one model fast: the write half of a big batch (a CSV import routes 5,000 leads at a
time and writes a lead, an offer, a decision and two audit rows for each).

`objects_insert` is `bulk_create` for plain new objects, without Django's per-object, per-field preparation (a
third of a 100,000-row import's time went to it). On PostgreSQL the attribute values go as they are (JSON fields
nested as JSON; other field types than the plain ones through the field's own `get_prep_value`), a batch of rows
as one JSON document (orjson) that `jsonb_populate_recordset` reads into the table's row type: one
`INSERT … SELECT … RETURNING id` per batch, and no statement of thousands of literals for psycopg2 to quote and
PostgreSQL to parse. The objects get their ids, as `bulk_create` gives them. Elsewhere (SQLite: the embedded demo
and the tests without PostgreSQL) it is `bulk_create`. Database triggers and constraints run as for any insert. No
signals are sent (neither does `bulk_create`).
"""

import contextvars
import functools
import gc
from contextlib import contextmanager
from decimal import Decimal
from uuid import UUID

import orjson
from django.db import connections, models, router
from django.utils import timezone
from django.utils.functional import Promise

# Field types (exactly these, not subclasses) whose Python value goes into the JSON document as it is (PostgreSQL's
# input functions read it as Django would have prepared it).
_AS_IS = {
    models.CharField, models.EmailField, models.SlugField, models.TextField, models.IntegerField,
    models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField, models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField, models.BooleanField, models.DecimalField, models.DateTimeField,
    models.DateField, models.TimeField, models.FloatField, models.ForeignKey,
}  # fmt: skip


@functools.cache
def _plan(model: type[models.Model], with_pk: bool = False) -> tuple[str, list]:
    """The model's insert statement and, per column, (column, attname, how its value is made); `with_pk`: the ids
    are given (reserved by ids_reserve)."""
    opts = model._meta
    columns, steps = [], []
    for f in opts.concrete_fields:
        if f.primary_key and isinstance(f, models.AutoField) and not with_pk:
            continue
        columns.append(f'"{f.column}"')
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            step = "now"
        elif isinstance(f, models.JSONField) or (
            type(f) in _AS_IS
            and (not f.is_relation or type(f.target_field) in _AS_IS | {models.AutoField, models.BigAutoField})
        ):
            step = None
        else:
            step = f
        steps.append((f.column, f.attname, step))
    # The rows go as one JSON document that PostgreSQL turns into the table's row type (its own input functions
    # read each value), in the order given: no statement of thousands of literals to quote and parse.
    names = ", ".join(columns)
    sql = (
        f"INSERT INTO {opts.db_table} ({names}) SELECT {names}"
        f" FROM jsonb_populate_recordset(NULL::{opts.db_table}, %s::jsonb) WITH ORDINALITY ORDER BY ordinality"
        f" RETURNING {opts.pk.column}"
    )
    return sql, steps


def column_defaults(model: type[models.Model], carried, connection) -> list[tuple[models.Field, object]]:
    """(field, database value of its default) for each concrete column of `model` that a batch of rows does not
    carry (`carried`: attnames), for set-based statements that must fill them as a model instance would."""
    template = model()
    return [
        (f, f.get_db_prep_save(f.pre_save(template, add=True), connection))
        for f in model._meta.concrete_fields
        if not f.primary_key and f.attname not in carried
    ]


def ids_reserve(model: type[models.Model], count: int) -> list[int] | None:
    """PostgreSQL: `count` ids taken from the model's id sequence for rows inserted later in the same transaction
    (objects_insert inserts objects whose ids are set with them), so rows that point to them can be written first
    (foreign keys are checked at commit). None elsewhere (SQLite): insert first there."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    opts = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [opts.db_table, opts.pk.column, count],
        )
        return [pk for (pk,) in cursor.fetchall()]


def objects_insert(
    objs: list[models.Model], *, batch_size: int = 5000, skip_conflicts: bool = False
) -> list[models.Model]:
    """Insert new objects of one model and give them their ids (or keep the ids they have, from ids_reserve: then
    all of them have one); returns `objs`. `skip_conflicts`: a row that would break a unique constraint is left out
    (ON CONFLICT DO NOTHING), and no object gets an id (as `bulk_create(ignore_conflicts=True)`)."""
    if not objs:
        return objs
    model = type(objs[0])
    alias = router.db_for_write(model)
    if connections[alias].vendor != "postgresql":
        model.objects.using(alias).bulk_create(objs, batch_size=min(batch_size, 2000), ignore_conflicts=skip_conflicts)
        return objs
    with_pk = objs[0].pk is not None
    if with_pk and not skip_conflicts and _hold(model, alias, [obj.__dict__ for obj in objs], with_pk=True):
        for obj in objs:
            obj._state.adding = False
            obj._state.db = alias
        return objs
    if skip_conflicts:
        _insert(model, alias, [obj.__dict__ for obj in objs], batch_size=batch_size, with_pk=with_pk, skip=True)
        return objs
    ids = _insert(model, alias, [obj.__dict__ for obj in objs], batch_size=batch_size, with_pk=with_pk)
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias
    return objs


def rows_insert(
    model: type[models.Model], rows: list[dict], *, batch_size: int = 5000, ids: bool = True
) -> list[int] | None:
    """Insert rows given as {attname: value} (a field left out takes its default) without building an object for
    each (append-only rows nobody reads back, e.g. audit events); returns their ids in order. `ids=False`: the
    caller does not want them (None is returned), so inside writes_held() the insert is held."""
    if not rows:
        return [] if ids else None
    alias = router.db_for_write(model)
    if connections[alias].vendor != "postgresql":
        objs = model.objects.using(alias).bulk_create([model(**row) for row in rows], batch_size=min(batch_size, 2000))
        return [obj.pk for obj in objs]
    defaults = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    missing = {attname for attname in defaults if attname not in rows[0]}
    if missing:
        # A constant default is made once; a callable one (a new dict, a fresh uuid) for each row.
        fixed = {
            a: defaults[a].get_default()
            for a in missing
            if not (defaults[a].has_default() and callable(defaults[a].default))
        }
        made = [a for a in missing if a not in fixed]
        rows = [{**fixed, **{a: defaults[a].get_default() for a in made}, **row} for row in rows]
    if not ids and _hold(model, alias, rows):
        return None
    inserted = _insert(model, alias, rows, batch_size=batch_size)
    return inserted if ids else None


def _insert(
    model: type[models.Model], alias: str, values: list[dict], *, batch_size: int, with_pk: bool = False, skip=False
) -> list[int]:
    """PostgreSQL: one INSERT … SELECT … RETURNING id per batch (`skip`: ON CONFLICT DO NOTHING, and the ids of the
    rows inserted only). Auto-now fields are set in `values` too."""
    connection = connections[alias]
    sql, steps = _plan(model, with_pk)
    if skip:
        sql = sql.replace(" RETURNING ", " ON CONFLICT DO NOTHING RETURNING ", 1)
    rows = _rows(steps, values)
    ids = []
    # Errors come as Django's (IntegrityError on a unique index), as from any query: callers catch those.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        for start in range(0, len(rows), batch_size):
            cursor.cursor.execute(sql, [rows_json(rows[start : start + batch_size])])
            ids.extend(pk for (pk,) in cursor.cursor.fetchall())
    return ids


def _rows(steps: list, values: list[dict]) -> list[dict]:
    """The rows of `values` by column, as the JSON document carries them (auto-now fields set in `values` too)."""
    now = timezone.now()
    rows = []
    for row_values in values:
        row = {}
        for column, attname, step in steps:
            if step is None:
                row[column] = row_values[attname]
            elif step == "now":
                row_values[attname] = now
                row[column] = now
            else:
                row[column] = step.get_prep_value(row_values[attname])
        rows.append(row)
    return rows


# --- writes held for one round trip ------------------------------------------------------------------------------


class _Held:
    """Statements held by writes_held, as SQL with their parameters already quoted in."""

    __slots__ = ("alias", "cursor", "statements")

    def __init__(self, alias: str, cursor):
        self.alias, self.cursor, self.statements = alias, cursor, []

    def add(self, sql: str, params=None) -> None:
        self.statements.append(sql if params is None else self.cursor.mogrify(sql, params).decode())

    def take(self) -> str:
        sql, self.statements = "; ".join(self.statements), []
        return sql


_HELD: contextvars.ContextVar[_Held | None] = contextvars.ContextVar("bulk_held", default=None)


@contextmanager
def writes_held(alias: str = "default"):
    """PostgreSQL: within the block, writes whose results nobody reads (`write`, rows_insert with `ids=False`,
    objects_insert of objects that have their ids) are held and sent in the round trip of the connection's next
    statement, whatever it is (a read, a savepoint, a write that returns rows), ahead of it, or when the block ends.
    PostgreSQL runs a round trip's statements in order, each as if sent alone (its own snapshot; the driver returns
    the last one's rows), so the order of everything sent stays as written: only the round trips are fewer (a
    single routing decision sent 15 statements, one round trip each; 7 with its writes held). An error in a held
    write is raised by the statement that carried it. Leaving the block by an exception drops what is held (the
    transaction is rolled back anyway). Elsewhere (SQLite), and inside another such block, the writes run as they
    come."""
    connection = connections[alias]
    if connection.vendor != "postgresql" or _HELD.get() is not None:
        yield
        return
    cursor = connection.cursor()  # quotes the held statements' parameters (the driver's mogrify)
    held = _Held(alias, cursor.cursor)

    def carry(execute, sql, params, many, context):
        if held.statements:
            if many:  # executemany runs its statement once per set of parameters: the held ones go alone first
                execute(held.take(), None, False, context)
            else:
                ahead = held.take()
                sql = f"{ahead if params is None else ahead.replace('%', '%%')}; {sql}"
        return execute(sql, params, many, context)

    token = _HELD.set(held)
    try:
        with connection.execute_wrapper(carry):
            yield
            if held.statements:
                cursor.execute(held.take())
    finally:
        _HELD.reset(token)
        cursor.close()


def write(sql: str, params=None, *, alias: str = "default") -> None:
    """Run a statement whose result nobody reads, or hold it inside writes_held()."""
    held = _HELD.get()
    if held is not None and held.alias == alias:
        held.add(sql, params)
        return
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)


def _hold(model: type[models.Model], alias: str, values: list[dict], *, with_pk: bool = False) -> bool:
    """Hold the insert of `values` (no ids returned) if writes are held on `alias`; False: they are not."""
    held = _HELD.get()
    if held is None or held.alias != alias:
        return False
    sql, steps = _plan(model, with_pk)
    held.add(sql.rsplit(" RETURNING ", 1)[0], [rows_json(_rows(steps, values))])
    return True


def rows_json(rows: list[dict]) -> str:
    """The rows as JSON for `jsonb_populate_recordset` / `jsonb_to_recordset`: datetimes in ISO 8601 with their microseconds and zone,
    decimals as their exact digits (a JSON number would pass through a float)."""
    return orjson.dumps(rows, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_default(value):
    if isinstance(value, Decimal | Promise | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector off while a batch runs. A 5,000-item batch allocates ~100,000 short-lived
    objects (parsed items, values, results; a registration check's deals, registrations and claims), enough to set
    off several full cyclic-GC passes over the whole process heap: a quarter to a third of a bulk upsert's request
    time, ~0.14 ms a deal of an import's registration check. Reference counting frees them anyway; cycles wait until
    the batch is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
