"""The customer's voice: check-ins 30/90/180 days after go-live by one-time links, the check-in score KPI, and
(with consent) the public review."""

import datetime
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kpi.models import KpiSnapshot
from kpi.selectors import requirement_progress
from kpi.services.snapshots import kpi_snapshots_compute, snapshot_values
from leads.delivery import checkins, services
from leads.delivery.models import CheckIn, Priority, TicketStatus
from leads.models import Stage
from partners.models import CustomerReview, Metric, ReviewStatus, TierRequirement
from prm.models import Notification, NotificationKind
from tests.leads.delivery_factories import ServiceContractFactory
from tests.leads.factories import LeadFactory
from tests.partners.factories import TierFactory


def live_implementation(partner_admin, *, days_ago: int):
    lead = LeadFactory(
        partner=partner_admin.partner,
        owner=partner_admin,
        stage=Stage.WON,
        won_at=timezone.now() - timedelta(days=days_ago + 30),
        contact_email="cio@customer.example",
    )
    implementation = services.implementation_open(lead=lead, actor=partner_admin)
    return services.implementation_sign_off(
        implementation=implementation, name="Ivan Petrov", at=timezone.now() - timedelta(days=days_ago)
    )


def test_due_checkins_are_created_once_and_invited_once(partner_admin):
    live_implementation(partner_admin, days_ago=100)
    live_implementation(partner_admin, days_ago=10)
    assert checkins.checkins_create_due() == 2  # 30 and 90 days of the first; nothing due for the second
    assert checkins.checkins_create_due() == 0
    assert sorted(CheckIn.objects.values_list("day", flat=True)) == [30, 90]
    assert checkins.checkins_invite_pending() == 2
    assert checkins.checkins_invite_pending() == 0
    assert len(mail.outbox) == 2 and "/delivery/check-in/" in mail.outbox[0].body


@pytest.mark.django_db(transaction=True)
def test_two_workers_create_each_checkin_once(postgres_only, partner_admin):
    live_implementation(partner_admin, days_ago=200)
    barrier, results = threading.Barrier(2), []

    def work():
        try:
            barrier.wait()
            results.append(checkins.checkins_create_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 3] and CheckIn.objects.count() == 3


def test_the_customer_answers_once_by_the_link_and_may_publish_a_review(client, partner_admin):
    live_implementation(partner_admin, days_ago=31)
    checkins.checkins_create_due()
    checkin = CheckIn.objects.get()
    url = reverse("delivery:checkin", args=[checkin.token])
    assert client.get(url).status_code == 200
    response = client.post(url, {"rating": "4", "comment": "Good team", "consent_publish": "on"})
    assert "author_name" in response.context["form"].errors  # publishing needs a name
    response = client.post(url, {"rating": "4", "comment": "Good team", "author_name": "Ivan", "consent_publish": "on"})
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    checkin.refresh_from_db()
    assert (checkin.rating, checkin.answered_at is not None) == (4, True)
    review = CustomerReview.objects.get(lead=checkin.implementation.lead)
    assert (review.status, review.rating, review.text) == (ReviewStatus.SUBMITTED, 4, "Good team")
    assert Notification.objects.filter(kind=NotificationKind.SERVICE_SLA, user=partner_admin).exists()
    again = client.post(url, {"rating": "1"})
    assert "already been answered" in again.content.decode()
    checkin.refresh_from_db()
    assert checkin.rating == 4
    assert client.get(reverse("delivery:checkin", args=["forged"])).status_code == 404


def test_without_consent_nothing_is_published(partner_admin):
    live_implementation(partner_admin, days_ago=31)
    checkins.checkins_create_due()
    checkins.checkin_answer(checkin=CheckIn.objects.get(), rating=2, comment="Slow")
    assert not CustomerReview.objects.exists()


def test_checkins_and_ticket_ratings_make_the_checkin_score(partner_admin):
    partner = partner_admin.partner
    live_implementation(partner_admin, days_ago=95)
    checkins.checkins_create_due()
    for checkin, rating in zip(CheckIn.objects.order_by("day"), (5, 3)):
        checkins.checkin_answer(checkin=checkin, rating=rating)
    contract = ServiceContractFactory(partner=partner)
    ticket = services.ticket_open(contract=contract, actor=partner_admin, title="x", priority=Priority.P3)
    services.ticket_transition(ticket=ticket, to_status=TicketStatus.RESOLVED, actor=partner_admin)
    services.ticket_rate(ticket=ticket, rating=2)
    today = timezone.localdate()
    kpi_snapshots_compute(on=today)
    snapshot = KpiSnapshot.objects.get(partner=partner, date=today)
    assert snapshot.checkin_score == Decimal("3.33")  # (5 + 3 + 2) / 3
    tier = TierFactory()
    TierRequirement.objects.create(tier=tier, metric=Metric.CHECKIN_SCORE, threshold=4)
    [row] = requirement_progress(tier=tier, values=snapshot_values(snapshot))
    assert not row["met"]


def test_bad_ratings_are_refused(partner_admin):
    live_implementation(partner_admin, days_ago=31)
    checkins.checkins_create_due()
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        checkins.checkin_answer(checkin=CheckIn.objects.get(), rating=6)
    assert CheckIn.objects.get().answered_at is None


def test_scorecard_explains_the_checkin_score(client_for, partner_admin):
    kpi_snapshots_compute(on=datetime.date.today())
    page = client_for(partner_admin).get(reverse("kpi:scorecard")).content.decode()
    assert "check-ins 30, 90 and 180 days after go-live" in page


@pytest.mark.parametrize("door", ["service", "task"])
def test_the_job_creates_and_invites_the_same_whatever_the_door(door, partner_admin):
    from leads.delivery.tasks import checkins_create

    live_implementation(partner_admin, days_ago=95)
    if door == "service":
        checkins.checkins_create_due()
        checkins.checkins_invite_pending()
    else:
        assert checkins_create() == {"created": 2, "invited": 2}
    assert sorted(CheckIn.objects.filter(invited_at__isnull=False).values_list("day", flat=True)) == [30, 90]
    assert len(mail.outbox) == 2


def test_the_checkin_page_speaks_russian(client, partner_admin):
    from django.utils import translation

    live_implementation(partner_admin, days_ago=31)
    checkins.checkins_create_due()
    client.cookies["django_language"] = "ru"
    page = client.get(
        reverse("delivery:checkin", args=[CheckIn.objects.get().token]), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    translation.activate("en")
    assert "30 дней с Alpha Integrator: как идут дела?" in page and "Опубликовать мою оценку" in page


def test_the_status_page_offers_the_open_checkin(client, partner_admin):
    from leads.delivery import links

    implementation = live_implementation(partner_admin, days_ago=31)
    checkins.checkins_create_due()
    _link, token = links.customer_link_issue(
        customer=implementation.customer, partner=implementation.partner, actor=partner_admin
    )
    page = client.get(reverse("delivery:status_page", args=[token])).content.decode()
    assert reverse("delivery:checkin", args=[CheckIn.objects.get().token]) in page
