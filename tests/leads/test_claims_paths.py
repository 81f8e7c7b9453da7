"""Rule 2, who owns the customer: one claims rule (leads.selectors.registration.customers_claims) answers the same
whatever the door — portal form, API single and bulk, the background registration check, the vendor's lead form,
CSV import, the routing job and offer acceptance."""

import io

import pytest
from django.test import TestCase
from django.urls import reverse

from leads.models import (
    Customer,
    Lead,
    Offer,
    OfferStatus,
    ProtectionWindow,
    Registration,
    RegistrationStatus,
    Stage,
)
from leads.services import intake, offers, routing
from leads.services.deals import deal_allowed_moves
from leads.services.registration import MSG_ATTACHED, MSG_OFFERED, MSG_TERRITORY, Rule
from partners.models import ProgramModel
from prm.models import Role
from tests.leads.doors import REGISTRATION_DOORS, register_via
from tests.leads.routing_factories import region, routing_partner, vendor_lead
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db
TAX = "7701234560"


@pytest.fixture
def area():
    return region("msk")


@pytest.fixture
def holder(area):
    """Partner A: receives vendor leads in the area."""
    return routing_partner(regions=[area], name="Alpha Integrator")


@pytest.fixture
def holder_rep(holder):
    return PartnerUserFactory(role=Role.PARTNER_SALES, partner=holder)


@pytest.fixture
def registrant(area):
    """Partner B: registers deals itself."""
    return routing_partner(regions=[area], name="Beta Systems")


@pytest.fixture
def registrant_rep(registrant):
    return PartnerUserFactory(role=Role.PARTNER_SALES, partner=registrant)


@pytest.fixture
def via(client, django_capture_on_commit_callbacks):
    def run(door, user, **kw):
        return register_via(door, user=user, client=client, capture=django_capture_on_commit_callbacks, **kw)

    return run


def _claim(kind, *, area, holder, holder_rep):
    """Partner A (or a franchise) claims the customer with tax id TAX in one of the ways registration respects."""
    customer = Customer.objects.create(name="Romashka", normalized_name="romashka", tax_id=TAX, region=area)
    if kind == "territory":
        routing_partner(regions=[area], program_model=ProgramModel.FRANCHISE, exclusive_region=area, name="Franchise")
        return
    lead = vendor_lead(region=area, customer=customer)
    routing.lead_route(lead=lead)
    offer = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)
    assert offer.partner == holder
    if kind == "accepted":
        offers.offer_accept(offer=offer, user=holder_rep)


@pytest.mark.parametrize("claim", ["offered", "accepted", "territory"])
@pytest.mark.parametrize("door", REGISTRATION_DOORS)
def test_registering_a_customer_claimed_by_another_partner_goes_to_review(
    door, claim, via, area, holder, holder_rep, registrant_rep
):
    _claim(claim, area=area, holder=holder, holder_rep=holder_rep)

    reg, shown = via(door, registrant_rep)

    rule, message = (
        (Rule.EXCLUSIVE_TERRITORY, MSG_TERRITORY) if claim == "territory" else (Rule.OFFERED_ELSEWHERE, MSG_OFFERED)
    )
    assert reg.status == RegistrationStatus.PENDING_REVIEW and reg.decision_rule == rule
    assert not reg.windows.exists()
    assert reg.review_due is not None  # a channel manager owes a decision (business hours)
    assert message in shown.replace("&#x27;", "'")  # what the partner reads, on the page or in the API
    assert "Alpha" not in shown and "Franchise" not in shown  # never who claims it
    assert reg.lead.stage == Stage.REGISTERED  # kept open while waiting


@pytest.mark.parametrize("door", REGISTRATION_DOORS)
def test_a_second_deal_at_an_own_protected_customer_is_attached_to_the_protection(door, via, registrant_rep, register):
    first = register(registrant_rep.partner, registrant_rep, tax_id=TAX)
    assert first.status == RegistrationStatus.APPROVED

    reg, shown = via(door, registrant_rep, title="Second opportunity")

    assert reg.status == RegistrationStatus.APPROVED and reg.decision_rule == Rule.OWN_PROTECTION
    assert MSG_ATTACHED in shown.replace("&#x27;", "'")
    assert reg.protected_until == first.protected_until
    lead = Lead.objects.get(pk=reg.lead_id)
    assert lead.stage == Stage.REGISTERED and lead.closed_at is None and deal_allowed_moves(lead=lead)
    assert ProtectionWindow.objects.filter(active=True, key=TAX).get().registration == first


VENDOR_DOORS = ["vendor_form", "csv", "routing_job"]


