import sys
import types
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from leads.models import CoSell, Registration, RegistrationStatus, Stage
from leads.services.deals import activity_log, deal_cosell_set, deal_stage_change
from prm.models import AuditEvent
from tests.leads.factories import LeadFactory
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(partner, partner_rep):
    """An open deal with an approved registration."""
    lead = LeadFactory(partner=partner, owner=partner_rep)
    now = timezone.now()
    Registration.objects.create(
        lead=lead,
        partner=partner,
        status=RegistrationStatus.APPROVED,
        protected_from=now,
        protected_until=now + timedelta(days=90),
    )
    return lead


def test_forward_path_to_won_sets_dates(deal, partner_rep):
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.WON):
        deal = deal_stage_change(lead=deal, to_stage=stage, actor=partner_rep)
    assert deal.stage == Stage.WON and deal.won_at is not None and deal.closed_at == deal.won_at
    assert AuditEvent.objects.filter(action="deal.stage_changed", object_id=str(deal.pk)).count() == 4


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Stage.REGISTERED, Stage.WON),
        (Stage.REGISTERED, Stage.PROPOSAL),
        (Stage.QUALIFIED, Stage.NEGOTIATION),
        (Stage.WON, Stage.LOST),
        (Stage.LOST, Stage.QUALIFIED),
        (Stage.PROPOSAL, Stage.NEW),
    ],
)
def test_disallowed_moves(deal, partner_rep, start, target):
    deal.stage = start
    deal.won_at = timezone.now() if start == Stage.WON else None
    deal.save()
    with pytest.raises(ValidationError):
        deal_stage_change(lead=deal, to_stage=target, actor=partner_rep, lost_reason="x")
    deal.refresh_from_db()
    assert deal.stage == start


def test_lost_requires_a_reason(deal, partner_rep):
    with pytest.raises(ValidationError) as exc:
        deal_stage_change(lead=deal, to_stage=Stage.LOST, actor=partner_rep, lost_reason=" ")
    assert "lost_reason" in exc.value.message_dict
    deal = deal_stage_change(lead=deal, to_stage=Stage.LOST, actor=partner_rep, lost_reason="Budget cut")
    assert deal.stage == Stage.LOST and deal.lost_reason == "Budget cut" and deal.closed_at


def test_unapproved_registration_cannot_move(deal, partner_rep):
    Registration.objects.filter(lead=deal).update(status=RegistrationStatus.REJECTED)
    deal.refresh_from_db()
    with pytest.raises(ValidationError):
        deal_stage_change(lead=deal, to_stage=Stage.QUALIFIED, actor=partner_rep)


