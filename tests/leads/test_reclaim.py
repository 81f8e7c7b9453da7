import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from leads.models import LeadReclaim, LeadSource, ProtectionWindow, RegistrationStatus, Stage
from leads.services import routing
from leads.services.conflict import leads_reclaim
from leads.services.deals import activity_log
from prm.models import Notification
from tests.leads.factories import LeadFactory


@pytest.fixture
def routed(partner_rep):
    now = timezone.now()
    return LeadFactory(
        partner=partner_rep.partner,
        owner=partner_rep,
        source=LeadSource.VENDOR,
        stage=Stage.REGISTERED,
        offered_at=now - timedelta(days=3),
        accepted_at=now - timedelta(days=3),
        first_contact_due=now - timedelta(hours=1),
        route_failures=1,
    )


@pytest.fixture
def idle_deal(register, partner_rep):
    reg = register(partner_rep.partner, partner_rep, name="ООО Ромашка", tax_id="7701234567")
    assert reg.status == RegistrationStatus.APPROVED
    reg.lead.last_activity_at = timezone.now() - timedelta(days=31)
    reg.lead.save(update_fields=["last_activity_at"])
    return reg.lead


@pytest.fixture
def reroutes(monkeypatch):
    calls = []
    monkeypatch.setattr(routing, "lead_route", lambda *, lead, actor=None, retry=False: calls.append((lead.pk, retry)))
    return calls


def _after_grace(flag):
    return flag.reclaim_due + timedelta(minutes=1)


@pytest.mark.django_db
class TestRoutedLead:
    def test_flag_then_grace_then_reclaim_and_reroute(self, routed, reroutes, partner_rep):
        now = timezone.now()
        assert leads_reclaim(now=now)["flagged"] == 1
        flag = LeadReclaim.objects.get(lead=routed)
        assert flag.reason == "no_first_contact" and flag.reclaim_due > now + timedelta(hours=24)
        assert Notification.objects.filter(user=partner_rep, title__contains="will be reclaimed").exists()
        # Still within the grace period: nothing happens.
        assert leads_reclaim(now=flag.reclaim_due - timedelta(minutes=1))["reclaimed"] == 0
        assert leads_reclaim(now=_after_grace(flag))["reclaimed"] == 1
        routed.refresh_from_db()
        assert routed.stage == Stage.NEW and routed.partner is None and routed.owner is None
        assert routed.accepted_at is None and routed.first_contact_due is None and routed.route_failures == 2
        assert reroutes == [(routed.pk, True)]
        flag.refresh_from_db()
        assert flag.reclaimed_at and flag.partner_id == partner_rep.partner_id
        assert Notification.objects.filter(user=partner_rep, title__contains="was reclaimed").exists()

    def test_real_router_takes_it_back(self, routed):
        leads_reclaim(now=timezone.now())
        leads_reclaim(now=_after_grace(LeadReclaim.objects.get()))
        routed.refresh_from_db()
        assert routed.stage in (Stage.QUEUE, Stage.OFFERED) and routed.routing_decisions.exists()

    def test_contacted_lead_is_not_flagged(self, routed):
        routed.first_contact_at = timezone.now()
        routed.save()
        assert leads_reclaim(now=timezone.now())["flagged"] == 0

    def test_run_twice_reclaims_once(self, routed, reroutes):
        leads_reclaim(now=timezone.now())
        later = _after_grace(LeadReclaim.objects.get())
        leads_reclaim(now=later)
        leads_reclaim(now=later)
        assert LeadReclaim.objects.filter(reclaimed_at__isnull=False).count() == 1
        assert len(reroutes) == 1


@pytest.mark.django_db
class TestIdleDeal:
    def test_flag_then_reclaim_removes_protection(self, idle_deal, reroutes):
        leads_reclaim(now=timezone.now())
        flag = LeadReclaim.objects.get(lead=idle_deal)
        assert flag.reason == "idle"
        leads_reclaim(now=_after_grace(flag))
        reg = idle_deal.registration
        reg.refresh_from_db()
        assert reg.status == RegistrationStatus.EXPIRED
        assert not ProtectionWindow.objects.filter(registration=reg, active=True).exists()
        # the one release rule (as for a Lost deal): decision recorded, reason in the reader's language
        from leads.services.registration import MSG_RECLAIMED, Rule

        assert reg.decision_rule == Rule.RELEASED and MSG_RECLAIMED in reg.decision_reason
        assert reg.decisions.filter(rule=Rule.RELEASED).exists()
        idle_deal.refresh_from_db()
        assert idle_deal.partner_id == reg.partner_id  # not re-routed
        assert reroutes == []

    def test_recent_activity_is_not_idle(self, idle_deal):
        idle_deal.last_activity_at = timezone.now() - timedelta(days=5)
        idle_deal.save()
        assert leads_reclaim(now=timezone.now())["flagged"] == 0

    def test_activity_clears_the_flag(self, idle_deal, partner_rep):
        leads_reclaim(now=timezone.now() - timedelta(minutes=5))
        flag = LeadReclaim.objects.get()
        activity_log(lead=idle_deal, user=partner_rep, kind="call", occurred_at=timezone.now(), subject="Follow-up")
        result = leads_reclaim(now=_after_grace(flag))
        assert result == {"cleared": 1, "flagged": 0, "reclaimed": 0}
        flag.refresh_from_db()
        assert flag.cleared_at and flag.reclaimed_at is None
        assert idle_deal.registration.windows.filter(active=True).exists()


@pytest.mark.django_db
class TestReads:
    def test_vendor_list_and_partner_forbidden(self, client_for, channel_manager, partner_rep, routed):
        leads_reclaim(now=timezone.now())
        resp = client_for(channel_manager).get(reverse("leads:reclaim_list"), {"state": "flagged"})
        assert resp.status_code == 200 and [r.lead for r in resp.context["page"]] == [routed]
        assert client_for(partner_rep).get(reverse("leads:reclaim_list")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_workers_reclaim_once(postgres_only, routed, reroutes):
    leads_reclaim(now=timezone.now())
    later = _after_grace(LeadReclaim.objects.get())
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            leads_reclaim(now=later)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert LeadReclaim.objects.filter(reclaimed_at__isnull=False).count() == 1
    assert len(reroutes) == 1
