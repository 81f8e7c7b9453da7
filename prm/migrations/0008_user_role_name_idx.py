"""Users by role in their display order, built CONCURRENTLY on PostgreSQL: the vendor's people (account-manager
choices, reviewers) were found by scanning every partner user (0.1–0.2 s a page at 100,000 partners)."""

from django.db import migrations, models

from prm.migration_ops import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("prm", "0007_pulse_email_preferences")]

    operations = [
        AddIndexOnline(
            model_name="user",
            index=models.Index(fields=["role", "last_name", "first_name", "email"], name="user_role_name_idx"),
        )
    ]
