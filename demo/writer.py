"""Fast row insertion for the demo seed: COPY on PostgreSQL, executemany elsewhere.

Rows are plain tuples in the order of the columns given; columns a model has but the seed does not provide get
the field's default (so new fields added by other features keep working). Timestamps may be given as integer
epoch seconds (UTC) to keep generation of millions of rows cheap.
"""

import datetime as dt
import json
from collections.abc import Iterable, Iterator

from django.core.management.color import no_style
from django.db import connection, models
from django.utils import timezone

_EPOCH_DAY0 = dt.date(1970, 1, 1)
_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _DayCache(dict):
    def __missing__(self, day: int) -> str:
        value = self[day] = (_EPOCH_DAY0 + dt.timedelta(days=day)).isoformat()
        return value


_DAYS = _DayCache()


def day_text(day: int) -> str:
    """'YYYY-MM-DD' for a day number since the epoch (cached: dates repeat a lot)."""
    return _DAYS[day]


def ts_text(seconds: int, suffix: str) -> str:
    day, rest = divmod(int(seconds), 86400)
    return f"{_DAYS[day]} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}{suffix}"


def _converter(field: models.Field, postgres: bool):
    kind = field.get_internal_type()
    suffix = "+00" if postgres else ""
    if kind == "DateTimeField":

        def conv(v):
            if isinstance(v, int):
                return ts_text(v, suffix)
            if postgres:
                return v.isoformat()
            return connection.ops.adapt_datetimefield_value(v)

    elif kind == "DateField":

        def conv(v):
            return v if v.__class__ is str else v.isoformat()

    elif kind == "JSONField":

        def conv(v):
            return json.dumps(v, ensure_ascii=False)

    elif kind == "BooleanField":
        if not postgres:
            return None

        def conv(v):
            return "t" if v else "f"

    elif kind == "DecimalField":

        def conv(v):
            return str(v)

    elif postgres:
        conv = str
    else:
        return None
    return conv


def _filler(field: models.Field):
    """Value for a column the seed does not provide: the field's default (callable defaults are per row)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        now = timezone.now()
        return lambda: now
    if field.has_default():
        if callable(field.default):
            return field.default
        value = field.get_default()
        return lambda: value
    if field.null:
        return lambda: None
    if field.get_internal_type() in ("CharField", "TextField", "SlugField", "EmailField", "URLField"):
        return lambda: ""
    raise ValueError(f"{field.model.__name__}.{field.name} needs a value in the demo seed")


class _CopySource:
    """A file-like object psycopg2's copy_expert reads from; lines are generated on demand."""

    def __init__(self, lines: Iterator[str]):
        self.lines = lines
        self.buffer = ""

    def read(self, size: int = -1) -> str:
        parts = [self.buffer]
        length = len(self.buffer)
        for line in self.lines:
            parts.append(line)
            length += len(line)
            if length >= size > 0:
                break
        self.buffer = ""
        return "".join(parts)

    readline = read


def insert_rows(model, fields: list[str], rows: Iterable[tuple], *, progress=None, batch: int = 2000) -> int:
    """Insert `rows` (tuples matching `fields`, attnames) into the model's table; returns the row count."""
    postgres = connection.vendor == "postgresql"
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    given = [by_attname[name] for name in fields]
    extra = [
        f
        for f in model._meta.concrete_fields
        if f.attname not in fields and not (f.primary_key and isinstance(f, models.AutoField))
    ]
    fillers = [_filler(f) for f in extra]
    columns = given + extra
    converters = [_converter(f, postgres) for f in columns]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    count = 0

    def full_rows():
        nonlocal count
        for row in rows:
            count += 1
            if progress is not None and count % 1000 == 0:
                progress.update(1000)
            yield row + tuple(fill() for fill in fillers) if fillers else row

    if postgres:
        is_json = [f.get_internal_type() == "JSONField" for f in columns]
        pairs = list(zip(converters, is_json))

        def lines():
            for row in full_rows():
                out = []
                for v, (conv, json_col) in zip(row, pairs):
                    if v is None:
                        out.append("\\N")
                    elif json_col:
                        out.append(conv(v).translate(_COPY_ESCAPE))
                    elif v.__class__ is str:
                        out.append(v.translate(_COPY_ESCAPE))
                    else:
                        out.append(conv(v))
                yield "\t".join(out) + "\n"

        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", _CopySource(lines()), size=1 << 18)
    else:
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        pairs = [(i, conv) for i, conv in enumerate(converters) if conv is not None]
        chunk: list[list] = []
        with connection.cursor() as cursor:
            for row in full_rows():
                values = list(row)
                for i, conv in pairs:
                    if values[i] is not None:
                        values[i] = conv(values[i])
                chunk.append(values)
                if len(chunk) >= batch:
                    cursor.executemany(sql, chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
    if progress is not None:
        progress.update(count % 1000)
    return count


def next_id(model) -> int:
    return (model.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1


def reset_sequences(model_list: list) -> None:
    """Explicit ids were inserted; move PostgreSQL sequences past them (SQLite needs nothing)."""
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
