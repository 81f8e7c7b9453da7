"""Which recent deals have their accrual, from the index alone: the nightly catch-up's anti-join (built CONCURRENTLY on
PostgreSQL; the migration is not atomic)."""

from django.db import migrations, models

from prm.migration_ops import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("kpi", "0016_entries_statement_period_close")]

    operations = [
        AddIndexOnline(
            model_name="commissionentry",
            index=models.Index(
                condition=models.Q(("kind", "accrual")),
                fields=["entry_date", "lead"],
                name="commission_accrual_lead_idx",
            ),
        ),
    ]
