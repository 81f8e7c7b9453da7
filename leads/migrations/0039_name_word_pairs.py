"""The name probe finds its candidates by pairs of words: a GIN index of each protected name's pairs of distinct
words (hashed), asked with the pairs an asked name's similar words can make, instead of intersecting the posting
lists of its similar words in the words index (leads migration 0037).

Same names found. The probe (leads.selectors.registration._similar_names) wants the names having a word similar to
each asked word (all but one of them for three words or more). For two words or more every way to satisfy it has a
word similar to the first asked word and one similar to the second, or one similar to the third and one similar to
the first or the second: a pair of the name's words, or one word similar to both. So those pairs (and those words,
in the words index) give every candidate, the probe's own condition then keeps exactly its names. In the benchmark's
vocabulary a word is in ~600 names and a pair in one or two: reading ~2 × 1,800 postings a name became a few
dozen lookups. A hash collision only adds a candidate the condition drops.

The XOR of the two words' hashes is the same whichever comes first (no collation involved). PostgreSQL only; the
index is built CONCURRENTLY (the migration is not atomic), the function is schema-qualified (pg_restore, see 0031).
"""

import importlib

from django.db import migrations

# A name's entries: each distinct word's hash and each pair of distinct words' (the XOR of their hashes).
PAIRS = """
    CREATE OR REPLACE FUNCTION {own}leads_name_word_pairs(name text) RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
    DECLARE
        w text;
        words text[] := '{{}}';
        hashes integer[] := '{{}}';
        pairs integer[];
    BEGIN
        FOREACH w IN ARRAY string_to_array(name, ' ') LOOP
            CONTINUE WHEN w = ANY(words);
            words := words || w;
            hashes := hashes || hashtext(w);
        END LOOP;
        pairs := hashes;
        FOR a IN 1..cardinality(hashes) LOOP
            FOR b IN a + 1..cardinality(hashes) LOOP
                pairs := pairs || (hashes[a] # hashes[b]);
            END LOOP;
        END LOOP;
        RETURN pairs;
    END
    $$
"""

# What an asked name looks up (leads.selectors.registration._pair_groups), from the protected words similar to its
# first three words (`m1`, `m2`, `m3`) and its count of words `n`: one word, the words similar to it; more, the pairs
# of a word similar to the first and one similar to the second, or one similar to the third and one similar to the
# first or the second (a word similar to both: that word).
ASKED = """
    CREATE OR REPLACE FUNCTION {own}leads_name_pairs_asked(n integer, m1 text[], m2 text[], m3 text[])
    RETURNS integer[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE
        a text;
        b text;
        keys integer[] := '{{}}';
    BEGIN
        IF n = 1 THEN
            FOREACH a IN ARRAY coalesce(m1, '{{}}') LOOP
                keys := keys || hashtext(a);
            END LOOP;
            RETURN keys;
        END IF;
        FOREACH a IN ARRAY coalesce(m1, '{{}}') LOOP
            FOREACH b IN ARRAY coalesce(m2, '{{}}') LOOP
                keys := keys || CASE WHEN a = b THEN hashtext(a) ELSE hashtext(a) # hashtext(b) END;
            END LOOP;
        END LOOP;
        FOREACH a IN ARRAY coalesce(m3, '{{}}') LOOP
            FOREACH b IN ARRAY coalesce(m1, '{{}}') || coalesce(m2, '{{}}') LOOP
                keys := keys || CASE WHEN a = b THEN hashtext(a) ELSE hashtext(a) # hashtext(b) END;
            END LOOP;
        END LOOP;
        RETURN keys;
    END
    $$
"""

INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS protection_name_pairs_idx ON leads_protectionwindow "
    "USING gin ({own}leads_name_word_pairs(key) array_ops) WITH (fastupdate = off) WHERE active AND key_kind = 'name'"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    own, _ext = importlib.import_module("leads.migrations.0034_name_blocks_plpgsql")._schemas(schema_editor.connection)
    schema_editor.execute(PAIRS.format(own=own))
    schema_editor.execute(ASKED.format(own=own))
    schema_editor.execute(INDEX.format(own=own))
    schema_editor.execute("ANALYZE leads_protectionwindow")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS protection_name_pairs_idx")
    schema_editor.execute("DROP FUNCTION IF EXISTS leads_name_pairs_asked(integer, text[], text[], text[])")
    schema_editor.execute("DROP FUNCTION IF EXISTS leads_name_word_pairs(text)")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("leads", "0038_lead_created_idx")]

    operations = [migrations.RunPython(forwards, backwards)]
