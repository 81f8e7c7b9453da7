"""E-mail addresses are canonical: login, lock-out and uniqueness ignore letter case (issue 20, identity)."""

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from prm.models import User
from tests.migrating import migrate_latest
from tests.prm.factories import UserFactory


def _login(client, email, password="pass12345!"):
    return client.post(reverse("login"), {"login": email, "password": password})


def test_login_with_the_email_in_any_case(client, channel_manager):
    response = _login(client, "CM@Vendor.Example")
    assert response.status_code == 302 and response.url == reverse("home")


def test_lockout_counts_every_letter_case_as_one_address(client, channel_manager, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for variant in ("cm@vendor.example", "CM@vendor.example", "Cm@Vendor.Example"):
        _login(client, variant, "wrong")
    assert AccessAttempt.objects.get().username == "cm@vendor.example"
    response = _login(client, "CM@VENDOR.EXAMPLE")  # the right password, another case: still locked
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_two_accounts_cannot_share_an_address_in_different_case(db):
    UserFactory(email="ann@example.com")
    with pytest.raises(ValidationError):
        User(email="ANN@example.com", role="channel_manager").full_clean(exclude=["password"])
    with pytest.raises(IntegrityError):
        User.objects.bulk_create([User(email="Ann@Example.com", role="channel_manager")])


def test_model_validation_stores_the_canonical_address(db):
    user = User(email="Bob@Example.COM", role="channel_manager")
    user.set_password("x")
    user.full_clean()
    assert user.email == "bob@example.com"


@pytest.mark.django_db(transaction=True)
def test_migration_lowercases_and_deactivates_case_duplicates():
    executor = MigrationExecutor(connection)
    executor.migrate([("prm", "0002_api_sync")])
    old = executor.loader.project_state([("prm", "0002_api_sync")]).apps.get_model("prm", "User")
    old.objects.create(email="Dup@Example.com", role="channel_manager", password="!")
    used = old.objects.create(email="dup@example.com", role="channel_manager", password="!")
    old.objects.filter(pk=used.pk).update(last_login="2026-01-01T00:00Z")
    solo = old.objects.create(email="Solo@Example.com", role="channel_manager", password="!")
    migrate_latest()

    assert User.objects.get(pk=solo.pk).email == "solo@example.com"
    kept = User.objects.get(email="dup@example.com")
    assert kept.pk == used.pk and kept.is_active
    renamed = User.objects.exclude(pk__in=[used.pk, solo.pk]).get()
    assert renamed.email == f"dup+duplicate-{renamed.pk}@example.com" and not renamed.is_active
