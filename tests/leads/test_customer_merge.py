"""Customers duplicated by the old entry paths: keys recomputed (the data migration's step) and merged."""

import importlib
from io import StringIO

import pytest
from django.apps import apps as global_apps
from django.core.management import call_command

from leads.customers import customers_rekey
from leads.models import Customer, Lead, ProtectionWindow
from prm.models import AuditEvent
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _old_paths_customers():
    """What the three old algorithms stored for one company."""
    portal = Customer.objects.create(name="ООО «Ромашка»", normalized_name="romashka", tax_id="7707083893")
    api = Customer.objects.create(name="Romashka LLC", normalized_name="romashka llc", tax_id="77О7083893")
    vendor = Customer.objects.create(name="ромашка ооо", normalized_name="ромашка ооо")
    other = Customer.objects.create(name="Василёк", normalized_name="vasiliok", tax_id="7736050003")
    return portal, api, vendor, other


def test_rekey_recomputes_every_customer_key_with_the_one_rule():
    portal, api, vendor, other = _old_paths_customers()
    report = customers_rekey()
    assert report.customers_changed == 3
    keys = dict(Customer.objects.values_list("pk", "normalized_name"))
    assert keys == {portal.pk: "romashka", api.pk: "romashka", vendor.pk: "romashka", other.pk: "vasilek"}
    assert Customer.objects.get(pk=api.pk).tax_id == "7707083893"


def test_the_data_migration_rekeys_with_historical_models(register, partner, partner_rep):
    reg = register(partner, partner_rep, name="Василёк", tax_id="7736050003")
    Customer.objects.update(normalized_name="vasiliok")
    ProtectionWindow.objects.filter(key_kind="name").update(key="vasiliok")
    migration = importlib.import_module("leads.migrations.0019_customer_identity")
    migration.rekey(global_apps, None)
    assert Customer.objects.get().normalized_name == "vasilek"
    assert reg.windows.get(key_kind="name", active=True).key == "vasilek"


def test_merge_is_a_dry_run_by_default_and_merges_with_apply(register, partner, partner_rep, vendor_admin):
    portal, api, vendor, other = _old_paths_customers()
    lead_api = LeadFactory(customer=api, partner=None, stage="new")
    lead_vendor = LeadFactory(customer=vendor, partner=None, stage="new")

    out = StringIO()
    call_command("customers_merge", stdout=out)
    assert "Would merge" in out.getvalue() and f"into #{portal.pk}" in out.getvalue()
    assert Customer.objects.count() == 4  # nothing changed

    out = StringIO()
    call_command("customers_merge", "--apply", stdout=out)
    assert set(Customer.objects.values_list("pk", flat=True)) == {portal.pk, other.pk}
    assert set(Lead.objects.filter(pk__in=[lead_api.pk, lead_vendor.pk]).values_list("customer_id", flat=True)) == {
        portal.pk
    }
    event = AuditEvent.objects.get(action="customer.merged")
    assert {m["id"] for m in event.data["merged"]} == {api.pk, vendor.pk}
    # Idempotent: nothing left to merge.
    out = StringIO()
    call_command("customers_merge", "--apply", stdout=out)
    assert "Merged 0" in out.getvalue()


def test_merge_repoints_protection_windows_to_the_survivors_keys(partner, other_partner):
    from datetime import timedelta

    from django.utils import timezone

    from leads.models import Registration

    survivor = Customer.objects.create(name="Ромашка", normalized_name="romashka", tax_id="7707083893")
    dup = Customer.objects.create(name="Romashka Group", normalized_name="romashka group", tax_id="77О7083893")
    now = timezone.now()
    regs = []
    for p, customer, start in ((partner, survivor, now - timedelta(days=2)), (other_partner, dup, now)):
        lead = LeadFactory(customer=customer, partner=p, stage="registered")
        reg = Registration.objects.create(
            lead=lead, partner=p, status="approved", protected_from=start, protected_until=start + timedelta(days=90)
        )
        regs.append(reg)
    ProtectionWindow.objects.create(
        registration=regs[0], partner=partner, key_kind="name", key="romashka", starts_at=now - timedelta(days=2),
        ends_at=now + timedelta(days=88),
    )  # fmt: skip
    ProtectionWindow.objects.create(
        registration=regs[1], partner=other_partner, key_kind="name", key="romashka group", starts_at=now,
        ends_at=now + timedelta(days=90),
    )  # fmt: skip
    out = StringIO()
    call_command("customers_merge", "--apply", stdout=out)
    assert Lead.objects.filter(customer=survivor).count() == 2
    # The older protection keeps the customer's key; the newer window on the same key is released (and reported).
    assert list(ProtectionWindow.objects.filter(active=True).values_list("registration_id", "key")) == [
        (regs[0].pk, "romashka")
    ]
    assert "released window" in out.getvalue()
