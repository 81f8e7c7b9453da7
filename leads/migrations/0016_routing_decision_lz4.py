"""Decisions' stored explanations (~4 KiB each) compressed with lz4 rather than pglz where the server has it:
several times faster to compress, and the batch router writes hundreds of them per transaction."""

from django.db import migrations


def set_compression(apps, schema_editor, method="lz4"):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT %s = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'", [method])
        row = cursor.fetchone()
    if row and row[0]:
        table = apps.get_model("leads", "RoutingDecision")._meta.db_table
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN candidates SET COMPRESSION {method}")


def reset_compression(apps, schema_editor):
    set_compression(apps, schema_editor, method="pglz")


class Migration(migrations.Migration):
    dependencies = [("leads", "0015_routing_credit")]

    operations = [migrations.RunPython(set_compression, reset_compression)]