def test_won_invites_a_review_after_commit_when_available(
    deal, partner_rep, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    fake = types.ModuleType("partners.services")
    fake.review_invite = lambda *, lead: calls.append(lead.pk)
    monkeypatch.setitem(sys.modules, "partners.services", fake)
    import partners

    monkeypatch.setattr(partners, "services", fake, raising=False)
    deal.stage = Stage.NEGOTIATION
    deal.save()
    with django_capture_on_commit_callbacks(execute=True):
        deal_stage_change(lead=deal, to_stage=Stage.WON, actor=partner_rep)
    assert calls == [deal.pk]


def test_won_without_review_service_still_works(deal, partner_rep, django_capture_on_commit_callbacks):
    deal.stage = Stage.PROPOSAL
    deal.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert deal_stage_change(lead=deal, to_stage=Stage.WON, actor=partner_rep).stage == Stage.WON


# --- activities ---


def test_activities_update_first_contact_and_last_activity(deal, partner_rep):
    now = timezone.now()
    activity_log(lead=deal, user=partner_rep, kind="call", occurred_at=now - timedelta(days=2), subject="Intro")
    deal.refresh_from_db()
    assert deal.first_contact_at == deal.last_activity_at == now - timedelta(days=2)
    activity_log(lead=deal, user=partner_rep, kind="meeting", occurred_at=now, subject="Demo")
    activity_log(lead=deal, user=partner_rep, kind="note", occurred_at=now - timedelta(days=5), subject="Backfill")
    deal.refresh_from_db()
    assert deal.last_activity_at == now
    assert deal.first_contact_at == now - timedelta(days=5)
    assert deal.activities.count() == 3


def test_activity_validation(deal, partner_rep):
    with pytest.raises(ValidationError):
        activity_log(
            lead=deal, user=partner_rep, kind="call", occurred_at=timezone.now() + timedelta(days=1), subject="x"
        )
    with pytest.raises(ValidationError):
        activity_log(lead=deal, user=partner_rep, kind="fax", occurred_at=timezone.now(), subject="x")
    with pytest.raises(ValidationError):
        activity_log(lead=deal, user=partner_rep, kind="call", occurred_at=timezone.now(), subject="  ")
    deal.refresh_from_db()
    assert deal.last_activity_at is None and not deal.activities.exists()


# --- co-sell ---


def test_cosell_split(deal, partner_rep, other_partner):
    third = PartnerFactory()
    deal_cosell_set(lead=deal, shares={other_partner: Decimal("30"), third: Decimal("70")}, actor=partner_rep)
    assert dict(CoSell.objects.values_list("partner_id", "share_percent")) == {other_partner.pk: 30, third.pk: 70}
    deal_cosell_set(lead=deal, shares={other_partner: Decimal("20")}, actor=partner_rep)
    assert list(CoSell.objects.values_list("partner_id", "share_percent")) == [(other_partner.pk, 20)]


@pytest.mark.parametrize("shares", [{"o": "60", "t": "50"}, {"o": "0"}, {"o": "-5"}, {"owner": "10"}])
def test_cosell_split_validation(deal, partner, partner_rep, other_partner, shares):
    who = {"o": other_partner, "t": PartnerFactory(), "owner": partner}
    CoSell.objects.create(lead=deal, partner=other_partner, share_percent=10)
    with pytest.raises(ValidationError):
        deal_cosell_set(lead=deal, shares={who[k]: Decimal(v) for k, v in shares.items()}, actor=partner_rep)
    assert list(CoSell.objects.values_list("share_percent", flat=True)) == [10]  # unchanged


# --- visibility and pages ---


def test_other_partners_deal_is_404(client_for, deal, other_partner_rep):
    client = client_for(other_partner_rep)
    assert client.get(reverse("leads:deal_detail", args=[deal.pk])).status_code == 404
    for name in ("leads:deal_stage", "leads:deal_activity", "leads:deal_cosell", "leads:registration_extend"):
        assert client.post(reverse(name, args=[deal.pk]), {"to_stage": "qualified"}).status_code == 404
    deal.refresh_from_db()
    assert deal.stage == Stage.REGISTERED
    assert deal.title not in client.get(reverse("leads:deal_list")).content.decode()


def test_cosellers_see_the_deal(client_for, deal, other_partner, other_partner_rep):
    CoSell.objects.create(lead=deal, partner=other_partner, share_percent=40)
    client = client_for(other_partner_rep)
    assert deal.title in client.get(reverse("leads:deal_list")).content.decode()
    assert client.get(reverse("leads:deal_detail", args=[deal.pk])).status_code == 200
    # ... and log activities, but may not move the deal.
    client.post(
        reverse("leads:deal_activity", args=[deal.pk]),
        {"kind": "call", "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "subject": "Joint call"},
    )
    assert deal.activities.filter(partner=other_partner).exists()
    assert client.post(reverse("leads:deal_stage", args=[deal.pk]), {"to_stage": "qualified"}).status_code == 403


def test_stage_buttons_and_lost_reason_error_on_page(client_for, deal, partner_rep):
    client = client_for(partner_rep)
    page = client.get(reverse("leads:deal_detail", args=[deal.pk])).content.decode()
    assert 'value="qualified"' in page and 'value="won"' not in page
    resp = client.post(reverse("leads:deal_stage", args=[deal.pk]), {"to_stage": "lost", "lost_reason": ""})
    assert resp.status_code == 200 and 'id="confirm-lost"' in resp.content.decode()  # asked first
    resp = client.post(
        reverse("leads:deal_stage", args=[deal.pk]), {"to_stage": "lost", "lost_reason": "", "confirmed": "1"}
    )
    assert resp.status_code == 200 and "Say why the deal was lost" in resp.content.decode()
    client.post(reverse("leads:deal_stage", args=[deal.pk]), {"to_stage": "qualified"})
    deal.refresh_from_db()
    assert deal.stage == Stage.QUALIFIED


def test_timeline_shows_activities_changes_and_decisions(client_for, register, partner, partner_rep):
    reg = register(partner, partner_rep, tax_id="7701234567", title="Timeline deal")
    activity_log(lead=reg.lead, user=partner_rep, kind="call", occurred_at=timezone.now(), subject="Kick-off call")
    deal_stage_change(lead=reg.lead, to_stage=Stage.QUALIFIED, actor=partner_rep)
    body = client_for(partner_rep).get(reverse("leads:deal_detail", args=[reg.lead_id])).content.decode()
    assert "Kick-off call" in body and "Stage: Registered → Qualified" in body
    assert "approved automatically, no conflict" in body and "deal.stage_changed" not in body
    assert "days left" in body


def test_deal_page_loads_the_cosell_form_only_when_asked(client_for, deal, partner_rep, other_partner):
    """The form lists every active partner (10,000 at scale): not rendered on each view of the deal page."""
    client = client_for(partner_rep)
    page = client.get(reverse("leads:deal_detail", args=[deal.pk])).content.decode()
    assert other_partner.name not in page and reverse("leads:deal_cosell", args=[deal.pk]) in page
    fragment = client.get(reverse("leads:deal_cosell", args=[deal.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert f'value="{other_partner.pk}"' in fragment and "<html" not in fragment
    full = client.get(reverse("leads:deal_cosell", args=[deal.pk])).content.decode()
    assert f'value="{other_partner.pk}"' in full and "<html" in full


def test_cosell_form_field_errors_keep_input(client_for, deal, partner_rep, other_partner):
    resp = client_for(partner_rep).post(
        reverse("leads:deal_cosell", args=[deal.pk]),
        {"partner_0": other_partner.pk, "share_0": "", "role_0": "Distributor"},
    )
    assert resp.status_code == 200 and "Give both the partner and its share" in resp.content.decode()
    assert 'value="Distributor"' in resp.content.decode()
    resp = client_for(partner_rep).post(
        reverse("leads:deal_cosell", args=[deal.pk]), {"partner_0": other_partner.pk, "share_0": "35"}
    )
    assert resp.status_code == 302 and CoSell.objects.get(lead=deal).share_percent == 35
