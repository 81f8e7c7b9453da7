from django.db import migrations, models


class Migration(migrations.Migration):
    # Separate from the data migration: on PostgreSQL each migration is its own transaction.
    dependencies = [
        ("leads", "0011_lead_stage_rejected"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="lead",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("stage", "rejected"), _negated=True), ("closed_at__isnull", False), _connector="OR"
                ),
                name="lead_rejected_is_closed",
            ),
        ),
    ]
