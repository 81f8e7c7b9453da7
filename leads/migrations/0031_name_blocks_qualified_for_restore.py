"""`leads_name_blocks` calls `leads_name_word_blocks` by its schema-qualified name.

pg_restore builds indexes with an empty search_path, so the unqualified call in the function behind the two
`*_name_blocks_idx` indexes failed ("function leads_name_word_blocks(text, boolean) does not exist") and a
restored backup had neither index (found by .ci/restore_check). Same result, so the indexes stay valid.
"""

from django.db import migrations

BLOCKS = """
    CREATE OR REPLACE FUNCTION leads_name_blocks(name text) RETURNS integer[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
        SELECT coalesce(array_agg(DISTINCT b), '{{}}')
        FROM unnest(string_to_array(name, ' ')) AS t(w)
        CROSS JOIN LATERAL unnest({schema}leads_name_word_blocks(w, true)) AS b
        WHERE w <> ''
    $$
"""


def qualify(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = 'leads_name_word_blocks'"
        )
        (schema,) = cursor.fetchone()
    schema_editor.execute(BLOCKS.format(schema=schema_editor.quote_name(schema) + "."))


def unqualify(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BLOCKS.format(schema=""))


class Migration(migrations.Migration):
    dependencies = [("leads", "0030_merge_open_load_per_statement")]

    operations = [migrations.RunPython(qualify, unqualify)]
