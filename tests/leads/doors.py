"""Entry paths ("doors") the path-equivalence tests drive: the portal form, the REST API (single and bulk), the
vendor's lead form and CSV import, and the Celery jobs. Each door goes through the real view or endpoint."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from leads.models import Lead, LeadSource, Registration
from prm.api_auth import ALL_SCOPES, api_key_create
from prm.models import Role
from tests.conftest import with_totp
from tests.prm.factories import PartnerUserFactory

REGISTRATION_DOORS = ["portal_form", "api_single", "api_bulk", "celery_job"]


def api_client_for(partner=None, *, user=None) -> APIClient:
    """An API client with a key for `partner` (or a vendor key created by `user`)."""
    if user is None:
        user = with_totp(PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=partner))
    raw = api_key_create(created_by=user, name="CRM", scopes=list(ALL_SCOPES), partner=partner)[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def registration_form(*, name: str, tax_id: str, title: str, region=None) -> dict:
    return {
        "customer_name": name,
        "tax_id": tax_id,
        "website": "",
        "region": region.pk if region else "",
        "contact_name": "Ivan Petrov",
        "contact_email": "ivan@gmail.com",
        "title": title,
        "products": "ERP",
        "value": "1500000",
        "currency": "RUB",
        "expected_close": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }


def register_via(door, *, user, client, capture, name="ООО «Ромашка»", tax_id="7701234560", title="Licences"):
    """Register a deal for `user`'s partner through `door`; returns (registration, what the user was shown).

    `client` is Django's test client, `capture` pytest-django's django_capture_on_commit_callbacks."""
    partner = user.partner
    if door == "portal_form":
        client.force_login(user)
        response = client.post(
            reverse("leads:deal_register"), registration_form(name=name, tax_id=tax_id, title=title), follow=True
        )
        assert response.status_code == 200
        reg = Registration.objects.filter(partner=partner).latest("pk")
        return reg, response.content.decode()
    item = {"source_system": "crm", "title": title, "customer": {"name": name, "tax_id": tax_id}}
    api = api_client_for(partner)
    external_id = f"{door}-{Lead.objects.count()}"
    if door in ("api_single", "celery_job"):
        with capture(execute=door == "api_single"):  # the registration check runs right after the commit
            response = api.post("/api/v1/leads/", {**item, "external_id": external_id}, format="json")
        assert response.status_code == 201, response.content[:500]
        lead_id = response.json()["id"]
        if door == "celery_job":  # the task queued after the commit was lost: the periodic job picks the deal up
            from leads.tasks import registrations_check_task

            registrations_check_task.delay()
    else:
        with capture(execute=True):
            response = api.post(
                "/api/v1/leads/bulk-upsert/", {"items": [{**item, "external_id": external_id}]}, format="json"
            )
        assert response.status_code == 200, response.content[:500]
        lead_id = response.json()["results"][0]["id"]
    shown = api.get(f"/api/v1/registrations/?lead={lead_id}").json()["results"][0]
    reg = Registration.objects.get(lead_id=lead_id)
    assert reg.lead.source == LeadSource.PARTNER_REGISTRATION
    return reg, f"{shown['status']}: {shown['decision_reason']}"
