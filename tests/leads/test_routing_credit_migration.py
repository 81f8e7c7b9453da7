"""Moving round-robin credits off the partner row keeps every partner's credit (leads 0015, partners 0007)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from leads.models import RoutingCredit
from tests.leads.routing_factories import region, routing_partner, vendor_lead
from tests.migrating import migrate_latest

BEFORE = [("leads", "0014_routing_pool_version"), ("partners", "0006_partner_routing_state")]


@pytest.mark.django_db(transaction=True)
def test_credits_move_to_their_own_table_and_back():
    msk = region("msk")
    partners = [routing_partner(regions=[msk]) for _ in range(3)]
    vendor_lead(region=msk)  # a lead, so the open-load triggers have rows to guard while the table is rebuilt
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        Partner = executor.loader.project_state(BEFORE).apps.get_model("partners", "Partner")
        for partner, credit in zip(partners, (-7, 0, 7)):
            Partner.objects.filter(pk=partner.pk).update(routing_credit=credit)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        moved = dict(RoutingCredit.objects.values_list("partner_id", "credit"))
        executor.loader.build_graph()
        executor.migrate(BEFORE)  # and back again: the column gets the credits
        restored = dict(Partner.objects.values_list("pk", "routing_credit"))
    finally:
        migrate_latest()
    assert moved == {partners[0].pk: -7, partners[2].pk: 7}  # a missing row means credit 0
    assert restored == {partners[0].pk: -7, partners[1].pk: 0, partners[2].pk: 7}
