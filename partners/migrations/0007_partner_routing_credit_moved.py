"""The round-robin credit now lives in leads.RoutingCredit (leads migration 0015 copied it there).

On SQLite, Django drops a column by rebuilding the table, and SQLite refuses to rename the rebuilt table while
triggers elsewhere name the old one (the open-load triggers of leads migration 0013); the rebuild also loses the
table's own triggers (the routing pool's, leads migration 0014). So on SQLite the triggers come off around the
rebuild and go back on after it, in both directions. PostgreSQL needs none of this.
"""

import importlib

from django.db import migrations


def _module(name: str):
    return importlib.import_module(f"leads.migrations.{name}")


def triggers_off(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _module("0013_partner_open_load_triggers").uninstall(apps, schema_editor)
        _module("0014_routing_pool_version").uninstall(apps, schema_editor)


def triggers_on(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in _module("0013_partner_open_load_triggers").SQLITE:
            schema_editor.execute(statement)
        _module("0014_routing_pool_version").install(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0006_partner_routing_state"),
        ("leads", "0015_routing_credit"),
    ]

    operations = [
        migrations.RunPython(triggers_off, triggers_on),
        migrations.RemoveField(model_name="partner", name="routing_credit"),
        migrations.RunPython(triggers_on, triggers_off),
    ]
