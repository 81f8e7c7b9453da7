"""Indexes for the nightly ledger phase at 10× the reference network (20 M leads), built CONCURRENTLY on PostgreSQL
(the migration is not atomic):

- the won deals' (won_at, id), so the accruals' catch-up finds the deals won in its window from the index alone
  (it read ~900,000 scattered lead rows a night);
- two small partial indexes for the SLA penalties: the leads whose first contact is missing or late, and the breached
  offers (expired, or accepted after the deadline); the penalty check scanned every lead and every offer."""

from django.db import migrations, models

from prm.migration_ops import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("leads", "0035_name_keys_array_ops")]

    operations = [
        AddIndexOnline(
            model_name="lead",
            index=models.Index(condition=models.Q(("stage", "won")), fields=["won_at", "id"], name="lead_won_day_idx"),
        ),
        AddIndexOnline(
            model_name="lead",
            index=models.Index(
                condition=models.Q(
                    ("first_contact_due__isnull", False),
                    models.Q(
                        ("first_contact_at__isnull", True),
                        ("first_contact_at__gt", models.F("first_contact_due")),
                        _connector="OR",
                    ),
                ),
                fields=["first_contact_due"],
                name="lead_contact_missed_idx",
            ),
        ),
        AddIndexOnline(
            model_name="offer",
            index=models.Index(
                condition=models.Q(
                    ("status", "expired"),
                    models.Q(("responded_at__gt", models.F("deadline")), ("status", "accepted")),
                    _connector="OR",
                ),
                fields=["deadline"],
                name="offer_breached_idx",
            ),
        ),
    ]
