import threading

import pytest
from django.db import connection

from leads.models import Customer, Lead
from prm.models import IdempotencyRecord
from tests.leads.factories import valid_inn


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_idempotency_key_write_once(postgres_only, api, key_a, partner):
    body = {"title": "Race", "customer": {"name": "Acme", "tax_id": "7712000003"}}
    barrier = threading.Barrier(4)
    statuses = []

    def post():
        try:
            barrier.wait()
            response = api(key_a).post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Lead.objects.filter(partner=partner, title="Race").count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}


@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_upserts_of_the_same_keys_never_duplicate(postgres_only, api, key_a, partner):
    items = [
        {
            "source_system": "crm",
            "external_id": f"d{i}",
            "title": f"T{i}",
            "customer": {"name": "C", "tax_id": "7701234560"},
        }
        for i in range(200)
    ]
    barrier = threading.Barrier(3)
    failures, results = [], []

    def post():
        try:
            barrier.wait()
            response = api(key_a).post("/api/v1/leads/bulk-upsert/", {"items": items}, format="json")
            if response.status_code != 200:
                failures.append(response.content)
            else:
                results.append(response.json()["results"])
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert Lead.objects.filter(partner=partner, source_system="crm").count() == 200
    ids = set(Lead.objects.filter(partner=partner, source_system="crm").values_list("id", flat=True))
    for batch in results:  # every request reports the real row, whoever inserted it
        assert {r["id"] for r in batch} == ids
        assert {r["status"] for r in batch} <= {"created", "unchanged"}


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_bulk_upserts_with_different_values_create_each_row_and_customer_once(
    postgres_only, api, key_a, partner
):
    def items(version):
        return [
            {
                "source_system": "crm",
                "external_id": f"d{i}",
                "title": f"T{i} v{version}",
                "customer": {"name": f"C{i % 7}", "tax_id": valid_inn(i % 7)},
            }
            for i in range(300)
        ]

    barrier = threading.Barrier(2)
    results, failures = [], []

    def post(version):
        try:
            barrier.wait()
            response = api(key_a).post("/api/v1/leads/bulk-upsert/", {"items": items(version)}, format="json")
            (results if response.status_code == 200 else failures).append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert Lead.objects.filter(partner=partner, source_system="crm").count() == 300
    assert Customer.objects.filter(tax_id__startswith="77").count() == 7  # no twins from the race
    statuses = [[r["status"] for r in batch["results"]] for batch in results]
    for per_key in zip(*statuses):  # one request created the row, the other updated it
        assert sorted(per_key) == ["created", "updated"]
