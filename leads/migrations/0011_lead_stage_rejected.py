from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce, Now


def close_rejected(apps, schema_editor):
    """Deals whose registration was rejected before the stage existed: closed at the decision time."""
    Lead = apps.get_model("leads", "Lead")
    Registration = apps.get_model("leads", "Registration")
    decided = Registration.objects.filter(lead=OuterRef("pk")).values(at=Coalesce("decided_at", "updated_at"))[:1]
    Lead.objects.filter(stage="registered", registration__status="rejected").update(
        stage="rejected", closed_at=Subquery(decided), updated_at=Now()
    )


def reopen_rejected(apps, schema_editor):
    Lead = apps.get_model("leads", "Lead")
    Lead.objects.filter(stage="rejected").update(stage="registered", closed_at=None, updated_at=Now())


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0010_routing_queue_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="lead",
            name="stage",
            field=models.CharField(
                choices=[
                    ("new", "New (unassigned)"),
                    ("offered", "Offered to a partner"),
                    ("queue", "Channel-manager queue"),
                    ("registered", "Registered"),
                    ("qualified", "Qualified"),
                    ("proposal", "Proposal"),
                    ("negotiation", "Negotiation"),
                    ("won", "Won"),
                    ("lost", "Lost"),
                    ("rejected", "Registration rejected"),
                ],
                default="new",
                max_length=20,
            ),
        ),
        migrations.RunPython(close_rejected, reopen_rejected),
    ]
