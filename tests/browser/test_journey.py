"""The whole partner life cycle through the real pages, one full-page screenshot per step.

A company applies, is onboarded to active, its staff get certified, register a deal (and a second partner hits
the conflict), win a vendor lead routed to them, and after the nightly run the scorecard and the commission
statement show the result. What is configuration rather than journey (tiers, course, regions, the second
partner, the SLA policy) comes from the factories.
"""

import datetime
import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from kpi.models import CommissionEntry, EntryKind, TierChange, TierChangeKind
from leads.models import Lead, Offer, OfferStatus, Registration, RegistrationStatus, Stage
from partners.models import Partner, PartnerStatus
from prm.models import Role, User
from tests.browser.conftest import login, totp_code
from tests.partners.factories import (
    CompetencyFactory,
    PartnerFactory,
    RegionFactory,
    SlaPolicyFactory,
    TierFactory,
    TierRequirementFactory,
)
from tests.prm.factories import PartnerUserFactory
from tests.training.factories import (
    CertificationTypeFactory,
    ChoiceFactory,
    CourseFactory,
    LessonFactory,
    QuestionFactory,
    QuizFactory,
)
from training.models import Certification, EnrollmentStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

APPLICANT = "olga@kazan-cloud.example"
PASSWORD = "Kazan-Cloud-2026!"


@pytest.fixture
def program(channel_manager):
    """The vendor's program as a channel manager configured it before the journey starts."""
    # Fixed names, so regenerated docs pictures differ only where the product changed.
    channel_manager.first_name, channel_manager.last_name = "Anna", "Kuznetsova"
    channel_manager.save(update_fields=["first_name", "last_name"])
    kazan = RegionFactory(code="kzn", name="Kazan", timezone="Europe/Moscow")
    moscow = RegionFactory(code="msk", name="Moscow", timezone="Europe/Moscow")
    data = CompetencyFactory(code="data", name="Data platform")
    CompetencyFactory(code="security", name="Security")
    registered = TierFactory(code="registered", name="Registered", rank=10, commission_rate=Decimal("0.0500"))
    silver = TierFactory(code="silver", name="Silver", rank=20, commission_rate=Decimal("0.1000"))
    TierRequirementFactory(tier=silver, metric="won_revenue_12m", threshold=Decimal("1000000"))
    TierRequirementFactory(tier=silver, metric="certified_people", threshold=Decimal("1"))
    SlaPolicyFactory(name="Network SLA")
    cert_type = CertificationTypeFactory(code="platform-engineer", name="Platform Engineer", competency=data)
    course = CourseFactory(title="Platform onboarding", grants=cert_type, is_mandatory_onboarding=True)
    LessonFactory(course=course, order=1, title="How the platform is built", body="Services, storage, the API.")
    LessonFactory(course=course, order=2, title="Installing a cluster", body="Three nodes, one command.")
    quiz = QuizFactory(course=course, passing_score=100, attempt_limit=3)
    question = QuestionFactory(quiz=quiz, order=1, kind="single", text="Which port does the API listen on?")
    ChoiceFactory(question=question, text="443", is_correct=True)
    ChoiceFactory(question=question, text="21")
    # The second partner sells in Moscow only, so a Kazan lead can only go to the newcomer.
    beta = PartnerFactory(name="Beta Systems", home_region=moscow, regions=[moscow], tier=registered)
    beta_rep = PartnerUserFactory(
        role=Role.PARTNER_SALES, partner=beta, email="rep@beta.example", first_name="Boris", last_name="Lebedev"
    )
    return {"kazan": kazan, "silver": silver, "course": course, "beta": beta, "beta_rep": beta_rep}


def logout(page):
    # Another person at another computer: a fresh session, not the log-out menu.
    page.context.clear_cookies()


def status_change(page, to: str, reason: str):
    form = page.locator("form[action$='/status/']")
    form.locator("select[name=to_status]").select_option(to)
    form.locator("textarea[name=reason]").fill(reason)
    return form


def alert_text(page) -> str:
    return " ".join(page.locator(".alert").all_inner_texts())


