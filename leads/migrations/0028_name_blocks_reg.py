"""Blocking keys for soft name conflicts (PostgreSQL only; SQLite keeps the first-word prefix index).

A name key's blocking keys (`leads_name_blocks`) are, for each word, the word itself, its copies with one letter
deleted (words longer than three letters) and with two letters deleted (words of seven letters or more), hashed
to integers. A protected name is a candidate for an asked name when each asked word shares a key with one of its
words — all but one of them when three or more words are asked, of the first six (`leads_name_blocks_query`, an
intarray boolean query: a typo, transliteration or missing letter or two a word, in any order, extra words
allowed; an asked name of three or more words is probed with its words' one-deletion keys only, a few dozen
keys in all); names equal to a run of the asked words are found by the plain index. The
GIN index (intarray's gin__int_ops) answers that with a few short posting lists and hands the scorer a handful of
names, whatever the network's size; the trigram probe (migration 0025) read and rechecked thousands of candidates
a name, so its two indexes go (reverse re-creates them). The token-set scorer still decides
(leads.selectors.registration). `fastupdate` is off: a new window is in the index at once, and a probe never
reads a long pending list. intarray is a trusted extension (PostgreSQL 13+): the database owner may create it.
The indexes are built and dropped CONCURRENTLY (the migration is not atomic): registrations go on while the keys of
every protected name are computed; nothing is rewritten. Should a build fail, drop the INVALID index and migrate
again.
"""

from django.db import migrations

FUNCTIONS = [
    "CREATE EXTENSION IF NOT EXISTS intarray",
    """
    CREATE OR REPLACE FUNCTION leads_name_word_blocks(word text, deep boolean) RETURNS integer[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT array_agg(DISTINCT hashtext(v)) FROM (
            SELECT word
            UNION ALL
            SELECT left(word, i - 1) || substr(word, i + 1)
            FROM generate_series(1, length(word)) AS i WHERE length(word) > 3
            UNION ALL
            SELECT left(word, i - 1) || substr(word, i + 1, j - i - 1) || substr(word, j + 1)
            FROM generate_series(1, length(word)) AS i, generate_series(i + 1, length(word)) AS j
            WHERE deep AND length(word) >= 7
        ) AS d(v)
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION leads_name_blocks(name text) RETURNS integer[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
        SELECT coalesce(array_agg(DISTINCT b), '{}')
        FROM unnest(string_to_array(name, ' ')) AS t(w)
        CROSS JOIN LATERAL unnest(leads_name_word_blocks(w, true)) AS b
        WHERE w <> ''
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION leads_name_blocks_query(name text) RETURNS query_int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
        WITH words AS (
            SELECT row_number() OVER (ORDER BY min(o)) AS i, w
            FROM unnest(string_to_array(name, ' ')) WITH ORDINALITY AS t(w, o)
            WHERE w <> ''
            GROUP BY w ORDER BY min(o) LIMIT 6
        ), few AS (
            SELECT count(*) <= 2 AS few FROM words
        ), keyed AS (
            SELECT i, array_to_string(leads_name_word_blocks(w, (SELECT few FROM few)), '|') AS keys FROM words
        )
        SELECT CAST(CASE WHEN (SELECT few FROM few)
            THEN (SELECT string_agg('(' || keys || ')', '&') FROM keyed)
            ELSE (SELECT string_agg('(' || a.keys || '|' || b.keys || ')', '&') FROM keyed a JOIN keyed b ON a.i < b.i)
        END AS query_int)
    $$
    """,
]

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
    for statement in FUNCTIONS:
        schema_editor.execute(statement)
    for name, table, column, where in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
            f"USING gin (leads_name_blocks({column}) gin__int_ops) "
            f"WITH (fastupdate = off) WHERE {where}"
        )
    for name, _table, _column, _where in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column, where in TRIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops) WHERE {where}"
        )
    for name, _table, _column, _where in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for function in (
        "leads_name_blocks_query(text)",
        "leads_name_blocks(text)",
        "leads_name_word_blocks(text, boolean)",
    ):
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("leads", "0027_customer_reserved_flag_unindexed_scale")]

    operations = [migrations.RunPython(forwards, backwards)]