def _vendor_lead_via(door, *, client, channel_manager, area) -> Lead:
    if door == "vendor_form":
        client.force_login(channel_manager)
        data = {"title": "Inbound", "customer_name": "Romashka", "customer_tax_id": TAX, "kind": "implementation"}
        response = client.post(reverse("leads:lead_new"), {**data, "region": area.pk, "currency": "RUB"})
        assert response.status_code == 302, response.content[:1000]
    elif door == "csv":
        client.force_login(channel_manager)
        # a new file each time: uploading the very same file again is idempotent (answers with the first import)
        n = Lead.objects.count()
        body = (
            f"title,customer,tax_id,kind,region,external_id\nInbound,Romashka,{TAX},implementation,{area.code},x{n}\n"
        )
        upload = io.BytesIO(body.encode())
        upload.name = "leads.csv"
        with TestCase.captureOnCommitCallbacks(execute=True):  # the import job runs after the commit
            assert client.post(reverse("leads:lead_import"), {"file": upload}).status_code == 302
    else:
        intake.lead_create(
            title="Inbound", customer_name="Romashka", customer_tax_id=TAX, kind="implementation", region=area,
            actor=None, route=False,
        )  # fmt: skip
        from leads.tasks import leads_route_new

        leads_route_new.delay()
    return Lead.objects.get(title="Inbound")


@pytest.mark.parametrize("claim", ["protected", "territory"])
@pytest.mark.parametrize("door", VENDOR_DOORS)
def test_a_vendor_lead_goes_only_to_the_partner_that_claims_its_customer(
    door, claim, client, channel_manager, area, holder, registrant, registrant_rep, register
):
    if claim == "protected":
        register(registrant, registrant_rep, tax_id=TAX)  # B protects the customer
        owner = registrant
    else:
        owner = routing_partner(
            regions=[area], program_model=ProgramModel.FRANCHISE, exclusive_region=area, name="Franchise"
        )
    for _n in range(3):  # whatever the rotation would say
        lead = _vendor_lead_via(door, client=client, channel_manager=channel_manager, area=area)
        offer = Offer.objects.get(lead=lead, status=OfferStatus.PENDING)
        assert offer.partner == owner
        assert lead.routing_decisions.get().rule == (
            "protected_customer" if claim == "protected" else "exclusive_territory"
        )
        Lead.objects.filter(pk=lead.pk).update(title="done")


@pytest.mark.parametrize("door", VENDOR_DOORS)
def test_a_protected_customers_lead_waits_for_a_channel_manager_when_the_protector_cannot_take_it(
    door, client, channel_manager, area, holder, register
):
    outsider = routing_partner(regions=[region("spb")], name="Far away")  # not in the lead's region
    register(outsider, PartnerUserFactory(partner=outsider), tax_id=TAX)
    lead = _vendor_lead_via(door, client=client, channel_manager=channel_manager, area=area)
    assert lead.stage == Stage.QUEUE and not Offer.objects.filter(lead=lead).exists()
    assert lead.routing_decisions.get().rule == "protected_customer"


def test_a_franchise_without_room_leaves_its_territory_to_the_others(client, channel_manager, area, holder):
    routing_partner(
        regions=[area], program_model=ProgramModel.FRANCHISE, exclusive_region=area, name="Franchise", capacity=0
    )
    lead = _vendor_lead_via("vendor_form", client=client, channel_manager=channel_manager, area=area)
    assert Offer.objects.get(lead=lead).partner == holder


def test_accepting_an_offer_for_a_customer_another_partner_protects_goes_to_the_channel_manager(
    client, area, holder, holder_rep, registrant, registrant_rep, register, channel_manager
):
    customer = Customer.objects.create(name="Romashka", normalized_name="romashka", tax_id=TAX, region=area)
    lead = vendor_lead(region=area, customer=customer)
    routing.lead_route(lead=lead)
    offer = Offer.objects.get(lead=lead)
    assert offer.partner == holder
    # Meanwhile B registered the customer: the vendor lead was no claim of A's until accepted (offered → review,
    # see above); a registration approved before the offer reached A — e.g. by a channel manager — still protects it.
    reg = register(registrant, registrant_rep, tax_id=TAX)
    reg.status = RegistrationStatus.PENDING_REVIEW
    reg.save()
    from leads.services.registration import registration_approve

    registration_approve(registration=reg, actor=channel_manager, reason="B met the customer first")

    client.force_login(holder_rep)
    response = client.post(reverse("leads:offer_accept", args=[offer.pk]), follow=True)

    page = response.content.decode().replace("&#x27;", "'")
    assert offers.MSG_HELD_FOR_REVIEW in page and "Beta" not in page
    lead.refresh_from_db()
    assert lead.partner is None and lead.stage == Stage.QUEUE
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.WITHDRAWN
    assert lead.routing_decisions.latest("decided_at").rule == "protected_customer"
    assert Registration.objects.get(pk=reg.pk).status == RegistrationStatus.APPROVED  # B keeps its protection
