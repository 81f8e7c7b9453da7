"""Routing slots: each partner's turn per region beside whether it can take a lead, for an index-backed read of a
region's earliest turns (leads.models.RoutingSlot).

PostgreSQL triggers keep the table, whichever code writes (services, the admin, bulk loads, raw SQL):
- partners_partner_regions: a link inserted adds its slot, a link deleted removes it (statement triggers with
  transition tables: one statement however many links);
- leads_routingcredit: a credit written or deleted is copied to the partner's slots (statement triggers);
- partners_partner: a row trigger, fired only when "active with open_load < lead_capacity" flips, sets `room`.
Created empty and filled in one statement after the triggers exist, in the same transaction, so no change is
missed. SQLite gets the table and no triggers (the router reads the same order by a join there). Autovacuum runs on
it after every 1,000 changes (each decision leaves a dead index entry where the router's reads start).
"""

import django.db.models.deletion
from django.db import migrations, models

ROOM = "(p.status = 'active' AND p.open_load < p.lead_capacity)"
FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION routing_slot_links_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO leads_routingslot (region_id, partner_id, credit, room)
    SELECT n.region_id, n.partner_id, COALESCE(c.credit, 0), {ROOM}
    FROM new_links n JOIN partners_partner p ON p.id = n.partner_id
    LEFT JOIN leads_routingcredit c ON c.partner_id = n.partner_id
    ON CONFLICT (region_id, partner_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION routing_slot_links_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    DELETE FROM leads_routingslot s USING old_links o WHERE s.region_id = o.region_id AND s.partner_id = o.partner_id;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION routing_slot_credits_written() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE leads_routingslot s SET credit = n.credit FROM new_credits n
    WHERE s.partner_id = n.partner_id AND s.credit <> n.credit;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION routing_slot_credits_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE leads_routingslot s SET credit = 0 FROM old_credits o WHERE s.partner_id = o.partner_id AND s.credit <> 0;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION routing_slot_room() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE leads_routingslot SET room = (NEW.status = 'active' AND NEW.open_load < NEW.lead_capacity)
    WHERE partner_id = NEW.id;
    RETURN NULL;
END $$;
"""
TRIGGERS = (
    ("routing_slot_links_ins", "partners_partner_regions", "INSERT", "REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT", "routing_slot_links_added"),
    ("routing_slot_links_del", "partners_partner_regions", "DELETE", "REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT", "routing_slot_links_removed"),
    ("routing_slot_credits_ins", "leads_routingcredit", "INSERT", "REFERENCING NEW TABLE AS new_credits FOR EACH STATEMENT", "routing_slot_credits_written"),
    ("routing_slot_credits_upd", "leads_routingcredit", "UPDATE", "REFERENCING NEW TABLE AS new_credits FOR EACH STATEMENT", "routing_slot_credits_written"),
    ("routing_slot_credits_del", "leads_routingcredit", "DELETE", "REFERENCING OLD TABLE AS old_credits FOR EACH STATEMENT", "routing_slot_credits_deleted"),
    ("routing_slot_room", "partners_partner", "UPDATE OF status, open_load, lead_capacity",
     "FOR EACH ROW WHEN ((OLD.status = 'active' AND OLD.open_load < OLD.lead_capacity) "
     "IS DISTINCT FROM (NEW.status = 'active' AND NEW.open_load < NEW.lead_capacity))", "routing_slot_room"),
)  # fmt: skip
FILL = f"""
INSERT INTO leads_routingslot (region_id, partner_id, credit, room)
SELECT pr.region_id, pr.partner_id, COALESCE(c.credit, 0), {ROOM}
FROM partners_partner_regions pr JOIN partners_partner p ON p.id = pr.partner_id
LEFT JOIN leads_routingcredit c ON c.partner_id = pr.partner_id
ON CONFLICT (region_id, partner_id) DO NOTHING
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTIONS)
    for name, table, event, how, function in TRIGGERS:
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {name} ON {table}; "
            f"CREATE TRIGGER {name} AFTER {event} ON {table} {how} EXECUTE FUNCTION {function}()"
        )
    schema_editor.execute(FILL)
    schema_editor.execute("ANALYZE leads_routingslot")
    # Every decision moves a turn back: the old index entry is left at the front of the region's order, where
    # every read starts. Vacuum the small table after every 1,000 changes, not after a fifth of it.
    schema_editor.execute(
        "ALTER TABLE leads_routingslot SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, "
        "autovacuum_vacuum_cost_delay = 0)"
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, _event, _how, _function in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for function in {t[4] for t in TRIGGERS}:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}()")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0031_name_blocks_qualified_for_restore"),
        ("partners", "0013_payout_hold_days_money"),
    ]

    operations = [
        migrations.CreateModel(
            name="RoutingSlot",
            fields=[
                ("pk", models.CompositePrimaryKey("region", "partner", blank=True, editable=False, primary_key=True, serialize=False)),
                ("credit", models.BigIntegerField(default=0)),
                ("room", models.BooleanField(default=False)),
                ("partner", models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="partners.partner")),
                ("region", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="partners.region")),
            ],
            options={
                "indexes": [
                    models.Index(condition=models.Q(("room", True)), fields=["region", "credit", "partner"], name="routing_slot_turns"),
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
