"""If-Match is compared and the row written under one lock; strong comparison; If-None-Match → 304.

Issue 20 (3): two clients PATCHing with the same ETag at the same time both got 200 (a lost update).
"""

import threading

import pytest
from django.db import connection

from tests.leads.factories import ActivityFactory, LeadFactory

PROBLEM = "application/problem+json"


def _race(api, key, calls):
    """Run the (method, url, body) calls at the same moment; their status codes."""
    barrier = threading.Barrier(len(calls))
    statuses = []

    def run(method, url, body, etag):
        try:
            client = api(key)
            barrier.wait()
            response = getattr(client, method)(url, body, format="json", HTTP_IF_MATCH=etag)
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(statuses)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("target", ["lead", "activity", "stage"])
def test_two_writes_with_one_etag_exactly_one_wins(target, postgres_only, api, key_a, partner):
    for trial in range(5):
        lead = LeadFactory(partner=partner, stage="registered")
        if target == "lead":
            url = f"/api/v1/leads/{lead.pk}/"
            calls = [("patch", url, {"title": f"A{trial}"}), ("patch", url, {"title": f"B{trial}"})]
        elif target == "activity":
            url = f"/api/v1/activities/{ActivityFactory(lead=lead, partner=partner).pk}/"
            calls = [("patch", url, {"subject": f"A{trial}"}), ("patch", url, {"subject": f"B{trial}"})]
        else:
            url = f"/api/v1/leads/{lead.pk}/"
            calls = [
                ("post", url + "stage/", {"stage": "qualified"}),
                ("post", url + "stage/", {"stage": "lost", "lost_reason": "x"}),
            ]
        etag = api(key_a).get(url)["ETag"]
        assert _race(api, key_a, [(*call, etag) for call in calls]) == [200, 412], (target, trial)


@pytest.mark.django_db
def test_a_weak_etag_never_satisfies_if_match(api, key_a, partner):
    lead = LeadFactory(partner=partner)
    client = api(key_a)
    etag = client.get(f"/api/v1/leads/{lead.pk}/")["ETag"]
    weak = client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "x"}, format="json", HTTP_IF_MATCH=f"W/{etag}")
    assert weak.status_code == 412 and weak["Content-Type"] == PROBLEM
    listed = client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "y"}, format="json", HTTP_IF_MATCH=f'"x", {etag}')
    assert listed.status_code == 200
    star = client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "z"}, format="json", HTTP_IF_MATCH="*")
    assert star.status_code == 200


@pytest.mark.django_db
def test_if_none_match_answers_304_until_the_object_changes(api, key_a, partner):
    lead = LeadFactory(partner=partner)
    client = api(key_a)
    etag = client.get(f"/api/v1/leads/{lead.pk}/")["ETag"]
    same = client.get(f"/api/v1/leads/{lead.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert same.status_code == 304 and same["ETag"] == etag and not same.content
    assert client.get(f"/api/v1/leads/{lead.pk}/", HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304  # weak compare
    client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "changed"}, format="json")
    changed = client.get(f"/api/v1/leads/{lead.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["title"] == "changed"
