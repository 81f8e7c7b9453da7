"""A statement's new offers are added to their partners' open_load once per statement (issue 17: a CSV import).

Migration 0013 kept Partner.open_load with a row trigger on leads_offer: a batch of 5,000 offers made 5,000
single-row UPDATEs of partners_partner, and each of those statements fired the change-feed trigger (one
`prm_change` row per offer). On PostgreSQL, inserts are now counted by a statement trigger with a transition
table: the pending offers of the statement, counted per partner, in one UPDATE (partners locked first in id
order, as routers lock them), so one change row per partner and statement. Updates and deletes of offers keep
0013's row trigger (its function already handles them): transition tables cannot go with 0013's column list,
and those paths change one offer at a time. The definition of open_load is unchanged; every path still keeps it
exact in the writing transaction (tests/leads/test_routing_load.py).

SQLite (the embedded demo) keeps 0013's row triggers. Migrations that reinstall 0013's triggers do it on SQLite only.
"""

import importlib

from django.db import migrations

OFFER_INSERT = """
CREATE OR REPLACE FUNCTION partner_open_load_offer_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    counted bigint[];
BEGIN
    SELECT array_agg(DISTINCT partner_id ORDER BY partner_id) INTO counted
        FROM new_rows WHERE status = 'pending' AND partner_id IS NOT NULL;
    IF counted IS NULL THEN
        RETURN NULL;  -- nothing pending: no write, no lock, no change row
    END IF;
    PERFORM 1 FROM partners_partner WHERE id = ANY(counted) ORDER BY id FOR NO KEY UPDATE;
    UPDATE partners_partner p SET open_load = p.open_load + n.added
        FROM (SELECT partner_id, count(*) AS added FROM new_rows
              WHERE status = 'pending' AND partner_id IS NOT NULL GROUP BY partner_id) n
        WHERE p.id = n.partner_id;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS partner_open_load_offer_insert ON leads_offer;
CREATE TRIGGER partner_open_load_offer_insert AFTER INSERT ON leads_offer
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partner_open_load_offer_insert();
DROP TRIGGER IF EXISTS partner_open_load_offer ON leads_offer;
CREATE TRIGGER partner_open_load_offer AFTER DELETE OR UPDATE OF status, partner_id ON leads_offer
    FOR EACH ROW EXECUTE FUNCTION partner_open_load_offer();
"""

DROP_OFFER_INSERT = """
DROP TRIGGER IF EXISTS partner_open_load_offer_insert ON leads_offer;
DROP FUNCTION IF EXISTS partner_open_load_offer_insert();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OFFER_INSERT)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_OFFER_INSERT)
        schema_editor.execute(importlib.import_module("leads.migrations.0013_partner_open_load_triggers").POSTGRES[0])


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0027_customer_reserved_flag_unindexed_scale"),
    ]

    operations = [migrations.RunPython(forward, backward)]
