"""SQLite rebuilds a table to alter it, which drops its triggers: migrations 0022 and 0026 altered leads_lead after
0019 had reinstalled the open_load triggers, so on SQLite (the demo) Partner.open_load stopped counting routed
leads and capacity was not enforced. The triggers are installed again and every partner's load recounted.
PostgreSQL alters tables in place: nothing to do there."""

import importlib

from django.db import migrations


def reinstall_and_recount(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    importlib.import_module("leads.migrations.0013_partner_open_load_triggers").install(apps, schema_editor)
    from leads.services.routing import partners_open_load_recount

    partners_open_load_recount()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0032_routing_slot"),
    ]

    operations = [migrations.RunPython(reinstall_and_recount, migrations.RunPython.noop)]
