"""A breach is told, once, to the responsible partner and the channel manager, in each reader's language."""

import datetime
from datetime import timedelta

from django.utils import timezone, translation

from leads.delivery import services
from leads.delivery.breaches import tickets_flag_breaches
from leads.delivery.models import Priority, TicketStatus
from prm.models import Notification, NotificationKind
from tests.leads.delivery_factories import ServiceContractFactory

T0 = datetime.datetime(2026, 3, 2, 7, 0, tzinfo=datetime.UTC)


def test_a_breach_notifies_the_partner_and_its_channel_manager_once(partner_admin, channel_manager):
    partner = partner_admin.partner
    partner.account_manager = channel_manager
    partner.save(update_fields=["account_manager"])
    contract = ServiceContractFactory(partner=partner)
    ticket = services.ticket_open(
        contract=contract, actor=partner_admin, title="Till down", priority=Priority.P1, at=T0
    )
    tickets_flag_breaches(now=T0 + timedelta(minutes=31))
    services.ticket_transition(
        ticket=ticket, to_status=TicketStatus.IN_PROGRESS, actor=partner_admin, at=T0 + timedelta(minutes=45)
    )
    notes = Notification.objects.filter(kind=NotificationKind.SERVICE_SLA)
    assert sorted(n.user_id for n in notes) == sorted([partner_admin.pk, channel_manager.pk])
    note = notes.get(user=channel_manager)
    assert note.title == f"SLA breached: ticket #{ticket.pk} Till down"
    assert "Response" in note.body and note.url.endswith(f"/tickets/{ticket.pk}/")
    with translation.override("ru"):
        assert "Нарушен SLA" in note.title_display and "«Ответ»" in note.body_display


def test_a_late_milestone_notifies_the_partner_and_the_channel_managers_once(partner_admin, channel_manager):
    from leads.models import Stage
    from tests.leads.factories import LeadFactory

    lead = LeadFactory(partner=partner_admin.partner, owner=partner_admin, stage=Stage.WON, won_at=timezone.now())
    implementation = services.implementation_open(lead=lead, actor=partner_admin)
    services.milestone_add(
        implementation=implementation,
        actor=partner_admin,
        title="Pilot store",
        due_on=timezone.localdate() - timedelta(days=1),
    )
    tickets_flag_breaches()
    tickets_flag_breaches()
    notes = Notification.objects.filter(kind=NotificationKind.SERVICE_SLA)
    assert sorted(n.user_id for n in notes) == sorted([partner_admin.pk, channel_manager.pk])
    with translation.override("ru"):
        assert notes.first().title_display == "Веха просрочена: Pilot store"
