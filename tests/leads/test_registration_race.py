"""Fifty partners register the same customer at the same moment: the database lets exactly one win."""

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from leads.models import ProtectionWindow, Registration, RegistrationStatus
from leads.services.registration import CustomerData, DealData, deal_register
from tests.partners.factories import PartnerFactory
from tests.prm.factories import PartnerUserFactory

THREADS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_registrations_protect_exactly_one(postgres_only):
    partners = PartnerFactory.create_batch(THREADS)
    reps = [PartnerUserFactory(partner=p) for p in partners]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(i):
        try:
            barrier.wait(timeout=30)
            deal_register(
                partner=partners[i],
                submitted_by=reps[i],
                customer=CustomerData(name=f"ООО «Ромашка» #{i % 3}", tax_id="7701234567", website="romashka.ru"),
                deal=DealData(
                    title=f"Deal {i}", value=Decimal("1000"), expected_close=timezone.localdate() + timedelta(days=9)
                ),
            )
        except BaseException as exc:  # noqa: BLE001 - any exception fails the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not errors, errors[:3]
    statuses = Counter(Registration.objects.values_list("status", flat=True))
    assert sum(statuses.values()) == THREADS
    assert statuses[RegistrationStatus.APPROVED] == 1
    assert statuses[RegistrationStatus.REJECTED] == THREADS - 1
    winner = Registration.objects.get(status=RegistrationStatus.APPROVED)
    assert set(ProtectionWindow.objects.filter(active=True).values_list("registration_id", flat=True)) == {winner.pk}
    # Every loser was told it is protected by another partner, with the winner recorded for the vendor.
    losers = Registration.objects.exclude(pk=winner.pk)
    assert all(r.matches and r.matches[0]["registration_id"] == winner.pk for r in losers)


@pytest.mark.django_db(transaction=True)
def test_expiry_on_several_workers_expires_each_registration_once(postgres_only):
    from leads.services.registration import protections_expire
    from prm.models import AuditEvent

    partners = PartnerFactory.create_batch(6)
    for i, p in enumerate(partners):
        deal_register(
            partner=p,
            submitted_by=None,
            customer=CustomerData(name=f"Firm {i}", tax_id=f"770000000{i}"),
            deal=DealData(title=f"Deal {i}", value=Decimal("1")),
        )
    later = timezone.now() + timedelta(days=365)
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[int] = []

    def work():
        try:
            barrier.wait(timeout=30)
            results.append(protections_expire(now=later, batch=2))
            results.append(protections_expire(now=later, batch=10))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sum(results) == len(partners)
    assert set(Registration.objects.values_list("status", flat=True)) == {RegistrationStatus.EXPIRED}
    assert AuditEvent.objects.filter(action="registration.expired").count() == len(partners)
    assert not ProtectionWindow.objects.filter(active=True).exists()


@pytest.mark.django_db(transaction=True)
def test_fifty_portal_registrations_of_one_new_customer_create_one_customer_row(postgres_only):
    """Issue 16: the portal form's find-or-create takes advisory locks on the customer keys (leads.customers), so
    fifty partners typing one INN in different spellings create one customer and one protection."""
    from leads.models import Customer

    partners = PartnerFactory.create_batch(THREADS)
    reps = [PartnerUserFactory(partner=p) for p in partners]
    spellings = ["ООО «Ромашка»", "Romashka LLC", "ромашка", "АО Ромашка"]
    tax_ids = ["7707083893", "77О7083893", "RU 7707 083 893"]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(i):
        try:
            barrier.wait(timeout=30)
            deal_register(
                partner=partners[i],
                submitted_by=reps[i],
                customer=CustomerData(name=spellings[i % 4], tax_id=tax_ids[i % 3]),
                deal=DealData(title=f"Deal {i}", value=Decimal("1")),
            )
        except BaseException as exc:  # noqa: BLE001 - any exception fails the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not errors, errors[:3]
    assert list(Customer.objects.values_list("tax_id", "normalized_name")) == [("7707083893", "romashka")]
    assert Registration.objects.filter(status=RegistrationStatus.APPROVED).count() == 1
    assert ProtectionWindow.objects.filter(active=True, key_kind="tax_id").count() == 1
