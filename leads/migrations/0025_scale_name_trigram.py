"""Trigram indexes for soft name conflicts (PostgreSQL only; SQLite keeps the first-word prefix index).

Every similar protected name is found through pg_trgm (similarity and word similarity) instead of the names that
share the first word, capped at 500. pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may
create it.
"""

from django.db import migrations

INDEXES = [
    ("protection_name_trgm_idx", "leads_protectionwindow", "key", "active AND key_kind = 'name'"),
    ("customer_reserved_name_trgm_idx", "leads_customer", "normalized_name", "reserved_for_direct"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops) WHERE {where}"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column, _where in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("leads", "0024_pulse_lead_import")]

    operations = [migrations.RunPython(forwards, backwards)]
