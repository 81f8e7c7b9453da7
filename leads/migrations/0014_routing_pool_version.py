"""The routing pool's version: one row that database triggers give a new random number whenever the pool changes.

The router keeps, per process, which active partners fit each (region, kind of lead) with their competencies,
and the routing weights (leads.services.routing.routing_pool). Every write that can change that, from any code
(services, the admin, bulk loads, raw SQL), fires a trigger here in the same transaction, so the router sees a
new number as soon as the change is visible to it. Statement triggers on PostgreSQL (one write per statement,
however many rows); row triggers on SQLite, which has no others.

SQLite note: as for migration 0013, a later migration that makes Django rebuild one of these tables on SQLite
must call install() again.
"""

from django.db import migrations, models

# (table, what changes the pool)
WATCHED = (
    ("partners_partner", "status, program_model, partner_type"),
    ("partners_partner_regions", None),
    ("partners_partner_competencies", None),
    ("leads_routingweights", None),
)
BUMP_POSTGRES = "UPDATE leads_routingpoolversion SET number = (random() * 9.2e18)::bigint"
BUMP_SQLITE = "UPDATE leads_routingpoolversion SET number = random()"


def _trigger(table: str) -> str:
    return f"routing_pool_{table}"


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    apps.get_model("leads", "RoutingPoolVersion").objects.get_or_create(pk=1)
    if vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION routing_pool_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {BUMP_POSTGRES}; RETURN NULL; END $$"
        )
        for table, columns in WATCHED:
            update = f"UPDATE OF {columns}" if columns else "UPDATE OR TRUNCATE"
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}; "
                f"CREATE TRIGGER {_trigger(table)} AFTER INSERT OR DELETE OR {update} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION routing_pool_changed()"
            )
    elif vendor == "sqlite":
        for table, columns in WATCHED:
            changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns.split(", ")) if columns else "1"
            for suffix, event in (("ins", "INSERT"), ("del", "DELETE"), ("upd", f"UPDATE{' OF ' + columns if columns else ''}")):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)}_{suffix}")
                when = f" WHEN {changed}" if suffix == "upd" else ""
                schema_editor.execute(
                    f"CREATE TRIGGER {_trigger(table)}_{suffix} AFTER {event} ON {table}{when} BEGIN {BUMP_SQLITE}; END"
                )


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table, _columns in WATCHED:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}")
        elif vendor == "sqlite":
            for suffix in ("ins", "del", "upd"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)}_{suffix}")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS routing_pool_changed()")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0013_partner_open_load_triggers"),
    ]

    operations = [
        migrations.CreateModel(
            name="RoutingPoolVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="routing_pool_version_single_row")
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
