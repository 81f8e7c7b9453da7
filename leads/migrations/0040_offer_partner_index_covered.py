"""Offers by partner are found through offer_partner_status_idx (partner, status): the foreign key's own index on
partner was a second one written with every offer (thousands a second while routing). Dropped CONCURRENTLY on
PostgreSQL, the foreign key constraint left as it is (prm.migration_ops.DropFieldIndexOnline)."""

import django.db.models.deletion
from django.db import migrations, models

from prm.migration_ops import DropFieldIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("leads", "0039_name_word_pairs"),
        ("partners", "0014_partner_name_idx"),
    ]

    operations = [
        DropFieldIndexOnline(
            model_name="offer",
            name="partner",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="offers",
                to="partners.partner",
            ),
        ),
    ]
