from django.db import migrations


def set_fillfactor(apps, schema_editor, value=60):
    # Every routing decision rewrites ~100 candidates' routing_credit. The partners table carries a dozen indexes;
    # an update that finds no room on its page copies the row elsewhere and inserts into every index. With free
    # room left on each page, PostgreSQL updates the unindexed credit in place (a HOT update, no index writes).
    # New and rewritten pages honour the setting (VACUUM FULL to apply it to an existing table at once).
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("partners", "Partner")._meta.db_table
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    set_fillfactor(apps, schema_editor, value=100)


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0008_offer_pending_partner_idx"),
        ("partners", "0004_enablement"),
    ]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
