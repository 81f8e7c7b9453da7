"""Program configuration in the portal (issue 17, item 7): SLA policies, registration policies, routing weights and
exchange rates changed by a channel manager through one service each, with the impact computed by the rule the
lead flow runs, previewed before saving, and every change audited."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from kpi.models import ExchangeRate
from kpi.services.rates import exchange_rate_add, exchange_rate_impact
from leads.models import (
    Offer,
    Registration,
    RegistrationPolicy,
    RegistrationStatus,
    RoutingDecision,
    RoutingWeights,
    Stage,
)
from leads.services import policies
from leads.services.routing import lead_route
from partners.models import ProgramModel
from prm.models import AuditEvent
from tests.leads.factories import LeadFactory
from tests.leads.routing_factories import region, routing_partner, tier_only_weights, vendor_lead
from tests.partners.factories import PartnerFactory, SlaPolicyFactory, TierFactory

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")
MONDAY = datetime.datetime(2026, 6, 15, 10, 0, tzinfo=MSK)  # a working day in Moscow

CONFIG_URLS = [
    "kpi:config",
    "kpi:config_sla",
    "kpi:config_sla_new",
    "kpi:config_registration",
    "kpi:config_routing",
    "kpi:config_rates",
]


# --- SLA policies ----------------------------------------------------------------------------------------------


@pytest.fixture
def sla_partner():
    policy = SlaPolicyFactory(
        name="Standard", accept_within_hours=Decimal("4"), first_contact_within_hours=Decimal("8")
    )
    policy.refresh_from_db()  # working hours as times, as loaded
    partner = PartnerFactory(home_region=region("msk"), sla_policy=policy)
    return policy, partner


def _offer(partner, offered_at):
    lead = LeadFactory(partner=None, stage=Stage.OFFERED)
    return Offer.objects.create(
        lead=lead, partner=partner, offered_at=offered_at, deadline=offered_at + datetime.timedelta(hours=4)
    )


def _accepted(partner, accepted_at):
    return LeadFactory(
        partner=partner, stage=Stage.QUALIFIED, accepted_at=accepted_at,
        first_contact_due=accepted_at + datetime.timedelta(hours=8),
    )  # fmt: skip


def test_sla_impact_counts_overdue_work_by_the_deadline_rule(sla_partner):
    policy, partner = sla_partner
    _offer(partner, MONDAY)
    _accepted(partner, MONDAY)
    now = MONDAY + datetime.timedelta(hours=3)  # 13:00
    values = {"accept_within_hours": Decimal("2"), "first_contact_within_hours": Decimal("1")}
    impact = policies.sla_policy_impact(policy=policy, values=values, now=now)
    assert impact["offers"] == {"open": 1, "now": 0, "proposed": 1}  # due 14:00 → due 12:00
    assert impact["contacts"] == {"open": 1, "now": 0, "proposed": 1}  # due tomorrow 10:00 → 11:00
    assert impact["partners"] == 1
    unchanged = policies.sla_policy_impact(policy=policy, values={}, now=now)
    assert unchanged["offers"]["now"] == unchanged["offers"]["proposed"] == 0
    policy.refresh_from_db()
    assert policy.accept_within_hours == Decimal("4")  # a preview saves nothing


def test_sla_default_policy_governs_partners_without_one(sla_partner):
    policy, _partner = sla_partner
    PartnerFactory(sla_policy=None)
    other = SlaPolicyFactory(name="Field service")
    assert policies.sla_policy_impact(policy=policy, values={})["partners"] == 2
    assert policies.sla_policy_impact(policy=other, values={})["partners"] == 0


def test_sla_save_is_audited_with_from_and_to(sla_partner, channel_manager):
    policy, _partner = sla_partner
    policies.sla_policy_save(policy=policy, values={"accept_within_hours": Decimal("2")}, actor=channel_manager)
    policy.refresh_from_db()
    assert policy.accept_within_hours == Decimal("2")
    event = AuditEvent.objects.get(action="sla_policy.changed")
    assert event.actor == channel_manager
    assert event.data["changes"] == {"accept_within_hours": {"from": "4.00", "to": "2"}}


def test_sla_working_day_must_end_after_it_starts(sla_partner, client_for, channel_manager):
    policy, _partner = sla_partner
    data = _sla_post(policy, working_hours_start="18:00", working_hours_end="09:00", preview="1")
    response = client_for(channel_manager).post(reverse("kpi:config_sla_edit", args=[policy.pk]), data)
    assert response.status_code == 400
    assert "The working day must end after it starts." in response.content.decode()


def _sla_post(policy, **overrides):
    data = {f: getattr(policy, f) for f in policies.SLA_FIELDS}
    data.update({"working_hours_start": "09:00", "working_hours_end": "18:00", **overrides})
    return data


def test_channel_manager_previews_and_saves_an_sla_policy(sla_partner, client_for, channel_manager):
    policy, partner = sla_partner
    _offer(partner, timezone.now() - datetime.timedelta(days=10))  # overdue now; not with 9999 business hours
    client = client_for(channel_manager)
    url = reverse("kpi:config_sla_edit", args=[policy.pk])
    assert "Standard" in client.get(url).content.decode()
    preview = client.post(url, _sla_post(policy, accept_within_hours="9999", preview="1"))
    html = preview.content.decode()
    assert preview.status_code == 200
    assert 'class="impact-offers"><td>Offers waiting for acceptance</td><td>1</td><td>1</td><td>0</td>' in html
    policy.refresh_from_db()
    assert policy.accept_within_hours == Decimal("4")
    saved = client.post(url, _sla_post(policy, accept_within_hours="9999", save="1"), follow=True)
    assert "The SLA policy is saved" in saved.content.decode()
    policy.refresh_from_db()
    assert policy.accept_within_hours == Decimal("9999")
    listing = client.get(reverse("kpi:config_sla")).content.decode()
    assert "SLA policy changed" in listing and "Accept an offer within (business hours): 4 → 9,999" in listing


def test_a_new_sla_policy_is_created_and_audited(client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("kpi:config_sla_new"),
        {"name": "Field", "accept_within_hours": "2", "first_contact_within_hours": "4", "deal_update_days": "7",
         "working_hours_start": "08:00", "working_hours_end": "20:00", "penalty_per_breach": "500",
         "penalty_currency": "rub", "save": "1"},
    )  # fmt: skip
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="sla_policy.created").count() == 1


# --- Registration policies -------------------------------------------------------------------------------------


@pytest.fixture
def protections():
    """Two active protections of full-cycle partners: one of a tierless partner, one extended already; one of a
    partner whose tier sets its own protection length."""
    tierless = PartnerFactory(program_model=ProgramModel.FULL_CYCLE, tier=None)
    tiered = PartnerFactory(program_model=ProgramModel.FULL_CYCLE, tier=TierFactory(protection_days=120))
    start = timezone.now()
    for partner, extended in ((tierless, False), (tierless, True), (tiered, False)):
        Registration.objects.create(
            lead=LeadFactory(partner=partner), partner=partner, status=RegistrationStatus.APPROVED,
            protected_from=start, protected_until=start + datetime.timedelta(days=90), extended=extended,
        )  # fmt: skip
    PartnerFactory(program_model=ProgramModel.DISTRIBUTOR, tier=None)  # another program: not counted
    return tierless, tiered


def test_registration_impact_by_the_protection_rule(protections):
    impact = policies.registration_policy_impact(
        program_model=ProgramModel.FULL_CYCLE, values={"protection_days": 60, "extension_days": 45}
    )
    assert impact["active"] == 3
    assert impact["extension_changes"] == 2  # not extended yet: their extension adds 45 days instead of 30
    assert (impact["extension_now"], impact["extension_new"]) == (30, 45)
    assert impact["shorter"] == 1 and impact["longer"] == 0  # the tierless partner: 90 → 60; the tier keeps 120
    assert (impact["days_now"], impact["days_new"]) == (90, 60)
    assert not RegistrationPolicy.objects.exists()  # a preview saves nothing


def test_registration_policy_saved_through_the_page(protections, client_for, channel_manager):
    client = client_for(channel_manager)
    url = reverse("kpi:config_registration_edit", args=[ProgramModel.FULL_CYCLE])
    data = {"auto_approve": "on", "protection_days": "60", "extension_days": "45"}
    html = client.post(url, {**data, "preview": "1"}).content.decode()
    assert "2 active protections would end differently when extended: 30 → 45 days." in html
    assert "1 partner's next approvals would be protected for less time (90 → 60 days" in html
    assert client.post(url, {**data, "save": "1"}).status_code == 302
    policy = RegistrationPolicy.objects.get(program_model=ProgramModel.FULL_CYCLE)
    assert (policy.protection_days, policy.extension_days, policy.auto_approve) == (60, 45, True)
    event = AuditEvent.objects.get(action="registration_policy.changed")
    assert event.actor == channel_manager and event.data["changes"]["extension_days"] == {"from": "30", "to": "45"}
    assert "Registration policy changed" in client.get(reverse("kpi:config_registration")).content.decode()


def test_registration_bad_days_are_form_errors(client_for, channel_manager):
    url = reverse("kpi:config_registration_edit", args=[ProgramModel.FULL_CYCLE])
    response = client_for(channel_manager).post(url, {"extension_days": "-3", "preview": "1"})
    assert response.status_code == 400 and "is-invalid" in response.content.decode()
    assert client_for(channel_manager).get(reverse("kpi:config_registration_edit", args=["nope"])).status_code == 404


# --- Routing weights -------------------------------------------------------------------------------------------


@pytest.fixture
def routed():
    """Six leads routed between a Gold partner (allocation weight 2) and a Silver one (1), only tiers counting."""
    msk = region("msk")
    tier_only_weights()
    gold = routing_partner(regions=[msk], weight=2)
    silver = routing_partner(regions=[msk], weight=1)
    for _ in range(6):
        lead_route(lead=vendor_lead(region=msk))
    return gold, silver


NEUTRAL_ONLY = {
    "tier_points": 0,
    "sla_points": 30,
    "win_rate_points": 0,
    "rating_points": 0,
    "spare_capacity_points": 0,
}


def test_routing_impact_replays_decisions_through_the_score(routed):
    gold, silver = routed
    impact = policies.routing_weights_impact(values=NEUTRAL_ONLY)
    assert impact["decisions"] == 6
    shares = {row["tier"].pk: (row["now_pct"], row["new_pct"]) for row in impact["tiers"]}
    assert shares[gold.tier_id] == (66.7, 50.0)  # 2:1 by tier now; both neutral on SLA: 1:1
    assert shares[silver.tier_id] == (33.3, 50.0)
    assert impact["moved_pct"] == 16.7
    assert (impact["from_tier"]["tier"], impact["to_tier"]["tier"]) == (gold.tier, silver.tier)
    assert policies.routing_weights_impact(values={})["moved_pct"] == 0.0


def test_routing_impact_scores_older_decisions_with_todays_data():
    msk = region("msk")
    tier_only_weights()
    gold = routing_partner(regions=[msk], weight=2)
    silver = routing_partner(regions=[msk], weight=1)
    lead = vendor_lead(region=msk)
    RoutingDecision.objects.create(
        lead=lead, chosen=gold, rule="score_swrr",
        candidates=[{"partner_id": gold.pk, "score": 0.9, "chosen": True}, {"partner_id": silver.pk, "score": 0.4}],
    )  # fmt: skip
    impact = policies.routing_weights_impact(values=NEUTRAL_ONLY)
    assert (impact["decisions"], impact["legacy"], impact["moved_pct"]) == (1, 1, 16.7)


def test_channel_manager_previews_and_saves_routing_weights(routed, client_for, channel_manager):
    client = client_for(channel_manager)
    url = reverse("kpi:config_routing")
    assert client.get(url).status_code == 200
    html = client.post(url, {**NEUTRAL_ONLY, "preview": "1"}).content.decode()
    assert "These weights move ~16.7% of leads to other partners." in html
    assert "Mostly from Weight 2 to Weight 1 partners." in html
    assert RoutingWeights.objects.get().tier_points == 100
    assert client.post(url, {**NEUTRAL_ONLY, "save": "1"}).status_code == 302
    weights = RoutingWeights.objects.get()
    assert (weights.tier_points, weights.sla_points) == (0, 30)
    event = AuditEvent.objects.get(action="routing.weights_changed")
    assert event.data["changes"]["tier_points"] == {"from": "100", "to": "0"}
    assert "Routing weights changed" in client.get(url).content.decode()


def test_routing_weights_bad_input_is_a_form_error(client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("kpi:config_routing"), {**NEUTRAL_ONLY, "tier_points": "lots", "preview": "1"}
    )
    assert response.status_code == 400 and "is-invalid" in response.content.decode()


# --- Exchange rates --------------------------------------------------------------------------------------------


def test_exchange_rate_added_with_its_impact_and_audited(client_for, channel_manager):
    LeadFactory(currency="USD", value=Decimal("1000"), stage=Stage.QUALIFIED)
    ExchangeRate.objects.create(currency="USD", valid_from=datetime.date(2026, 1, 1), rate=Decimal("90"))
    impact = exchange_rate_impact(currency="usd", valid_from=datetime.date(2026, 7, 1), rate=Decimal("100"))
    assert (impact["deals"], impact["reporting_now"], impact["reporting_new"]) == (1, Decimal("90000.00"), 100000)
    client = client_for(channel_manager)
    url = reverse("kpi:config_rates")
    data = {"currency": "usd", "valid_from": "2026-07-01", "rate": "100"}
    preview = client.post(url, {**data, "preview": "1"}).content.decode()
    assert "1 open deal in this currency" in preview and "90,000.00" in preview and "100,000.00" in preview
    assert client.post(url, {**data, "save": "1"}).status_code == 302
    assert ExchangeRate.objects.filter(currency="USD").count() == 2
    event = AuditEvent.objects.get(action="exchange_rate.added")
    assert event.actor == channel_manager and event.data["rate"] == "100"
    again = client.post(url, {**data, "save": "1"})
    assert again.status_code == 400
    assert "A rate of this currency already starts on this date." in again.content.decode()


@pytest.mark.parametrize(
    "currency,rate,field",
    [("RUB", "1", "currency"), ("U$", "1", "currency"), ("USD", "0", "rate"), ("USD", "-5", "rate")],
)
def test_exchange_rate_rules(currency, rate, field, channel_manager):
    with pytest.raises(ValidationError) as exc:
        exchange_rate_add(currency=currency, valid_from=datetime.date(2026, 1, 1), rate=rate, actor=channel_manager)
    assert field in exc.value.message_dict


def test_exchange_rate_form_errors_are_400_not_500(client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("kpi:config_rates"), {"currency": "RUB", "valid_from": "2026-07-01", "rate": "2", "save": "1"}
    )
    assert response.status_code == 400
    assert "RUB is the reporting currency" in response.content.decode()


# --- Access ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["partner_admin", "partner_rep", "partner_engineer"])
def test_partners_get_403_on_every_page_and_post(role, request, client_for):
    client = client_for(request.getfixturevalue(role))
    urls = [reverse(n) for n in CONFIG_URLS] + [
        reverse("kpi:tier_config"),
        reverse("kpi:config_registration_edit", args=[ProgramModel.FULL_CYCLE]),
    ]
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {**NEUTRAL_ONLY, "save": "1"}).status_code == 403, url
    assert not RoutingWeights.objects.exists() and not AuditEvent.objects.filter(action__contains="weights").exists()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("kpi:config_routing"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_only_vendor_staff_see_the_navigation_entry(client_for, channel_manager, partner_admin):
    assert "Program configuration" in client_for(channel_manager).get(reverse("kpi:config")).content.decode()
    home = client_for(partner_admin).get(reverse("home")).content.decode()
    assert "Program configuration" not in home and reverse("kpi:config") not in home


def _text_of(html):
    from tests.demo.test_russian_ui import _Text

    parser = _Text()
    parser.feed(html)
    return parser.parts


@translation.override("en")  # the Russian requests leave Russian active in this thread: restored afterwards
def test_pages_answer_in_russian_without_english_system_text(client_for, channel_manager, sla_partner, protections):
    from tests.demo.test_russian_ui import _fragments, _Text, english_on

    with translation.override("en"):
        fragments = _fragments()
    policy, _partner = sla_partner
    policies.sla_policy_save(policy=policy, values={"accept_within_hours": Decimal("3")}, actor=channel_manager)
    policies.routing_weights_update(values=NEUTRAL_ONLY, actor=channel_manager)
    exchange_rate_add(currency="USD", valid_from=datetime.date(2026, 1, 1), rate=Decimal("90"), actor=channel_manager)
    client = client_for(channel_manager)
    pages = [client.get(reverse(name), headers={"accept-language": "ru"}) for name in CONFIG_URLS]
    pages.append(client.get(reverse("kpi:config_sla_edit", args=[policy.pk]), headers={"accept-language": "ru"}))
    previews = [
        (reverse("kpi:config_sla_edit", args=[policy.pk]), _sla_post(policy, preview="1")),
        (reverse("kpi:config_registration_edit", args=["full_cycle"]), {"extension_days": "45", "preview": "1"}),
        (reverse("kpi:config_routing"), {**NEUTRAL_ONLY, "preview": "1"}),
        (reverse("kpi:config_rates"), {"currency": "USD", "valid_from": "2026-07-01", "rate": "95", "preview": "1"}),
    ]
    pages += [client.post(url, data, headers={"accept-language": "ru"}) for url, data in previews]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200 and "Настройка программы" in html
        assert "impact-preview" in html or response.request["REQUEST_METHOD"] == "GET"
        parser = _Text()
        parser.feed(html)
        text = " · ".join(parser.parts)
        assert not english_on(text, fragments), response.request["PATH_INFO"]
    overview = " · ".join(_text_of(pages[0].content.decode()))
    assert "Принять предложение в течение (рабочих часов): 4 → 3" in overview
    assert "USD: 1 января 2026 г. → 90" in overview


# --- Every door calls the same rule: the portal page and the admin write the same audit row --------------------


def _change(door, client, *, portal_url, admin_url, data):
    if door == "portal":
        return client.post(portal_url, {**data, "save": "1"})
    return client.post(admin_url, data)


@pytest.mark.parametrize("door", ["portal", "admin"])
def test_sla_change_is_the_same_whatever_the_door(door, sla_partner, client_for, vendor_admin):
    policy, _partner = sla_partner
    data = {k: ("" if v is None else str(v)) for k, v in _sla_post(policy, accept_within_hours="2").items()}
    response = _change(
        door, client_for(vendor_admin), data=data,
        portal_url=reverse("kpi:config_sla_edit", args=[policy.pk]),
        admin_url=reverse("admin:partners_slapolicy_change", args=[policy.pk]),
    )  # fmt: skip
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="sla_policy.changed")
    assert event.actor == vendor_admin
    assert event.data["changes"] == {"accept_within_hours": {"from": "4.00", "to": "2"}}


@pytest.mark.parametrize("door", ["portal", "admin"])
def test_registration_change_is_the_same_whatever_the_door(door, client_for, vendor_admin):
    data = {"auto_approve": "on", "protection_days": "60", "extension_days": "45"}
    response = _change(
        door, client_for(vendor_admin), data={**data, "program_model": ProgramModel.RESELLER},
        portal_url=reverse("kpi:config_registration_edit", args=[ProgramModel.RESELLER]),
        admin_url=reverse("admin:leads_registrationpolicy_add"),
    )  # fmt: skip
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="registration_policy.changed")
    assert event.data["changes"] == {
        "protection_days": {"from": None, "to": "60"},
        "extension_days": {"from": "30", "to": "45"},
    }


@pytest.mark.parametrize("door", ["portal", "admin"])
def test_routing_weights_change_is_the_same_whatever_the_door(door, client_for, vendor_admin):
    weights = tier_only_weights()
    response = _change(
        door, client_for(vendor_admin), data=NEUTRAL_ONLY,
        portal_url=reverse("kpi:config_routing"),
        admin_url=reverse("admin:leads_routingweights_change", args=[weights.pk]),
    )  # fmt: skip
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="routing.weights_changed")
    assert event.data["changes"] == {"tier_points": {"from": "100", "to": "0"}, "sla_points": {"from": "0", "to": "30"}}
    assert RoutingWeights.objects.count() == 1


@pytest.mark.parametrize("door", ["portal", "admin"])
def test_exchange_rate_is_the_same_whatever_the_door(door, client_for, vendor_admin):
    client = client_for(vendor_admin)
    data = {"currency": "eur", "valid_from": "2026-07-01", "rate": "101.5"}
    urls = {"portal_url": reverse("kpi:config_rates"), "admin_url": reverse("admin:kpi_exchangerate_add")}
    assert _change(door, client, data=data, **urls).status_code == 302
    rate = ExchangeRate.objects.get()
    assert (rate.currency, rate.rate) == ("EUR", Decimal("101.5"))
    assert AuditEvent.objects.get(action="exchange_rate.added").data["rate"] == "101.5"
    refused = _change(door, client, data={**data, "currency": "RUB", "valid_from": "2026-08-01"}, **urls)
    assert refused.status_code in (200, 400)  # the form again with the error, never a 500
    assert "RUB is the reporting currency" in refused.content.decode()
    assert ExchangeRate.objects.count() == 1


@translation.override("en")
def test_routing_preview_in_russian(routed, client_for, channel_manager):
    html = (
        client_for(channel_manager)
        .post(reverse("kpi:config_routing"), {**NEUTRAL_ONLY, "preview": "1"}, headers={"accept-language": "ru"})
        .content.decode()
    )
    assert "С этими весами ~16,7\xa0% лидов перейдёт к другим партнёрам." in html
    assert "последние 6 решений о маршрутизации" in html


@translation.override("en")
def test_sla_rules_hold_at_every_door(sla_partner, channel_manager):
    policy, _partner = sla_partner
    with pytest.raises(ValidationError) as exc:
        policies.sla_policy_save(policy=policy, values={"working_hours_end": datetime.time(8)}, actor=channel_manager)
    assert exc.value.message_dict == {"working_hours_end": ["The working day must end after it starts."]}
    with pytest.raises(ValidationError) as exc:
        policies.sla_policy_impact(policy=policy, values={"accept_within_hours": Decimal("0")})
    assert "accept_within_hours" in exc.value.message_dict
    assert not AuditEvent.objects.filter(action="sla_policy.changed").exists()


def test_sla_admin_shows_the_rule_as_a_form_error(sla_partner, client_for, vendor_admin):
    policy, _partner = sla_partner
    data = {k: ("" if v is None else str(v)) for k, v in _sla_post(policy, working_hours_end="08:00").items()}
    response = client_for(vendor_admin).post(reverse("admin:partners_slapolicy_change", args=[policy.pk]), data)
    assert response.status_code < 500


def _grow(n, actor):
    for i in range(n):
        policy = SlaPolicyFactory(name=f"Policy {i}")
        policy.refresh_from_db()
        policies.sla_policy_save(policy=policy, values={"deal_update_days": 7 + i}, actor=actor)
        exchange_rate_add(currency="USD", valid_from=datetime.date(2026, 1, 1 + i), rate=90 + i, actor=actor)


@pytest.mark.parametrize("name", CONFIG_URLS)
def test_configuration_pages_do_not_grow_queries_with_rows(
    name, client_for, channel_manager, django_assert_max_num_queries
):
    client = client_for(channel_manager)
    _grow(2, channel_manager)
    client.get(reverse(name))  # sessions, content types: warm
    with django_assert_max_num_queries(12) as small:
        client.get(reverse(name))
    for i in range(2, 12):
        policy = SlaPolicyFactory(name=f"More {i}")
        policy.refresh_from_db()
        policies.sla_policy_save(policy=policy, values={"deal_update_days": 7 + i}, actor=channel_manager)
        exchange_rate_add(currency="EUR", valid_from=datetime.date(2026, 2, i), rate=100 + i, actor=channel_manager)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(reverse(name))


def test_the_same_number_is_no_change(sla_partner, channel_manager):
    policy, _partner = sla_partner
    policies.sla_policy_save(
        policy=policy, values={"accept_within_hours": Decimal("4"), "deal_update_days": 30}, actor=channel_manager
    )
    assert AuditEvent.objects.get(action="sla_policy.changed").data["changes"] == {
        "deal_update_days": {"from": "14", "to": "30"}
    }
