"""A mirror that polls the change feed while others write, until it is quiet, equals the API. Issue 20 (2).

Writers: a CRM bulk-upserting deals through the API, the background job deciding their registrations (on
another worker), a CRM editing deals, and a slow bulk statement that commits long after it wrote (its rows
carry an older timestamp than changes committed meanwhile: a feed ordered by timestamps skipped those).
"""

import threading
import time

import pytest
from django.db import connection, transaction

from leads import tasks
from leads.models import Lead
from leads.services import registration
from prm.api_changes import changes_assign_positions
from prm.models import Change

RESOURCES = ("leads", "registrations", "activities")


def _items(batch, n=150):
    return [
        {
            "source_system": "crm",
            "external_id": f"b{batch}-{i}",
            "title": f"Deal {batch}/{i}",
            "customer": {"name": f"Customer {i % 20}"},
        }
        for i in range(n)
    ]


def _list(client, url):
    rows, next_url = [], url
    while next_url:
        body = client.get(next_url).json()
        rows += body["results"]
        next_url = body["next"]
    return rows


@pytest.mark.django_db(transaction=True)
def test_a_mirror_polling_to_quiet_equals_the_api(postgres_only, api, partner_admin, make_key, partner, monkeypatch):
    scopes = [f"{r}:{m}" for r in RESOURCES for m in ("read", "write")]
    raw = make_key(partner_admin, scopes=scopes)[1]
    # Decisions happen on a worker, not in the request: the task is queued, the job below picks the deals up.
    monkeypatch.setattr(tasks.registrations_check_task, "delay", lambda **kwargs: None)
    writing = threading.Event()
    writing.set()
    failures = []

    def crm_bulk():
        client = api(raw)
        for batch in range(6):
            response = client.post("/api/v1/leads/bulk-upsert/", {"items": _items(batch)}, format="json")
            if response.status_code != 200:
                failures.append(response.content)

    def background_decisions():
        while writing.is_set():
            registration.registrations_check(limit=50)
            time.sleep(0.01)
        registration.registrations_check()

    def crm_edits():
        client = api(raw)
        for round_ in range(20):
            ids = list(Lead.objects.filter(partner=partner).order_by("?").values_list("pk", flat=True)[:5])
            for pk in ids:
                client.patch(f"/api/v1/leads/{pk}/", {"notes": f"edit {round_}"}, format="json")
            if ids:
                client.post("/api/v1/activities/", {"lead": ids[0], "subject": "Call", "occurred_at": "2026-11-01T10:00:00Z"}, format="json")  # fmt: skip
            time.sleep(0.02)

    def slow_statement():
        for round_ in range(4):
            with transaction.atomic():
                Lead.objects.filter(partner=partner, external_id__endswith=f"-{round_}").update(
                    products=f"slow {round_}"
                )
                time.sleep(0.3)  # others commit meanwhile; this commit comes last

    def run(target):
        try:
            target()
        except Exception as exc:  # noqa: BLE001 — reported below
            failures.append(repr(exc))
        finally:
            connection.close()

    mirror = {}
    cursor = None

    def poll():
        nonlocal cursor
        client = api(raw)
        while True:
            params = {"limit": 200} | ({"since": cursor} if cursor else {})
            page = client.get("/api/v1/changes/", params).json()
            for change in page["results"]:
                key = (change["resource"], change["id"])
                if change["op"] == "delete":
                    mirror.pop(key, None)
                else:
                    mirror[key] = change["data"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return bool(page["results"])

    def mirror_while_writing():
        while writing.is_set():
            poll()
            time.sleep(0.01)

    writers = [threading.Thread(target=run, args=(t,)) for t in (crm_bulk, crm_edits, slow_statement)]
    job = threading.Thread(target=run, args=(background_decisions,))
    reader = threading.Thread(target=run, args=(mirror_while_writing,))
    for t in [*writers, job, reader]:
        t.start()
    for t in writers:
        t.join()
    writing.clear()
    job.join()
    reader.join()
    assert not failures
    while poll():  # to quiet
        pass

    client = api(raw)
    truth = {}
    for resource in RESOURCES:
        truth.update({(resource, row["id"]): row for row in _list(client, f"/api/v1/{resource}/?page_size=1000")})
    assert len([k for k in truth if k[0] == "leads"]) == 900
    assert any(k[0] == "registrations" for k in truth)
    stale = [k for k in truth if mirror.get(k) != truth[k]]
    assert not stale, f"{len(stale)} objects differ from the API, e.g. {stale[:5]}"
    assert set(mirror) == set(truth)
    changes_assign_positions()
    assert not Change.objects.filter(position__isnull=True).exists()
