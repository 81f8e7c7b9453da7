"""Partner.open_load kept exact by triggers, and the routing inputs backfilled.

open_load = pending offers + routed leads still open (partner set, offered_at set, stage open): the same rule as
leads.services.routing.open_routed_load(). Leads and offers change in many places (routing, pipeline, reclaim,
CRM sync, the admin, deletes); a row trigger on each table adjusts the partner's counter in the same transaction
as the change, whichever code made it, so the router reads one column instead of counting on every decision.
tests/leads/test_routing_load.py checks the counter against a recount after every kind of change.

SQLite note: Django rebuilds a SQLite table for some ALTERs, which drops its triggers; a later migration that
alters leads_offer or leads_lead on SQLite must call install() again.
"""

from django.db import migrations
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

OPEN = "('registered', 'qualified', 'proposal', 'negotiation')"
OFFER_COUNTS = "{row}.status = 'pending'"
LEAD_COUNTS = f"({{row}}.partner_id IS NOT NULL AND {{row}}.offered_at IS NOT NULL AND {{row}}.stage IN {OPEN})"

POSTGRES = [
    f"""
    CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        was boolean := TG_OP <> 'INSERT' AND {counts.format(row="OLD")};
        now_ boolean := TG_OP <> 'DELETE' AND {counts.format(row="NEW")};
    BEGIN
        IF was AND now_ AND OLD.partner_id = NEW.partner_id THEN
            RETURN NULL;  -- still counted for the same partner: no write, no lock
        END IF;
        IF was THEN
            UPDATE partners_partner SET open_load = open_load - 1 WHERE id = OLD.partner_id;
        END IF;
        IF now_ THEN
            UPDATE partners_partner SET open_load = open_load + 1 WHERE id = NEW.partner_id;
        END IF;
        RETURN NULL;
    END $$;
    DROP TRIGGER IF EXISTS {name} ON {table};
    CREATE TRIGGER {name} AFTER INSERT OR DELETE OR UPDATE OF {columns} ON {table}
        FOR EACH ROW EXECUTE FUNCTION {name}();
    """
    for name, table, counts, columns in (
        ("partner_open_load_offer", "leads_offer", OFFER_COUNTS, "status, partner_id"),
        ("partner_open_load_lead", "leads_lead", LEAD_COUNTS, "stage, partner_id, offered_at"),
    )
]

SQLITE = [
    statement
    for name, table, counts, columns in (
        ("partner_open_load_offer", "leads_offer", OFFER_COUNTS, "status, partner_id"),
        ("partner_open_load_lead", "leads_lead", LEAD_COUNTS, "stage, partner_id, offered_at"),
    )
    for statement in (
        f"DROP TRIGGER IF EXISTS {name}_ins",
        f"DROP TRIGGER IF EXISTS {name}_del",
        f"DROP TRIGGER IF EXISTS {name}_upd",
        f"""CREATE TRIGGER {name}_ins AFTER INSERT ON {table} WHEN {counts.format(row="NEW")} BEGIN
            UPDATE partners_partner SET open_load = open_load + 1 WHERE id = NEW.partner_id; END""",
        f"""CREATE TRIGGER {name}_del AFTER DELETE ON {table} WHEN {counts.format(row="OLD")} BEGIN
            UPDATE partners_partner SET open_load = open_load - 1 WHERE id = OLD.partner_id; END""",
        f"""CREATE TRIGGER {name}_upd AFTER UPDATE OF {columns} ON {table}
            WHEN NOT ({counts.format(row="OLD")} AND {counts.format(row="NEW")} AND OLD.partner_id = NEW.partner_id)
            BEGIN
            UPDATE partners_partner SET open_load = open_load - 1 WHERE {counts.format(row="OLD")} AND id = OLD.partner_id;
            UPDATE partners_partner SET open_load = open_load + 1 WHERE {counts.format(row="NEW")} AND id = NEW.partner_id;
            END""",
    )
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in POSTGRES if vendor == "postgresql" else SQLITE if vendor == "sqlite" else []:
        schema_editor.execute(statement)
    backfill(apps)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for name, table in (("partner_open_load_offer", "leads_offer"), ("partner_open_load_lead", "leads_lead")):
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}()")
        elif vendor == "sqlite":
            for suffix in ("ins", "del", "upd"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}")


def backfill(apps):
    Partner = apps.get_model("partners", "Partner")
    Offer = apps.get_model("leads", "Offer")
    Lead = apps.get_model("leads", "Lead")
    KpiSnapshot = apps.get_model("kpi", "KpiSnapshot")

    def count(qs):
        return Coalesce(
            Subquery(qs.order_by().values("partner").annotate(n=Count("pk")).values("n"), output_field=IntegerField()),
            Value(0),
        )

    pending = Offer.objects.filter(partner=OuterRef("pk"), status="pending")
    routed = Lead.objects.filter(
        partner=OuterRef("pk"), offered_at__isnull=False, stage__in=["registered", "qualified", "proposal", "negotiation"]
    )
    latest = KpiSnapshot.objects.filter(partner=OuterRef("pk")).order_by("-date")
    Partner.objects.update(
        open_load=count(pending) + count(routed),
        kpi_win_rate=Subquery(latest.values("win_rate_pct")[:1]),
        kpi_rating=Subquery(latest.values("customer_rating")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0012_lead_rejected_is_closed"),
        ("partners", "0006_partner_routing_state"),
        ("kpi", "0007_snapshot_partner_index_covered_by_unique"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
