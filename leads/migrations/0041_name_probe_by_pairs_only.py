"""Every name probe by pairs of words: the vendor's named accounts are found as the name windows are (leads
migration 0039), and the words indexes go.

The name windows' words index (leads migration 0037, `protection_name_words_idx`) has not been read since 0039 (the
windows are found through their pairs, `protection_name_pairs_idx`, and the runs of the asked name), yet each new
protected name wrote ~3 entries into it (GIN, `fastupdate` off): an import's window inserts without it. The named
accounts' probe was still an OR of ~15 overlaps of their words index a name (~40 buffers a name); it now asks their
own pairs index (`customer_reserved_name_pairs_idx`) with the asked name's pairs, and applies the same condition and
order to the rows found (leads.selectors.registration._named_probe): the same names, as for the windows (every name
the words condition accepts has one of the pairs asked, see 0039; a hash collision only adds a row the condition
drops). `leads_nameword` and its triggers stay (the asked words' similar words are looked up there).

PostgreSQL only; indexes built and dropped CONCURRENTLY (the migration is not atomic), the function schema-qualified
(pg_restore, see 0031).
"""

import importlib

from django.db import migrations

PAIRS = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS customer_reserved_name_pairs_idx ON leads_customer "
    "USING gin ({own}leads_name_word_pairs(normalized_name) array_ops) WITH (fastupdate = off) "
    "WHERE reserved_for_direct"
)

# (index, table, column, rows): the words indexes of leads migration 0037.
WORDS = [
    ("protection_name_words_idx", "leads_protectionwindow", "key", "active AND key_kind = 'name'"),
    ("customer_reserved_name_words_idx", "leads_customer", "normalized_name", "reserved_for_direct"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    own, _ext = importlib.import_module("leads.migrations.0034_name_blocks_plpgsql")._schemas(schema_editor.connection)
    schema_editor.execute(PAIRS.format(own=own))
    schema_editor.execute("ANALYZE leads_customer")
    for name, _table, _column, _where in WORDS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column, where in WORDS:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
            f"USING gin (string_to_array({column}, ' ') array_ops) WITH (fastupdate = off) WHERE {where}"
        )
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS customer_reserved_name_pairs_idx")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("leads", "0040_offer_partner_index_covered")]

    operations = [migrations.RunPython(forwards, backwards)]
