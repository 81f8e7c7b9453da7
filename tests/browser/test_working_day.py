"""A working day per role in a real browser, in English and in Russian (issue 17, item 9).

- Partner sales rep: the cockpit shows an offer with a countdown → accept → the deal shows the customer contact and
  the first-contact deadline ticking → log the first call → move the deal → win it after a confirmation.
- Partner admin: cockpit (pipeline, commission, tier progress) → scorecard → commission statement → team.
- Channel manager: cockpit (queues with ageing, funnel) → registration review queue → routing queue → network KPIs.

Each step asserts what the user must see in the language of the run; `PRM_DOCS_SCREENSHOTS=1` refreshes docs/img.
"""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import gettext, override

from kpi.models import CommissionEntry, EntryKind, KpiSnapshot
from leads.models import Lead, LeadSource, Offer, Registration, RegistrationStatus, Stage
from partners.models import Partner
from prm.models import Role
from tests.browser.conftest import login
from tests.leads.factories import CustomerFactory, LeadFactory
from tests.partners.factories import RegionFactory, SlaPolicyFactory, TierFactory, TierRequirementFactory
from tests.prm.factories import PartnerUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGS = ["en", "ru"]
COUNTDOWN = re.compile(r"(\d+\S* )?\d\d:\d\d:\d\d")


def t(lang: str, text: str, **params) -> str:
    """What the page says in `lang` (the catalogue's translation), with its parameters filled in."""
    with override(lang):
        out = gettext(text)
    return out % params if params else out


# Russian pictures in docs/ only for the pages a reader compares; every step is still a test artifact.
RU_DOCS = {"day-rep-2-deal-accepted-ru", "day-admin-1-cockpit-ru", "day-cm-1-cockpit-ru"}


@pytest.fixture
def snap(shot):
    def take(name: str, **kw):
        kw.setdefault("for_docs", not name.endswith("-ru") or name in RU_DOCS)
        return shot(name, **kw)

    return take


def use_language(page, live_server, lang: str):
    page.context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])


@pytest.fixture
def network(partner, partner_rep, partner_admin, channel_manager):
    """One partner with a rep and an admin, a tier to reach, money this month, and work waiting for everyone."""
    partner_rep.first_name, partner_rep.last_name = "Pavel", "Orlov"
    partner_rep.save(update_fields=["first_name", "last_name"])
    kazan = RegionFactory(code="kzn", name="Kazan", timezone="Europe/Moscow")
    registered = TierFactory(code="registered", name="Registered", rank=10, commission_rate=Decimal("0.05"))
    silver = TierFactory(code="silver", name="Silver", rank=20, commission_rate=Decimal("0.10"))
    TierRequirementFactory(tier=silver, metric="won_revenue_12m", threshold=Decimal("1000000"))
    TierRequirementFactory(tier=silver, metric="certified_people", threshold=Decimal("1"))
    Partner.objects.filter(pk=partner.pk).update(tier=registered, sla_policy=SlaPolicyFactory(name="Network SLA"))
    today = timezone.localdate()
    KpiSnapshot.objects.create(partner=partner, date=today, won_revenue_12m=Decimal("1200000"), certified_people=0)
    now = timezone.now()
    # A vendor lead offered to the partner, two business hours to answer.
    lead = LeadFactory(
        partner=None,
        source=LeadSource.VENDOR,
        stage=Stage.OFFERED,
        title="Kama Retail rollout",
        customer=CustomerFactory(name="Kama Retail", region=kazan),
        region=kazan,
        value=Decimal("1500000"),
        contact_name="Irina Volkova",
        contact_phone="+7 843 555-01-02",
        contact_email="irina@kama-retail.example",
        offered_at=now,
    )
    offer = Offer.objects.create(lead=lead, partner=partner, offered_at=now, deadline=now + datetime.timedelta(hours=2))
    # The partner's pipeline and money this month.
    for stage, value in ((Stage.QUALIFIED, "800000"), (Stage.PROPOSAL, "2400000"), (Stage.NEGOTIATION, "950000")):
        LeadFactory(partner=partner, owner=partner_rep, stage=stage, value=Decimal(value), region=kazan)
    for kind, amount, key in ((EntryKind.ACCRUAL, "42000", "acc"), (EntryKind.PENALTY, "-3000", "pen")):
        CommissionEntry.objects.create(
            partner=partner,
            kind=kind,
            entry_date=today,
            amount=Decimal(amount),
            currency="RUB",
            amount_reporting=Decimal(amount),
            description=key,
            source_key=f"day-{key}",
        )
    PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=partner, first_name="Egor", last_name="Ilyin")
    # The channel manager's queues: a registration to review and a lead nobody could take.
    review = LeadFactory(partner=partner, title="Volga Bank data platform", customer=CustomerFactory(name="Volga Bank"))
    Registration.objects.create(
        lead=review, partner=partner, submitted_by=partner_rep, status=RegistrationStatus.PENDING_REVIEW
    )
    LeadFactory(
        partner=None, source=LeadSource.VENDOR, stage=Stage.QUEUE, title="Ural Steel maintenance", route_failures=3
    )
    return {"offer": offer, "lead": lead}


