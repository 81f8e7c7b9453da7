from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kpi.models import KpiSnapshot
from leads.models import Stage
from partners.models import CustomerReview, PartnerStatus, PartnerType, ProgramModel, ReviewStatus
from tests.leads.factories import LeadFactory
from tests.partners.factories import IndustryFactory, PartnerFactory, TierFactory
from tests.prm.factories import PartnerUserFactory, UserFactory
from tests.training.factories import CertificationFactory

pytestmark = pytest.mark.django_db


def _names(response) -> set[str]:
    return {p.name for p in response.context["page"]}


def _published_review(partner, rating):
    lead = LeadFactory(partner=partner, stage=Stage.WON, won_at=timezone.now())
    return CustomerReview.objects.create(
        lead=lead,
        partner=partner,
        status=ReviewStatus.PUBLISHED,
        rating=rating,
        text="ok",
        author_name="A",
        submitted_at=timezone.now(),
    )


def _populate(n, region, competency, industry):
    tier = TierFactory(name="Gold")
    partners = PartnerFactory.create_batch(
        n, home_region=region, regions=[region], competencies=[competency], tier=tier
    )
    for p in partners[:5]:
        p.industries.add(industry)
        CertificationFactory(user=PartnerUserFactory(partner=p, role="partner_engineer"))
        _published_review(p, 4)
        KpiSnapshot.objects.create(partner=p, date=timezone.localdate(), median_accept_minutes=Decimal("42"))
    return partners


class TestDirectory:
    def test_filters(self, client_for, channel_manager, region, competency):
        manager = UserFactory(role="channel_manager")
        match = PartnerFactory(
            name="Match",
            status=PartnerStatus.ONBOARDING,
            program_model=ProgramModel.FRANCHISE,
            partner_type=PartnerType.SPECIALIST,
            tier=TierFactory(code="gold"),
            account_manager=manager,
            sla_score=Decimal("92.5"),
            regions=[region],
            competencies=[competency],
        )
        PartnerFactory(name="Other", sla_score=Decimal("50"))
        client = client_for(channel_manager)
        url = reverse("partners:directory")
        for params in [
            {"region": "msk"},
            {"competency": "security"},
            {"status": "onboarding"},
            {"program_model": "franchise"},
            {"partner_type": "specialist"},
            {"tier": "gold"},
            {"account_manager": manager.pk},
            {"sla_min": "90", "sla_max": "95"},
            {"q": "Matc"},
            {"q": match.tax_id},
        ]:
            assert _names(client.get(url, params)) == {"Match"}, params
        assert _names(client.get(url)) == {"Match", "Other"}
        assert _names(client.get(url, {"sla_min": "not-a-number"})) == {"Match", "Other"}

    def test_constant_query_count(self, client_for, channel_manager, region, competency, industry):
        client = client_for(channel_manager)
        url = reverse("partners:directory")
        _populate(10, region, competency, industry)
        with CaptureQueriesContext(connection) as small:
            assert client.get(url, {"region": "msk"}).status_code == 200
        _populate(190, region, competency, industry)
        with CaptureQueriesContext(connection) as large:
            response = client.get(url, {"region": "msk"})
        assert response.context["page"].paginator.count == 200
        assert len(large) == len(small) <= 10, [q["sql"] for q in large]


