"""Customer identity (issue 16): the name a partner typed is kept on its deal; every customer key is recomputed
with the one rule (leads.customers) and the active protection windows are re-keyed to their customers' keys.

SQLite rebuilds leads_lead for the new column, which drops its triggers: they are installed again (see 0013).
Duplicated customers are merged afterwards by `manage.py customers_merge` (dry run first), not here.
"""

import importlib

from django.db import migrations, models


def reinstall_lead_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        importlib.import_module("leads.migrations.0013_partner_open_load_triggers").install(apps, schema_editor)


def rekey(apps, schema_editor):
    from leads.customers import customers_rekey

    customers_rekey(
        customer_model=apps.get_model("leads", "Customer"), window_model=apps.get_model("leads", "ProtectionWindow")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0018_lead_fund_request"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="customer_name",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.RunPython(reinstall_lead_triggers, migrations.RunPython.noop),
        migrations.RunPython(rekey, migrations.RunPython.noop),
    ]
