"""A user's notifications are found through notification_inbox_idx (user, read_at): the foreign key's own index on
user was a second one written with every notification (two an offer while routing). Dropped CONCURRENTLY on
PostgreSQL, the foreign key constraint left as it is (prm.migration_ops.DropFieldIndexOnline)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from prm.migration_ops import DropFieldIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("prm", "0008_user_role_name_idx"),
    ]

    operations = [
        DropFieldIndexOnline(
            model_name="notification",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