class TestLocator:
    def test_public_and_only_active_partners(self, client, region):
        PartnerFactory(name="Active One", regions=[region])
        PartnerFactory(name="Suspended One", status=PartnerStatus.SUSPENDED, regions=[region])
        PartnerFactory(name="Applicant", status=PartnerStatus.APPLIED, regions=[region])
        response = client.get(reverse("partners:locator"))
        assert response.status_code == 200
        assert _names(response) == {"Active One"}

    def test_filters(self, client, region, competency, industry):
        match = PartnerFactory(name="Match", regions=[region], competencies=[competency], partner_type="specialist")
        match.industries.add(industry)
        PartnerFactory(name="Other", partner_type="strategic")
        url = reverse("partners:locator")
        for params in [
            {"region": "msk"},
            {"competency": "security"},
            {"industry": "retail"},
            {"partner_type": "specialist"},
            {"region": "msk", "competency": "security", "industry": "retail"},
        ]:
            assert _names(client.get(url, params)) == {"Match"}, params
        assert _names(client.get(url, {"industry": IndustryFactory().code})) == set()

    def test_card_figures(self, client, region):
        partner = PartnerFactory(name="Rated", regions=[region], tier=TierFactory(name="Platinum"))
        engineer = PartnerUserFactory(partner=partner, role="partner_engineer")
        CertificationFactory(user=engineer)
        CertificationFactory(user=engineer, revoked_at=timezone.now())  # revoked: not counted
        _published_review(partner, 5)
        _published_review(partner, 4)
        hidden = _published_review(partner, 1)
        hidden.status = ReviewStatus.SUBMITTED  # waiting for moderation: not counted
        hidden.save()
        KpiSnapshot.objects.create(
            partner=partner, date=timezone.localdate() - timezone.timedelta(days=1), median_accept_minutes=90
        )
        KpiSnapshot.objects.create(partner=partner, date=timezone.localdate(), median_accept_minutes=35)
        response = client.get(reverse("partners:locator"))
        [card] = response.context["page"]
        assert card.valid_certifications == 1
        assert card.reviews_count == 2
        assert card.rating == Decimal("4.5")
        assert card.median_accept_minutes == Decimal("35")
        body = response.content.decode()
        assert "Platinum" in body
        assert "4.5 / 5" in body

    def test_post_sale_figures(self, client, region):
        from leads.delivery.models import Implementation, ImplementationStatus
        from partners.models import ContactRole
        from tests.leads.factories import LeadFactory
        from tests.partners.factories import PartnerContactFactory

        partner = PartnerFactory(name="Keeps customers", regions=[region])
        for _i in range(2):
            lead = LeadFactory(partner=partner, stage="won", won_at=timezone.now())
            Implementation.objects.create(
                lead=lead,
                partner=partner,
                customer=lead.customer,
                status=ImplementationStatus.LIVE,
                signed_off_at=timezone.now(),
            )
        PartnerContactFactory(partner=partner, role=ContactRole.SUPPORT, name="Olga Support", email="olga@p.example")
        KpiSnapshot.objects.create(
            partner=partner, date=timezone.localdate(), response_in_sla_pct=96, resolution_in_sla_pct=88
        )
        response = client.get(reverse("partners:locator"))
        [card] = response.context["page"]
        assert (card.implementations_delivered, card.support_contact) == (2, "Olga Support")
        body = response.content.decode()
        assert "96%" in body and "88%" in body and "Olga Support" in body
        profile = client.get(reverse("partners:public_profile", args=[partner.pk])).content.decode()
        assert "olga@p.example" in profile and "Implementations delivered" in profile

    def test_constant_query_count(self, client, region, competency, industry):
        url = reverse("partners:locator")
        _populate(10, region, competency, industry)
        with CaptureQueriesContext(connection) as small:
            assert client.get(url, {"region": "msk"}).status_code == 200
        _populate(190, region, competency, industry)
        with CaptureQueriesContext(connection) as large:
            response = client.get(url, {"region": "msk"})
        assert response.context["page"].paginator.count == 200
        assert len(large) == len(small) <= 10, [q["sql"] for q in large]

    def test_public_profile_has_no_private_data(self, client, partner_admin):
        partner = partner_admin.partner
        partner.description = "Field service everywhere"
        partner.save()
        from tests.partners.factories import AgreementFactory, PartnerContactFactory

        AgreementFactory(partner=partner, number="AG-PRIVATE")
        PartnerContactFactory(partner=partner, email="private-contact@alpha.example")
        LeadFactory(partner=partner, title="Secret deal")
        response = client.get(reverse("partners:public_profile", args=[partner.pk]))
        assert response.status_code == 200
        body = response.content.decode()
        assert "Field service everywhere" in body
        for private in (
            "AG-PRIVATE",
            "private-contact@alpha.example",
            partner_admin.email,
            "Secret deal",
            partner.tax_id,
        ):
            assert private not in body

    def test_public_profile_of_inactive_partner_is_404(self, client):
        partner = PartnerFactory(status=PartnerStatus.APPLIED)
        assert client.get(reverse("partners:public_profile", args=[partner.pk])).status_code == 404