@pytest.mark.parametrize("lang", LANGS)
def test_partner_sales_rep_day(page, live_server, snap, network, partner_rep, lang):
    if lang == "ru":
        assert t("ru", "Deal record") != "Deal record"  # the Russian run really checks Russian
    offer, lead = network["offer"], network["lead"]
    use_language(page, live_server, lang)
    login(page, partner_rep.email)

    # The cockpit: the offer waits, with a live countdown.
    todo = page.locator("#todo")
    assert t(lang, "Answer the offer «%(title)s»", title="Kama Retail rollout") in todo.inner_text()
    page.wait_for_function("document.querySelector('#todo [data-deadline]').textContent.includes(':')")
    assert COUNTDOWN.search(todo.locator("[data-deadline]").first.inner_text())
    snap(f"day-rep-1-cockpit-{lang}")

    # Accept it on the offers page.
    todo.get_by_role("link", name=t(lang, "Answer the offer «%(title)s»", title="Kama Retail rollout")).click()
    page.locator(f"#offer-{offer.pk} form[action$='/accept/'] button").click()
    page.wait_for_selector("#deal-record")
    assert t(lang, "Lead accepted. Please contact the customer.") in page.inner_text(".alert-success")

    # The deal shows who to call and by when; the deadline ticks.
    banner = page.locator("#contact-banner")
    assert "Irina Volkova" in banner.inner_text() and "+7 843 555-01-02" in banner.inner_text()
    assert (
        t(
            lang,
            "Contact the customer by %(due)s: a missed first contact costs a penalty and the lead can be taken back.",
            due="",
        )
        .split(":")[0]
        .strip()
        in banner.inner_text()
    )
    page.wait_for_function(
        "/\\d\\d:\\d\\d:\\d\\d/.test(document.querySelector('#contact-banner [data-deadline]').textContent)"
    )
    assert "irina@kama-retail.example" in page.inner_text("#deal-contact")
    snap(f"day-rep-2-deal-accepted-{lang}")

    # The first call, logged before the deadline.
    page.select_option("#id_kind", "call")
    page.fill("#id_subject", "Intro call with Irina")
    page.locator("#log-activity button").click()
    page.wait_for_selector("#timeline:has-text('Intro call with Irina')")
    assert t(lang, "First contact made %(at)s.", at="").strip(" .") in page.inner_text("#contact-banner")
    lead.refresh_from_db()
    assert lead.first_contact_at is not None and lead.first_contact_at <= lead.first_contact_due

    # The deal moves forward; the timeline says it in words.
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL):
        page.locator(f"#move-deal button[value={stage}]").click()
        page.wait_for_selector(f"#deal-stage:has-text('{t(lang, Stage(stage).label)}')")
    stage_line = t(lang, "Stage: %(from)s → %(to)s", **{"from": t(lang, "Qualified"), "to": t(lang, "Proposal")})
    assert stage_line in page.inner_text("#timeline")
    assert "deal.stage_changed" not in page.content()

    # Won, after saying yes once more.
    page.locator("#move-deal button[value=won]").click()
    assert t(lang, "Mark this deal as won?") in page.inner_text("#confirm-move")
    lead.refresh_from_db()
    assert lead.stage == Stage.PROPOSAL  # nothing changed before the confirmation
    snap(f"day-rep-3-confirm-won-{lang}")
    page.click("#confirm-won")
    page.wait_for_selector(f"#deal-stage:has-text('{t(lang, 'Won')}')")
    lead.refresh_from_db()
    assert lead.stage == Stage.WON and lead.owner == partner_rep
    snap(f"day-rep-4-deal-won-{lang}", for_docs=False)

    # The pipeline: the board by stage with totals in the reporting currency, then the list of my deals.
    page.goto("/deals/?view=board")
    board = page.inner_text("#deal-board")
    assert t(lang, "Proposal") in board and t(lang, "Negotiation") in board
    assert re.search(r"2[\s,\u00a0]?400[\s,\u00a0]?000", board)
    snap(f"day-rep-5-pipeline-board-{lang}")
    page.click("#view-list")
    page.select_option("select[name=owner]", "me")
    page.select_option("select[name=state]", "closed")
    page.locator("#deal-filters button").first.click()
    rows = page.inner_text("#deal-table tbody")
    assert "Kama Retail rollout" in rows and t(lang, "Won") in rows
    assert "1" in page.inner_text("#deal-totals")


