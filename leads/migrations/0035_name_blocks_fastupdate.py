"""The protections' name-blocks index takes new keys through its pending list (GIN `fastupdate`), emptied by the
registration check right after each write (leads.services.registration._name_keys_flush).

A protected name adds ~100 keys; with `fastupdate` off each went into the index on its own (~2 ms a name at load 5,
~1.4–2.1 s of every 1,000 deals an import protects), through the pending list a chunk's keys go in sorted, one
merge per key (~0.65 s). A probe also reads the pending list: the check empties it in the transaction that wrote
it, so probes read an empty one (a database user that does not own the index cannot: then PostgreSQL empties it
when it passes `gin_pending_list_limit`, 1 MB here, or autovacuum does). PostgreSQL only; the vendors' named
accounts' index is written seldom and stays as it is.
"""

from django.db import migrations

INDEX = "protection_name_blocks_idx"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER INDEX {INDEX} SET (fastupdate = on, gin_pending_list_limit = 1024)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER INDEX {INDEX} SET (fastupdate = off)")
        schema_editor.execute(f"ALTER INDEX {INDEX} RESET (gin_pending_list_limit)")
        schema_editor.execute(f"SELECT gin_clean_pending_list('{INDEX}'::regclass)")


class Migration(migrations.Migration):
    dependencies = [("leads", "0034_name_blocks_plpgsql")]

    operations = [migrations.RunPython(forwards, backwards)]
