import pytest

from tests.partners.factories import CompetencyFactory, IndustryFactory, RegionFactory, SlaPolicyFactory


@pytest.fixture
def region(db):
    return RegionFactory(code="msk", name="Moscow")


@pytest.fixture
def competency(db):
    return CompetencyFactory(code="security", name="Information security")


@pytest.fixture
def industry(db):
    return IndustryFactory(code="retail", name="Retail")


@pytest.fixture
def sla_policy(db):
    return SlaPolicyFactory()
