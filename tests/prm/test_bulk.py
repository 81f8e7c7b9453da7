"""objects_insert stores what bulk_create would, and gives the objects their ids."""

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from prm.bulk import objects_insert
from prm.models import AuditEvent


@pytest.mark.django_db
def test_objects_insert_stores_every_field_and_gives_ids():
    ct = ContentType.objects.get_for_model(AuditEvent)
    data = {"reason": {"code": "x", "params": {"n": 2}}, "list": [1, "два"], "none": None}
    objs = [
        AuditEvent(action="test.one", content_type=ct, object_id="7", reason="why", data=data, ip_address="10.0.0.1"),
        AuditEvent(action="test.two", object_id="", data={}, ip_address=None),
    ]
    assert objects_insert(objs) is objs
    assert all(o.pk and not o._state.adding and o.at is not None for o in objs)
    one, two = (AuditEvent.objects.get(pk=o.pk) for o in objs)
    assert (one.action, one.content_type_id, one.object_id, one.reason, one.data, one.ip_address) == (
        "test.one", ct.pk, "7", "why", data, "10.0.0.1"
    )  # fmt: skip
    assert (two.action, two.content_type_id, two.data, two.ip_address, two.at) == (
        "test.two",
        None,
        {},
        None,
        objs[1].at,
    )
    assert objects_insert([]) == []


@pytest.mark.django_db
def test_objects_insert_choices_decimals_and_foreign_keys(partner):
    from leads.models import Customer, Lead, LeadSource, Stage

    customer = Customer.objects.create(name="ООО «Тест»", normalized_name="тест")
    (lead,) = objects_insert(
        [Lead(customer=customer, customer_name="ООО «Тест»", title="T", kind="implementation", source=LeadSource.IMPORT,
              stage=Stage.NEW, value=Decimal("12.50"), external_id="x-1", source_system="csv")]
    )  # fmt: skip
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.source, stored.stage, stored.value, stored.customer_id, stored.created_at) == (
        "import", "new", Decimal("12.50"), customer.pk, lead.created_at
    )  # fmt: skip


@pytest.mark.django_db
def test_objects_insert_skips_rows_that_break_a_unique_constraint(partner):
    from kpi.models import CommissionEntry

    def entry(key, amount):
        return CommissionEntry(
            partner=partner, kind="adjustment", entry_date="2026-11-03", amount=Decimal(amount), currency="RUB",
            amount_reporting=Decimal(amount), description="d", source_key=key,
        )  # fmt: skip

    objects_insert([entry("k1", "1.00")])
    objects_insert([entry("k1", "2.00"), entry("k2", "3.00")], skip_conflicts=True)
    assert dict(CommissionEntry.objects.values_list("source_key", "amount")) == {
        "k1": Decimal("1.00"),
        "k2": Decimal("3.00"),
    }


@pytest.mark.django_db
def test_rows_insert_fills_defaults_and_returns_ids():
    from prm.bulk import rows_insert

    ids = rows_insert(AuditEvent, [{"action": "test.row", "object_id": str(n), "data": {"n": n}} for n in range(3)])
    stored = list(
        AuditEvent.objects.filter(pk__in=ids).order_by("pk").values_list("action", "object_id", "data", "reason")
    )
    assert stored == [("test.row", str(n), {"n": n}, "") for n in range(3)]
    assert rows_insert(AuditEvent, []) == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_reserved_ids_are_kept_and_never_handed_out_again(postgres_only):
    from prm.bulk import ids_reserve

    reserved = ids_reserve(AuditEvent, 2)  # SQLite reserves nothing (None): the import inserts first there
    objs = [AuditEvent(pk=pk, action="test.reserved", object_id="", data={}) for pk in reserved]
    objects_insert(objs)
    assert [o.pk for o in objs] == reserved
    assert sorted(AuditEvent.objects.filter(action="test.reserved").values_list("pk", flat=True)) == sorted(reserved)
    later = objects_insert([AuditEvent(action="test.later", object_id="", data={})])[0]
    assert later.pk not in reserved