def test_partner_journey(page, shot, mailoutbox, channel_manager, program):
    today = timezone.localdate()

    # 1. A company applies through the public form, no login.
    page.goto("/partners/apply/")
    page.fill("#id_name", "Kazan Cloud Integrator")
    page.fill("#id_legal_name", "ООО «Казань Клауд»")
    page.select_option("#id_country", "RU")
    page.fill("#id_tax_id", "7712345671")
    page.fill("#id_website", "kazan-cloud.example")
    page.select_option("#id_regions", label=["Kazan"])
    page.select_option("#id_competencies", label=["Data platform"])
    page.select_option("#id_program_model", "full_cycle")
    page.select_option("#id_partner_type", "specialist")
    page.fill("#id_contact_name", "Olga Sokolova")
    page.fill("#id_contact_email", APPLICANT)
    page.fill("#id_contact_phone", "+7 843 000-00-00")
    shot("journey-01-application-form")
    page.click("form button:has-text('Send application')")
    page.wait_for_url("**/partners/apply/thanks/")
    assert "Thank you for your application" in page.inner_text("h1")
    shot("journey-02-application-sent", for_docs=False)
    partner = Partner.objects.get(tax_id="7712345671")
    assert partner.status == PartnerStatus.APPLIED
    assert list(partner.regions.values_list("name", flat=True)) == ["Kazan"]

    # 2. The channel manager reviews the application and takes the partner through the pipeline.
    login(page, channel_manager.email)
    page.goto("/partners/onboarding/")
    applied = page.locator(".card[data-status='applied']")
    assert "Kazan Cloud Integrator" in applied.inner_text()
    shot("journey-03-onboarding-board")
    applied.get_by_role("link", name="Kazan Cloud Integrator").click()
    page.wait_for_selector("h1:has-text('Kazan Cloud Integrator')")
    status_change(page, "under_review", "Documents received; checking references.")
    page.click("form[action$='/status/'] button:has-text('Change status')")
    page.wait_for_selector(".alert:has-text('Status changed.')")

    form = status_change(page, "agreement_signed", "Agreement signed on paper.")
    form.locator("#id_agreement-number").fill("AG-2026-017")
    form.locator("#id_agreement-sla_policy").select_option(label="Network SLA")
    form.locator("#id_agreement-territory").select_option(label=["Kazan"])
    form.locator("#id_agreement-commission_plan").fill("Tier rate on won deals")
    form.locator("#id_agreement-starts_on").fill(today.isoformat())
    form.locator("#id_agreement-signed_by_partner").fill("Olga Sokolova, CEO")
    shot("journey-04-agreement-terms", focus=".card:has(form[action$='/status/'])")
    form.locator("button:has-text('Change status')").click()
    page.wait_for_selector(".alert:has-text('Status changed.')")
    assert "AG-2026-017" in page.inner_text("body")

    # Signing creates the partner admin from the applicant and e-mails a set-password link.
    admin = User.objects.get(email=APPLICANT)
    assert (admin.role, admin.partner_id, admin.has_usable_password()) == (Role.PARTNER_ADMIN, partner.pk, False)
    status_change(page, "onboarding", "Welcome call held; training assigned.")
    page.click("form[action$='/status/'] button:has-text('Change status')")
    page.wait_for_selector(".alert:has-text('Status changed.')")
    tier_form = page.locator("form[action$='/tier/']")
    tier_form.locator("select[name=tier]").select_option(label="Registered")
    tier_form.locator("textarea[name=reason]").fill("Entry tier for new partners.")
    tier_form.locator("button").click()
    page.wait_for_selector(".alert:has-text('Tier changed.')")
    checklist = page.locator(".readiness").inner_text()
    assert "Not ready yet" in checklist and "Platform onboarding" in checklist
    shot("journey-05-partner-onboarding")
    partner.refresh_from_db()
    assert (partner.status, partner.tier.code) == (PartnerStatus.ONBOARDING, "registered")
    logout(page)

    # The applicant follows the e-mailed link and sets a password.
    (mail,) = [m for m in mailoutbox if APPLICANT in m.to and "/password/set/" in m.body]
    link = re.search(r"https?://\S+", mail.body).group(0)
    page.goto(urlsplit(link).path)
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    shot("journey-06-set-password")
    page.click("form button:has-text('Set password')")
    page.wait_for_url("**/login/")
    login(page, APPLICANT, PASSWORD)
    assert "/login/" not in page.url
    assert "Olga" in page.inner_text("nav")

    # 3. Partner staff take the mandatory course and get certified.
    page.goto("/training/")
    page.get_by_role("link", name="Platform onboarding").first.click()
    page.wait_for_selector("h1:has-text('Platform onboarding')")
    shot("journey-07-course")
    page.click("button:has-text('Enrol')")
    page.wait_for_selector(".progress")
    page.get_by_role("link", name="How the platform is built").click()
    page.click("button:has-text('Mark as done and continue')")
    page.wait_for_selector("h1:has-text('Installing a cluster')")
    shot("journey-08-lesson", for_docs=False)
    page.click("button:has-text('Mark as done and continue')")
    page.wait_for_selector("a:has-text('Take the quiz')")
    assert "100%" in page.locator(".progress").inner_text()
    page.click("a:has-text('Take the quiz')")
    page.get_by_label("443", exact=True).check()
    shot("journey-09-quiz")
    page.click("button:has-text('Submit answers')")
    page.wait_for_selector(".alert-success:has-text('Certificate')")
    assert "Passed with 100%" in alert_text(page)
    shot("journey-10-certificate")
    cert = Certification.objects.get(user__email=APPLICANT)
    assert cert.type.name == "Platform Engineer" and cert.expires_on > today
    assert admin.enrollments.get().status == EnrollmentStatus.PASSED
    page.goto("/training/my/")
    assert cert.code in page.inner_text("main")
    logout(page)

    # The checklist is complete: the channel manager activates the partner.
    login(page, channel_manager.email)
    page.goto(f"/partners/{partner.pk}/")
    assert "Ready to activate" in page.locator(".readiness").inner_text()
    status_change(page, "active", "Onboarding complete.")
    page.click("form[action$='/status/'] button:has-text('Change status')")
    page.wait_for_selector(".alert:has-text('Status changed.')")
    shot("journey-11-partner-active", for_docs=False)
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE and partner.joined_at == timezone.localdate()
    logout(page)

    # 4. Partner staff register a deal; it is free, so it is protected at once.
    def register_deal(title: str):
        page.goto("/deals/register/")
        form = page.locator("form[method=post]:not([hx-post])")
        form.locator("#id_customer_name").fill("Volga Logistics")
        form.locator("#id_tax_id").fill("1655000003")
        form.locator("#id_website").fill("volga-logistics.example")
        form.locator("#id_region").select_option(label="Kazan")
        form.locator("#id_contact_name").fill("Pavel Orlov")
        form.locator("#id_contact_email").fill("pavel@volga-logistics.example")
        form.locator("#id_title").fill(title)
        form.locator("#id_products").fill("Platform, 50 nodes")
        form.locator("#id_value").fill("800000")
        form.locator("#id_expected_close").fill((today + datetime.timedelta(days=60)).isoformat())
        return form

    login(page, APPLICANT, PASSWORD)
    form = register_deal("Volga Logistics: data platform")
    shot("journey-12-register-deal")
    form.locator("button:has-text('Register')").click()
    page.wait_for_selector("#protection")
    assert "Approved" in page.inner_text("#protection") and "days left" in page.inner_text("#protection")
    shot("journey-13-deal-protected")
    ours = Registration.objects.get(partner=partner)
    assert ours.status == RegistrationStatus.APPROVED and ours.protected_until > timezone.now()
    logout(page)

    # A second partner registers the same customer: the conflict is decided at once, without naming the holder.
    login(page, program["beta_rep"].email)
    form = register_deal("Volga Logistics: platform licences")
    form.locator("button:has-text('Register')").click()
    page.wait_for_selector("#protection")
    protection = page.inner_text("#protection")
    assert "Rejected" in protection and "already protected by another partner" in protection
    assert "Kazan Cloud" not in page.inner_text("main")
    shot("journey-14-registration-conflict")
    theirs = Registration.objects.get(partner=program["beta"])
    assert (theirs.status, theirs.decision_rule) == (RegistrationStatus.REJECTED, "hard_conflict")
    # The rejection closes the deal: not an open deal any more, nothing left to move.
    assert theirs.lead.stage == Stage.REJECTED and theirs.lead.closed_at == theirs.decided_at
    assert "Registration rejected" in page.inner_text("main") and "Move the deal" not in page.inner_text("main")
    logout(page)

    # 5. The channel manager enters a vendor lead; only the newcomer serves Kazan with the data competency.
    login(page, channel_manager.email)
    page.goto("/deals/routing/new/")
    page.fill("#id_title", "Kama Retail: analytics rollout")
    page.fill("#id_customer_name", "Kama Retail")
    page.fill("#id_customer_tax_id", "1650000000")
    page.select_option("#id_kind", "implementation")
    page.select_option("#id_region", label="Kazan")
    page.select_option("#id_competencies", label=["Data platform"])
    page.fill("#id_value", "1500000")
    page.fill("#id_contact_name", "Irina Volkova")
    page.fill("#id_contact_email", "irina@kama-retail.example")
    shot("journey-15-lead-intake")
    page.click("button:has-text('Create and route')")
    page.wait_for_selector(".alert:has-text('Lead created and routed.')")
    offers = page.locator(".card:has(.card-header:has-text('Offers')) tbody").inner_text()
    assert "Kazan Cloud Integrator" in offers and "Waiting for the partner" in offers
    # "Why this partner?": the newcomer was the only candidate.
    candidates = page.locator(".decision tbody tr")
    assert candidates.count() == 1 and "Kazan Cloud Integrator" in candidates.inner_text()
    # Under "Tier" its tier's allocation weight (1), under "Load" its open routed leads of its capacity.
    cells = candidates.locator("td").all_inner_texts()
    assert cells[1].startswith("1 ") and cells[5].startswith("0/20 ")
    shot("journey-16-lead-routed")
    lead = Lead.objects.get(title="Kama Retail: analytics rollout")
    offer = Offer.objects.get(lead=lead)
    assert (offer.partner_id, offer.status) == (partner.pk, OfferStatus.PENDING)
    logout(page)

    # The partner accepts it on the offers page, logs the first call and moves the deal to won.
    login(page, APPLICANT, PASSWORD)
    page.goto("/deals/offers/")
    card = page.locator(f"#offer-{offer.pk}")
    assert "Kama Retail" in card.inner_text()
    shot("journey-17-offers")
    card.locator("button:has-text('Accept')").click()
    page.wait_for_selector(".alert:has-text('Lead accepted.')")
    page.select_option("#id_kind", "call")
    page.fill("#id_subject", "Kick-off call with Irina")
    page.fill("#id_notes", "Scope: three stores, go-live in spring.")
    page.click("form[action$='/activity/'] button:has-text('Log')")
    page.wait_for_selector(".list-group-item:has-text('Kick-off call with Irina')")
    for stage in ("Qualified", "Proposal"):
        page.click(f"form[action$='/stage/'] button:has-text('{stage}')")
        page.wait_for_selector(f"p.text-muted strong:has-text('{stage}')")
    shot("journey-18-deal-worked")
    page.click("#move-deal button[value=won]")
    page.click("#confirm-won")  # closing a deal is confirmed once more
    page.wait_for_selector("p.text-muted strong:has-text('Won')")
    shot("journey-19-deal-won", for_docs=False)
    lead.refresh_from_db()
    assert (lead.partner_id, lead.stage, lead.first_contact_at is not None) == (partner.pk, Stage.WON, True)

    # 6. The nightly run (a scheduled job, not a page): KPIs, the commission ledger, tier evaluation.
    # The day the deal was won (not the test's first day: a run may cross midnight).
    call_command("run_nightly", "--date", timezone.localdate(lead.won_at).isoformat())
    change = TierChange.objects.get(partner=partner, kind=TierChangeKind.PROMOTION)
    assert change.to_tier == program["silver"]
    entry = CommissionEntry.objects.get(partner=partner, kind=EntryKind.ACCRUAL)
    assert (entry.lead_id, entry.rate, entry.amount) == (lead.pk, Decimal("0.0500"), Decimal("75000.00"))

    page.goto("/kpi/scorecard/")
    page.wait_for_selector("h1:has-text('Scorecard')")
    assert "Tier: Silver" in page.inner_text("main")
    assert "Promoted to Silver" in page.inner_text("main")
    shot("journey-20-scorecard", height=560)
    page.click("a:has-text('Commission statement')")
    page.wait_for_selector("h1:has-text('Commission statement')")
    row = page.locator("tbody tr", has_text="Kama Retail: analytics rollout")
    assert "RUB\xa075,000.00" in row.inner_text() and "Commission accrual" in row.inner_text()
    shot("journey-21-commission-statement")

    # 7. The partner admin connects the company's CRM: an API key (shown once) and a signed webhook.
    # Keys need a second factor: the portal sends the admin to set up an authenticator app first.
    page.goto("/settings/api-keys/")
    assert page.url.endswith("/accounts/2fa/")
    assert "two-factor authentication before managing API keys" in page.inner_text("main")
    page.click("a:has-text('Activate')")
    page.fill("#id_password", PASSWORD)  # allauth asks for the password again first
    page.click("main button[type=submit]")
    secret = page.input_value("#authenticator_secret")
    shot("journey-21b-authenticator-app", for_docs=False)
    page.fill("#id_code", totp_code(secret))
    page.click("button:has-text('Activate')")
    page.wait_for_load_state("networkidle")
    page.goto("/settings/api-keys/")
    page.fill("#id_name", "Kazan Cloud CRM")
    for scope in ("leads:read", "leads:write", "activities:read", "activities:write"):
        page.check(f"input[name=scopes][value='{scope}']")
    page.click("button:has-text('Create key')")
    raw = page.inner_text("#api-key").strip()
    assert raw.startswith("prm_")
    shot("journey-22-api-key-created")
    answer = page.request.get("/api/v1/leads/?stage=won", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status == 200
    assert [lead["title"] for lead in answer.json()["results"]] == ["Kama Retail: analytics rollout"]
    page.click("a:has-text('Continue')")
    page.fill("#id_url", "https://crm.kazan-cloud.example/prm-hook")
    page.check("input[name=events][value='lead.offered']")
    page.check("input[name=events][value='deal.stage_changed']")
    page.click("button:has-text('Add webhook')")
    assert len(page.inner_text("#webhook-secret").strip()) == 64
    shot("journey-23-webhook-secret")