@pytest.mark.parametrize("lang", LANGS)
def test_partner_admin_day(page, live_server, snap, network, partner, partner_admin, lang):
    use_language(page, live_server, lang)
    login(page, partner_admin.email)

    # The cockpit: pipeline by stage, this month's commission, progress to the next tier.
    assert t(lang, "Pipeline by stage") in page.inner_text("#pipeline")
    page.wait_for_function("document.querySelector('#pipeline-chart').width > 0")
    commission = page.inner_text("#tile-commission")
    assert re.search(r"39[\s,\u00a0]?000", commission) and re.search(r"42[\s,\u00a0]?000", commission)
    assert t(lang, "Progress to %(tier)s", tier="Silver") in page.inner_text("#tile-tier")
    assert t(lang, "%(met)s of %(total)s met", met=1, total=2) in page.inner_text("#tile-tier")
    snap(f"day-admin-1-cockpit-{lang}")

    # Scorecard: what the next tier still needs.
    page.click("#tile-tier")
    assert t(lang, "Scorecard") in page.inner_text("h1")
    assert "Silver" in page.inner_text("main")
    snap(f"day-admin-2-scorecard-{lang}")

    # The statement of this month, reached from the commission tile.
    page.goto("/")
    page.click("#tile-commission")
    assert t(lang, "Commission statement") in page.inner_text("h1")
    assert "42" in page.inner_text("main")
    snap(f"day-admin-3-statement-{lang}")

    # The team: everyone on the partner's staff.
    page.get_by_role("link", name=t(lang, "Team"), exact=True).click()
    assert partner.name in page.inner_text("h1")
    main = page.inner_text("main")
    assert "Pavel Orlov" in main and "Egor Ilyin" in main
    snap(f"day-admin-4-team-{lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_channel_manager_day(page, live_server, snap, network, channel_manager, settings, lang):
    settings.PRM_DASHBOARD_CACHE_SECONDS = 0
    use_language(page, live_server, lang)
    login(page, channel_manager.email)

    # The cockpit: queues with their ageing and the routing funnel.
    queues = page.inner_text("#queues")
    assert t(lang, "Registrations to review") in queues and t(lang, "Leads in the routing queue") in queues
    assert t(lang, "Routing funnel, last 30 days") in page.inner_text("#funnel")
    page.wait_for_function("document.querySelector('#funnel-chart').width > 0")
    snap(f"day-cm-1-cockpit-{lang}")

    # The review queue, from its tile.
    page.click("#tile-review")
    assert t(lang, "Registration review queue") in page.inner_text("h1")
    assert "Volga Bank data platform" in page.inner_text("main")
    snap(f"day-cm-2-review-queue-{lang}")

    # The routing queue, from the cockpit's queue table.
    page.goto("/")
    page.locator("#queues").get_by_role("link", name=t(lang, "Leads in the routing queue")).click()
    assert t(lang, "Lead routing") in page.inner_text("h1")
    assert "Ural Steel maintenance" in page.inner_text(".routing-queue")
    snap(f"day-cm-3-routing-queue-{lang}")

    # The network KPIs.
    page.get_by_role("link", name=t(lang, "KPIs"), exact=True).click()
    assert t(lang, "Network KPIs") in page.inner_text("h1")
    snap(f"day-cm-4-kpis-{lang}")
    assert Lead.objects.filter(stage=Stage.QUEUE).count() == 1
