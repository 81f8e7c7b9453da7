"""The name probe goes word by word: the protected names' words in a GIN index (a few entries a name) and the words
similar to each asked word looked up in a small table of every protected word (`leads_nameword`) by their blocking
keys, instead of every name's ~100 blocking keys in the index.

Same rule, same names found. A protected name shares a blocking key with an asked word (leads migrations 0028, 0035)
exactly when one of its words does; so the probe first finds, for each asked word, the protected words that share a
key with it (`leads_name_word_blocks(word, true)`, GIN over the words table), then the names that have one of those
words for each asked word (all but one for three words or more), `string_to_array(name, ' ') && words`. A name's
keys were ~100 entries in the index, and an asked word's ten or so keys all pointed at the same names: a probe read
each posting list ~10 times over (6 ms a name at 198,000 protections, load 6) and a chunk of 1,000 new names merged
~100,000 entries into the index (0.5 s). Now a name is ~3 entries, written directly (`fastupdate` off: nothing
pending to empty or to read).

`leads_nameword` holds every word of an active name window or a vendor named account, kept by statement triggers on
the windows and customers (every path that writes them: services, bulk inserts, the benchmarks' SQL); a word whose
names ended stays (it can only point at names no longer there), and a word two transactions add at once is there
twice (see WORDS). PostgreSQL only; SQLite has no blocking keys. The indexes are built and the old ones dropped
CONCURRENTLY (the migration is not atomic).
"""

import importlib

from django.db import migrations

# No unique word: a word new to two transactions at once goes in twice (harmless: the probe asks whether a name has
# one of the similar words), where a unique index would make the second wait for the first to commit (a chunk of an
# import holds its transaction for seconds) and two of them writing new words in opposite orders deadlock.
WORDS = """
    CREATE TABLE IF NOT EXISTS leads_nameword (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, word text NOT NULL);
    CREATE INDEX IF NOT EXISTS leads_nameword_word_idx ON leads_nameword (word);
    CREATE OR REPLACE FUNCTION {own}leads_nameword_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'leads_protectionwindow' THEN
            INSERT INTO {own}leads_nameword (word)
            SELECT DISTINCT w FROM new_rows, unnest(string_to_array(new_rows.key, ' ')) w
            WHERE new_rows.active AND new_rows.key_kind = 'name' AND w <> ''
              AND NOT EXISTS (SELECT FROM {own}leads_nameword n WHERE n.word = w);
        ELSE
            INSERT INTO {own}leads_nameword (word)
            SELECT DISTINCT w FROM new_rows, unnest(string_to_array(new_rows.normalized_name, ' ')) w
            WHERE new_rows.reserved_for_direct AND w <> ''
              AND NOT EXISTS (SELECT FROM {own}leads_nameword n WHERE n.word = w);
        END IF;
        RETURN NULL;
    END
    $$;
"""

# (table, statement)
TRIGGERS = [(table, op) for table in ("leads_protectionwindow", "leads_customer") for op in ("INSERT", "UPDATE")]

FILL = """
    INSERT INTO leads_nameword (word)
    SELECT w FROM (
        SELECT w FROM leads_protectionwindow, unnest(string_to_array(key, ' ')) w
        WHERE active AND key_kind = 'name' AND w <> ''
        UNION
        SELECT w FROM leads_customer, unnest(string_to_array(normalized_name, ' ')) w
        WHERE reserved_for_direct AND w <> ''
    ) words
    WHERE NOT EXISTS (SELECT FROM leads_nameword n WHERE n.word = words.w)
"""

# (new index, old index, table, column, rows)
INDEXES = [
    ("protection_name_words_idx", "protection_name_keys_idx", "leads_protectionwindow", "key",
     "active AND key_kind = 'name'"),
    ("customer_reserved_name_words_idx", "customer_reserved_name_keys_idx", "leads_customer", "normalized_name",
     "reserved_for_direct"),
]  # fmt: skip


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    plpgsql = importlib.import_module("leads.migrations.0034_name_blocks_plpgsql")
    own, _ext = plpgsql._schemas(schema_editor.connection)
    schema_editor.execute(WORDS.format(own=own))
    for table, op in TRIGGERS:  # first the triggers, then the words already there: none is missed
        schema_editor.execute(
            f"CREATE OR REPLACE TRIGGER leads_nameword_{op.lower()} AFTER {op} ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {own}leads_nameword_add()"
        )
    schema_editor.execute(FILL)
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS leads_nameword_keys_idx ON leads_nameword "
        "USING gin (leads_name_word_blocks(word, true) array_ops) WITH (fastupdate = off)"
    )
    schema_editor.execute("ANALYZE leads_nameword")
    for new, old, table, column, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {new} ON {table} "
            f"USING gin (string_to_array({column}, ' ') array_ops) WITH (fastupdate = off) WHERE {where}"
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {old}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for new, old, table, column, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {old} ON {table} "
            f"USING gin (leads_name_blocks({column}) array_ops) "
            f"WITH (fastupdate = on, gin_pending_list_limit = 1024) WHERE {where}"
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {new}")
    for table, op in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS leads_nameword_{op.lower()} ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS leads_nameword_add()")
    schema_editor.execute("DROP TABLE IF EXISTS leads_nameword")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("leads", "0036_nightly_ledger_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
