"""E-mail addresses become canonical (lower case) and unique whatever their case.

Rows that differ only in case cannot all keep their address: the account used last (then the oldest) keeps it,
the others are deactivated and renamed to `<local>+duplicate-<id>@<domain>` so nobody loses data and an admin can
merge or delete them. Each one is reported on the console and in the audit trail (action `user.email_duplicate`).
"""

from django.db import migrations, models
from django.db.models.functions import Lower


def canonicalise_emails(apps, schema_editor):
    User = apps.get_model("prm", "User")
    AuditEvent = apps.get_model("prm", "AuditEvent")
    groups: dict[str, list] = {}
    for user in User.objects.order_by("id").only("id", "email", "last_login", "is_active"):
        groups.setdefault(user.email.strip().lower(), []).append(user)
    for canonical, users in groups.items():
        users.sort(key=lambda u: (u.last_login is None, -(u.last_login.timestamp() if u.last_login else 0), u.id))
        keeper, *duplicates = users
        for dup in duplicates:
            local, _at, domain = canonical.partition("@")
            new_email = f"{local}+duplicate-{dup.id}@{domain}"
            User.objects.filter(pk=dup.pk).update(email=new_email, is_active=False)
            AuditEvent.objects.create(
                action="user.email_duplicate",
                object_id=str(dup.pk),
                data={"email": dup.email, "renamed_to": new_email, "kept_by": keeper.id},
            )
            print(f"\n  user {dup.id} <{dup.email}> duplicates user {keeper.id}: deactivated, renamed to {new_email}")
        if keeper.email != canonical:
            User.objects.filter(pk=keeper.pk).update(email=canonical)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("partners", "0007_partner_routing_credit_moved"),
        ("prm", "0002_api_sync"),
    ]

    operations = [
        migrations.RunPython(canonicalise_emails, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                Lower("email"), name="user_email_ci_unique", violation_error_message="This e-mail is already in use."
            ),
        ),
    ]
