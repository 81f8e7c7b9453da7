from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from leads.services.registration import CustomerData, DealData, deal_register


@pytest.fixture
def register():
    """`register(partner, user, name=..., tax_id=..., website=..., email=...)` runs deal_register."""

    def run(partner, user, *, name="ООО «Ромашка»", tax_id="", website="", email="", title="Licences", **deal):
        return deal_register(
            partner=partner,
            submitted_by=user,
            customer=CustomerData(name=name, tax_id=tax_id, website=website, email=email),
            deal=DealData(
                title=title,
                value=Decimal("500000"),
                expected_close=timezone.localdate() + timedelta(days=60),
                **deal,
            ),
        )

    return run


@pytest.fixture
def routing_pool_version(db):
    """The routing pool's version row, which a transactional test's flush removes (the router then keeps no pool
    between decisions: correct, but not what a test of the cached pool measures)."""
    from leads.models import RoutingPoolVersion

    return RoutingPoolVersion.objects.get_or_create(pk=1)[0]
