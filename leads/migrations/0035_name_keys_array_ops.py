"""The name-blocks indexes answer a probe word by word: GIN's built-in `array_ops` on the same keys instead of
intarray's `gin__int_ops`, and a chunk's new keys go in through the pending list.

A probe asks that each asked word share a key with the name (all words but one when three or more are asked,
leads migration 0028). As one intarray boolean query (`@@`) GIN read every posting list of every asked key (~30
lists; intarray has no tri-state consistent function, so nothing is skipped): 4.3 ms a probe at 198,000
protections, where each benchmark word is in ~600 names. The same condition written as an OR of ANDs of
`&&` (array overlap, one array of keys a word: `leads_name_blocks_group`) is answered by GIN scans that advance
the asked words' lists together and skip what one of them lacks (2.1–2.6 × faster, the same names).

`fastupdate`: a protected name adds ~100 keys; one by one they cost ~1.4–2.1 s a chunk of 1,000 names at
20,000 protections (with it off), through the pending list a chunk's keys go in sorted, one merge per key (~0.65 s).
A probe also reads the pending list: the registration check empties it in the transaction that wrote it
(leads.services.registration._name_keys_flush), so probes read an empty one (a database user that does not own the
index cannot: then PostgreSQL empties it at `gin_pending_list_limit`, 1 MB here, or autovacuum does).

The indexes are built and the old ones dropped CONCURRENTLY (the migration is not atomic); until the new index is
valid probes use the old one. PostgreSQL only; SQLite has no blocking keys. Should a build fail, drop the INVALID
index and migrate again.
"""

import importlib

from django.db import migrations

GROUP = """
    CREATE OR REPLACE FUNCTION {own}leads_name_blocks_group(name text, i integer) RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
    DECLARE
        w text;
        words text[] := '{{}}';  -- the first six distinct words, in order
    BEGIN
        FOREACH w IN ARRAY string_to_array(name, ' ') LOOP
            CONTINUE WHEN w = '' OR w = ANY(words);
            words := words || w;
            EXIT WHEN cardinality(words) = 6;
        END LOOP;
        IF i < 1 OR i > cardinality(words) THEN
            RETURN NULL;
        END IF;
        -- Two-letter deletions only when one or two words are asked (as leads_name_blocks_query).
        RETURN {own}leads_name_word_blocks(words[i], cardinality(words) <= 2);
    END
    $$
"""

# (new index, old index, table, column, rows)
INDEXES = [
    ("protection_name_keys_idx", "protection_name_blocks_idx", "leads_protectionwindow", "key",
     "active AND key_kind = 'name'"),
    ("customer_reserved_name_keys_idx", "customer_reserved_name_blocks_idx", "leads_customer", "normalized_name",
     "reserved_for_direct"),
]  # fmt: skip


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    plpgsql = importlib.import_module("leads.migrations.0034_name_blocks_plpgsql")
    own, _ext = plpgsql._schemas(schema_editor.connection)
    schema_editor.execute(GROUP.format(own=own))
    for new, old, table, column, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {new} ON {table} "
            f"USING gin (leads_name_blocks({column}) array_ops) "
            f"WITH (fastupdate = on, gin_pending_list_limit = 1024) WHERE {where}"
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {old}")
    schema_editor.execute("DROP FUNCTION IF EXISTS leads_name_blocks_query(text)")  # the one query, now unused


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    plpgsql = importlib.import_module("leads.migrations.0034_name_blocks_plpgsql")
    own, ext = plpgsql._schemas(schema_editor.connection)
    schema_editor.execute(plpgsql.FUNCTIONS[2].format(own=own, ext=ext))  # leads_name_blocks_query
    for new, old, table, column, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {old} ON {table} "
            f"USING gin (leads_name_blocks({column}) gin__int_ops) WITH (fastupdate = off) WHERE {where}"
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {new}")
    schema_editor.execute("DROP FUNCTION IF EXISTS leads_name_blocks_group(text, integer)")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("leads", "0034_name_blocks_plpgsql")]

    operations = [migrations.RunPython(forwards, backwards)]
