"""Certificate codes become 128 random bits; every existing code moves to `legacy_code` and still verifies."""

import secrets

from django.db import migrations, models

import training.models


def reissue_codes(apps, schema_editor):
    Certification = apps.get_model("training", "Certification")
    batch = []
    for cert in Certification.objects.filter(legacy_code__isnull=True).only("id", "code").iterator(chunk_size=2000):
        cert.legacy_code, cert.code = cert.code, secrets.token_hex(16).upper()
        batch.append(cert)
        if len(batch) >= 2000:
            Certification.objects.bulk_update(batch, ["code", "legacy_code"])
            batch = []
    Certification.objects.bulk_update(batch, ["code", "legacy_code"])


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0002_training_courses_quizzes_certificates"),
    ]

    operations = [
        migrations.AddField(
            model_name="certification",
            name="legacy_code",
            field=models.CharField(blank=True, editable=False, max_length=20, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="certification",
            name="code",
            field=models.CharField(default=training.models.certificate_code, max_length=40, unique=True),
        ),
        migrations.RunPython(reissue_codes, migrations.RunPython.noop),
    ]
