"""The name blocking keys (leads migration 0028) computed by PL/pgSQL loops instead of SQL set queries.

Same keys, same order, same blocking query: a protected name's keys are computed on every insert into the
name-blocks indexes and an asked name's query for every probe, and a SQL function of `generate_series`, `DISTINCT`
and window functions started an executor per call (~0.5 ms a name's keys, ~0.4 ms its query at load 5); these
loops take ~0.17 and ~0.07 ms. The indexes stay valid (an IMMUTABLE function that returns what it returned before:
nothing to rebuild). Every name is schema-qualified (pg_restore builds the indexes with an empty search_path, see
0031). PostgreSQL only; SQLite has no blocking keys.
"""

import importlib

from django.db import migrations

FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION {own}leads_name_word_blocks(word text, deep boolean) RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
    DECLARE
        n integer := length(word);
        keys integer[] := ARRAY[hashtext(word)];
    BEGIN
        IF n > 3 THEN  -- one letter deleted
            FOR i IN 1..n LOOP
                keys := keys || hashtext(left(word, i - 1) || substr(word, i + 1));
            END LOOP;
        END IF;
        IF deep AND n >= 7 THEN  -- two letters deleted
            FOR i IN 1..n LOOP
                FOR j IN i + 1..n LOOP
                    keys := keys || hashtext(left(word, i - 1) || substr(word, i + 1, j - i - 1) || substr(word, j + 1));
                END LOOP;
            END LOOP;
        END IF;
        RETURN {ext}uniq({ext}sort(keys));
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION {own}leads_name_blocks(name text) RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
    DECLARE
        w text;
        keys integer[] := '{{}}';
    BEGIN
        FOREACH w IN ARRAY string_to_array(name, ' ') LOOP
            IF w <> '' THEN
                keys := keys || {own}leads_name_word_blocks(w, true);
            END IF;
        END LOOP;
        RETURN {ext}uniq({ext}sort(keys));
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION {own}leads_name_blocks_query(name text) RETURNS {ext}query_int
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
    DECLARE
        w text;
        words text[] := '{{}}';  -- the first six distinct words, in order
        keys text[] := '{{}}';  -- each word's keys, 'k1|k2|…'
        terms text[] := '{{}}';
        few boolean;
    BEGIN
        FOREACH w IN ARRAY string_to_array(name, ' ') LOOP
            CONTINUE WHEN w = '' OR w = ANY(words);
            words := words || w;
            EXIT WHEN cardinality(words) = 6;
        END LOOP;
        IF cardinality(words) = 0 THEN
            RETURN NULL;
        END IF;
        few := cardinality(words) <= 2;  -- every word, two deletions; else all words but one, one deletion
        FOREACH w IN ARRAY words LOOP
            keys := keys || array_to_string({own}leads_name_word_blocks(w, few), '|');
        END LOOP;
        FOR a IN 1..cardinality(keys) LOOP
            IF few THEN
                terms := terms || ('(' || keys[a] || ')');
            ELSE
                FOR b IN a + 1..cardinality(keys) LOOP
                    terms := terms || ('(' || keys[a] || '|' || keys[b] || ')');
                END LOOP;
            END IF;
        END LOOP;
        RETURN CAST(array_to_string(terms, '&') AS {ext}query_int);
    END
    $$
    """,
]


def _schemas(connection) -> tuple[str, str]:
    """The schema of the name functions and of intarray, quoted and dotted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = 'leads_name_word_blocks'"
        )
        (own,) = cursor.fetchone()
        cursor.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'intarray'")
        (ext,) = cursor.fetchone()
    quote = connection.ops.quote_name
    return quote(own) + ".", quote(ext.strip('"')) + "."


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    own, ext = _schemas(schema_editor.connection)
    for statement in FUNCTIONS:
        schema_editor.execute(statement.format(own=own, ext=ext))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    first = importlib.import_module("leads.migrations.0028_name_blocks_reg")
    qualified = importlib.import_module("leads.migrations.0031_name_blocks_qualified_for_restore")
    for statement in (first.FUNCTIONS[1], first.FUNCTIONS[3]):  # the word keys and the query, as they were
        schema_editor.execute(statement)
    qualified.qualify(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("leads", "0033_sqlite_open_load_triggers_again")]

    operations = [migrations.RunPython(forwards, backwards)]
