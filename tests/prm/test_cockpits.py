"""The role cockpits: the partner's pipeline, money, tier progress and to-do list; the channel manager's queues with
ageing, routing funnel, pipeline, SLA trend, tier movement and partners at risk. Every tile links to its list."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from kpi.models import CommissionEntry, EntryKind, TierChange, TierChangeKind
from leads.models import Offer, Registration, RegistrationStatus, Stage
from leads.selectors.deals import deal_list
from leads.selectors.registration import registration_list
from leads.selectors.routing import routing_funnel
from tests.leads.factories import LeadFactory
from tests.partners.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def day(partner, partner_rep):
    now = timezone.now()
    offered = LeadFactory(partner=None, stage=Stage.OFFERED, title="Kama Retail rollout")
    Offer.objects.create(lead=offered, partner=partner, offered_at=now, deadline=now + datetime.timedelta(hours=2))
    due = LeadFactory(
        partner=partner, owner=partner_rep, title="Call Irina", first_contact_due=now + datetime.timedelta(hours=3)
    )
    expiring = LeadFactory(partner=partner, title="Protection ending")
    Registration.objects.create(
        lead=expiring,
        partner=partner,
        status=RegistrationStatus.APPROVED,
        protected_from=now,
        protected_until=now + datetime.timedelta(days=5),
    )
    stale = LeadFactory(partner=partner, title="Quiet deal", stage=Stage.PROPOSAL)
    type(stale).objects.filter(pk=stale.pk).update(created_at=now - datetime.timedelta(days=40))
    CommissionEntry.objects.create(
        partner=partner,
        kind=EntryKind.ACCRUAL,
        entry_date=timezone.localdate(),
        amount=Decimal("5000"),
        currency="RUB",
        amount_reporting=Decimal("5000"),
        description="x",
        source_key="t-acc",
    )
    CommissionEntry.objects.create(
        partner=partner,
        kind=EntryKind.PENALTY,
        entry_date=timezone.localdate(),
        amount=Decimal("-700"),
        currency="RUB",
        amount_reporting=Decimal("-700"),
        description="y",
        source_key="t-pen",
    )
    return {"due": due, "expiring": expiring, "stale": stale}


def test_partner_cockpit_shows_money_pipeline_and_the_todo_list(client_for, partner_rep, day):
    html = client_for(partner_rep).get(reverse("home")).content.decode()
    assert "Answer the offer «Kama Retail rollout»" in html
    assert "Contact the customer of «Call Irina»" in html
    assert "Protection of «Protection ending» ends" in html
    assert "1 open deal without activity for 14 days" in html
    assert "5,000" in html and "-700" in html  # accrued and penalties this month
    assert 'id="pipeline-chart"' in html and 'id="pipeline-data"' in html
    assert html.count("data-deadline=") >= 2


def test_every_partner_tile_links_to_a_list_that_shows_the_same_rows(client_for, partner_rep, day):
    c = client_for(partner_rep)
    html = c.get(reverse("home")).content.decode()
    for href, expected in [
        (reverse("leads:deal_list") + "?contact_due=1", "Call Irina"),
        (reverse("leads:deal_list") + "?stale=14&sort=activity", "Quiet deal"),
        (reverse("leads:registration_list") + "?expiring=14", "Protection ending"),
        (reverse("leads:deal_list") + "?stage=proposal", "Quiet deal"),
    ]:
        assert f'href="{href}"' in html, href
        assert expected in c.get(href).content.decode()
    assert [d.pk for d in deal_list(viewer=partner_rep, filters={"contact_due": "1"})] == [day["due"].pk]
    assert [r.lead_id for r in registration_list(viewer=partner_rep, filters={"expiring": "14"})] == [
        day["expiring"].pk
    ]


def test_engineer_sees_no_register_button(client_for, partner_engineer, partner_rep, day):
    assert "Register a deal" not in client_for(partner_engineer).get(reverse("home")).content.decode()
    assert "Register a deal" not in client_for(partner_engineer).get(reverse("leads:deal_list")).content.decode()


def test_channel_cockpit_queues_funnel_and_movement(client_for, channel_manager, partner, day, settings):
    settings.PRM_DASHBOARD_CACHE_SECONDS = 0
    other = PartnerFactory(name="Gamma")
    TierChange.objects.create(
        partner=other,
        kind=TierChangeKind.WARNING,
        effective_on=timezone.localdate(),
        grace_until=timezone.localdate() + datetime.timedelta(days=30),
    )
    html = client_for(channel_manager).get(reverse("home")).content.decode()
    for text in (
        "Registrations to review",
        "Leads in the routing queue",
        "Offers waiting for partners",
        "Routing funnel, last 30 days",
        "Tier movement this month",
        "Gamma",
        'id="funnel-data"',
    ):
        assert text in html, text
    with override("ru"):
        ru = client_for(channel_manager).get(reverse("home"), HTTP_ACCEPT_LANGUAGE="ru")
    assert ru.status_code == 200


def test_funnel_counts_each_step(partner):
    now = timezone.now()
    LeadFactory(
        partner=partner,
        offered_at=now,
        accepted_at=now,
        first_contact_at=now,
        stage=Stage.WON,
        won_at=now,
        closed_at=now,
    )
    LeadFactory(partner=partner, offered_at=now, accepted_at=now)
    LeadFactory(partner=partner, offered_at=now)
    LeadFactory(partner=partner, offered_at=now - datetime.timedelta(days=90))
    steps = {f["key"]: f["count"] for f in routing_funnel(since=now - datetime.timedelta(days=30))}
    assert steps == {"offered": 3, "accepted": 2, "contacted": 1, "won": 1}


def test_cockpits_cost_a_fixed_number_of_queries(
    client_for, partner_rep, channel_manager, partner, day, settings, django_assert_max_num_queries
):
    settings.PRM_DASHBOARD_CACHE_SECONDS = 0
    c = client_for(partner_rep)
    with django_assert_max_num_queries(45) as small:
        c.get(reverse("home"))
    LeadFactory.create_batch(20, partner=partner, stage=Stage.QUALIFIED, first_contact_due=timezone.now())
    with django_assert_max_num_queries(len(small.captured_queries)):
        c.get(reverse("home"))
    c = client_for(channel_manager)
    with django_assert_max_num_queries(40):
        c.get(reverse("home"))
