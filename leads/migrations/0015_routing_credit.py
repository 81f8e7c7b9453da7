"""Round-robin credits move from the partner row to a narrow table of their own (partners migration 0007 then
drops the column): a decision rewrites every candidate's credit, and short rows are far cheaper to rewrite."""

import django.db.models.deletion
from django.db import migrations, models


def copy_credits(apps, schema_editor):
    Partner = apps.get_model("partners", "Partner")
    RoutingCredit = apps.get_model("leads", "RoutingCredit")
    RoutingCredit.objects.bulk_create(
        [
            RoutingCredit(partner_id=pk, credit=credit)
            for pk, credit in Partner.objects.exclude(routing_credit=0).values_list("pk", "routing_credit")
        ],
        batch_size=5000,
    )


def copy_back(apps, schema_editor):
    Partner = apps.get_model("partners", "Partner")
    for row in apps.get_model("leads", "RoutingCredit").objects.all():
        Partner.objects.filter(pk=row.partner_id).update(routing_credit=row.credit)


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0014_routing_pool_version"),
        ("partners", "0006_partner_routing_state"),
    ]

    operations = [
        migrations.CreateModel(
            name="RoutingCredit",
            fields=[
                (
                    "partner",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="routing_credit",
                        serialize=False,
                        to="partners.partner",
                    ),
                ),
                ("credit", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(copy_credits, copy_back),
    ]
