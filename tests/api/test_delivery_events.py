"""Each post-sale domain event reaches the responsible partner's webhook subscription once, never another
partner's: ticket.breach_warning, ticket.breached, implementation.milestone_late, checkin.received."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads.delivery import checkins
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.models import CheckIn, Priority, TicketStatus
from leads.delivery.services import (
    implementation_open,
    implementation_sign_off,
    milestone_add,
    milestone_complete,
    ticket_open,
    ticket_transition,
)
from prm.models import Role, WebhookDelivery
from prm.webhooks import webhook_subscribe
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import LeadFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db

EVENTS = ["ticket.breach_warning", "ticket.breached", "implementation.milestone_late", "checkin.received"]


@pytest.fixture
def subs(partner_admin, other_partner, make_key):
    own, _raw = make_key(partner_admin)
    other_admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=other_partner, email="b@beta.example")
    other, _raw = make_key(other_admin)
    return {
        "own": webhook_subscribe(api_key=own, url="http://127.0.0.1:9/a", events=EVENTS, actor=partner_admin)[0],
        "other": webhook_subscribe(api_key=other, url="http://127.0.0.1:9/b", events=EVENTS, actor=other_admin)[0],
    }


def _assert_only_own(subs, event) -> dict:
    [delivery] = WebhookDelivery.objects.filter(subscription=subs["own"], event=event)
    assert not WebhookDelivery.objects.filter(subscription=subs["other"]).exists()
    return delivery.payload["data"]


@pytest.fixture
def contract(partner_admin):
    lead = LeadFactory(partner=partner_admin.partner, stage="won", won_at=timezone.now())
    return ServiceContractFactory(partner=partner_admin.partner, customer=lead.customer, lead=lead)


def test_ticket_breach_warning_once(subs, contract, partner_admin):
    start = timezone.now() - timedelta(minutes=25)
    ticket = ticket_open(contract=contract, actor=partner_admin, title="Down", priority=Priority.P1, at=start)
    tickets_flag_breaches()
    tickets_flag_breaches()
    data = _assert_only_own(subs, "ticket.breach_warning")
    assert (data["ticket"], data["clock"], data["priority"]) == (ticket.pk, "response", "p1")
    assert not WebhookDelivery.objects.filter(event="ticket.breached").exists()


@pytest.mark.parametrize("seen_by", ["job", "status_change"])
def test_ticket_breached_once_whoever_sees_it(seen_by, subs, contract, partner_admin):
    start = timezone.now() - timedelta(minutes=45)
    ticket = ticket_open(contract=contract, actor=partner_admin, title="Down", priority=Priority.P1, at=start)
    if seen_by == "status_change":  # answered late: the stop books the breach
        ticket_transition(ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin)
    tickets_flag_breaches()
    tickets_flag_breaches()
    data = _assert_only_own(subs, "ticket.breached")
    assert (data["ticket"], data["clock"]) == (ticket.pk, "response") and data["breached_at"]


def test_implementation_milestone_late_once(subs, partner_admin):
    lead = LeadFactory(partner=partner_admin.partner, stage="won", won_at=timezone.now())
    implementation = implementation_open(lead=lead, actor=partner_admin)
    yesterday = timezone.localdate() - timedelta(days=1)
    late = milestone_add(implementation=implementation, actor=partner_admin, title="Pilot", due_on=yesterday)
    done = milestone_add(implementation=implementation, actor=partner_admin, title="Kick-off", due_on=yesterday)
    milestone_complete(milestone=done, actor=partner_admin)
    milestone_add(implementation=implementation, actor=partner_admin, title="Go", due_on=timezone.localdate())
    tickets_flag_breaches()
    tickets_flag_breaches()
    data = _assert_only_own(subs, "implementation.milestone_late")
    assert (data["implementation"], data["milestone"], data["title"], data["lead"]) == (
        implementation.pk,
        late.pk,
        "Pilot",
        lead.pk,
    )


def test_checkin_received_once(subs, partner_admin):
    lead = LeadFactory(partner=partner_admin.partner, stage="won", won_at=timezone.now() - timedelta(days=60))
    implementation = implementation_open(lead=lead, actor=partner_admin)
    implementation_sign_off(implementation=implementation, name="Ivan", at=timezone.now() - timedelta(days=31))
    checkins.checkins_create_due()
    checkin = CheckIn.objects.get()
    checkins.checkin_answer(checkin=checkin, rating=3, comment="OK")
    with pytest.raises(ValidationError):  # a second answer is refused and sends nothing
        checkins.checkin_answer(checkin=checkin, rating=5)
    data = _assert_only_own(subs, "checkin.received")
    assert (data["implementation"], data["rating"]) == (implementation.pk, 3)
