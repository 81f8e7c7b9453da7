"""Blocking keys for soft name conflicts (PostgreSQL only; SQLite keeps the first-word prefix index).

`leads_name_blocks(name)` gives a name key's blocking keys: each word and, for words longer than three letters,
each copy with one letter deleted. Two names whose words are one typo, one extra or missing letter or one swapped
pair apart share a key. A GIN index on the keys of the active name windows (and of the vendor's named accounts)
answers "which protected names share a key with this one" with a few short posting lists, whatever the network's
size; the trigram probe (migration 0025) read thousands of candidates a name, so its two indexes go (reverse
re-creates them). The token-set scorer still decides (leads.selectors.registration). `fastupdate` is off: a new
window is in the index at once, and a probe never reads a long pending list. Creating the indexes reads the
tables once; nothing is rewritten.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION leads_name_blocks(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
    SELECT coalesce(array_agg(DISTINCT v), '{}')
    FROM unnest(string_to_array(name, ' ')) AS t(w)
    CROSS JOIN LATERAL (
        SELECT w
        UNION ALL
        SELECT left(w, i - 1) || substr(w, i + 1) FROM generate_series(1, length(w)) AS i WHERE length(w) > 3
    ) AS d(v)
    WHERE w <> ''
$$
"""

INDEXES = [
    ("protection_name_blocks_idx", "leads_protectionwindow", "key", "active AND key_kind = 'name'"),
    ("customer_reserved_name_blocks_idx", "leads_customer", "normalized_name", "reserved_for_direct"),
]


TRIGRAM_INDEXES = [
    ("protection_name_trgm_idx", "leads_protectionwindow", "key", "active AND key_kind = 'name'"),
    ("customer_reserved_name_trgm_idx", "leads_customer", "normalized_name", "reserved_for_direct"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for name, table, column, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (leads_name_blocks({column})) "
            f"WITH (fastupdate = off) WHERE {where}"
        )
    for name, _table, _column, _where in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column, where in TRIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops) WHERE {where}"
        )
    for name, _table, _column, _where in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("DROP FUNCTION IF EXISTS leads_name_blocks(text)")


class Migration(migrations.Migration):
    dependencies = [("leads", "0027_customer_reserved_flag_unindexed_scale")]

    operations = [migrations.RunPython(forwards, backwards)]
