import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from leads.models import Stage
from partners import services
from partners.models import CustomerReview, ReviewStatus
from prm.models import Notification, NotificationKind
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def won_lead(partner):
    return LeadFactory(partner=partner, stage=Stage.WON, won_at=timezone.now(), contact_email="buyer@customer.example")


def _submit(client, review, **data):
    payload = {"rating": 5, "text": "Fast and careful", "author_name": "Pavel"} | data
    return client.post(reverse("partners:review_submit", args=[review.token]), payload)


def test_invite_is_idempotent_and_emails_a_one_time_link(won_lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        review = services.review_invite(lead=won_lead)
        again = services.review_invite(lead=won_lead)
    assert review.pk == again.pk
    assert CustomerReview.objects.count() == 1
    assert review.status == ReviewStatus.INVITED
    [message] = mail.outbox
    assert message.to == ["buyer@customer.example"]
    assert reverse("partners:review_submit", args=[review.token]) in message.body


def test_invite_refuses_deals_that_are_not_won(partner):
    with pytest.raises(ValidationError):
        services.review_invite(lead=LeadFactory(partner=partner, stage=Stage.PROPOSAL))
    assert not CustomerReview.objects.exists()


def test_link_works_once(client, won_lead, channel_manager):
    review = services.review_invite(lead=won_lead)
    assert client.get(reverse("partners:review_submit", args=[review.token])).status_code == 200
    response = _submit(client, review)
    assert response.status_code == 200
    assert "moderation" in response.content.decode()
    review.refresh_from_db()
    assert (review.status, review.rating, review.author_name) == (ReviewStatus.SUBMITTED, 5, "Pavel")
    assert Notification.objects.filter(user=channel_manager, kind=NotificationKind.REVIEW_QUEUE).exists()

    second = _submit(client, review, rating=1, text="changed my mind")
    assert second.status_code == 200
    assert "already been used" in second.content.decode()
    review.refresh_from_db()
    assert (review.rating, review.text) == (5, "Fast and careful")


@pytest.mark.parametrize("rating", [0, 6, "x"])
def test_rating_out_of_range_is_a_field_error(client, won_lead, rating):
    review = services.review_invite(lead=won_lead)
    response = _submit(client, review, rating=rating)
    assert response.status_code == 200
    assert "rating" in response.context["form"].errors
    review.refresh_from_db()
    assert review.status == ReviewStatus.INVITED


def test_unknown_token_is_404(client):
    assert client.get(reverse("partners:review_submit", args=["nope"])).status_code == 404


def test_moderation_publish_and_reject_and_locator_rating(client, client_for, won_lead, partner, channel_manager):
    review = services.review_invite(lead=won_lead)
    _submit(client, review, rating=4)
    other = services.review_invite(
        lead=LeadFactory(partner=partner, stage=Stage.WON, won_at=timezone.now(), contact_email="b@c.example")
    )
    _submit(client, other, rating=1, text="spam spam")

    def locator_card():
        [card] = client.get(reverse("partners:locator")).context["page"]
        return card

    assert locator_card().reviews_count == 0  # nothing counts before moderation

    cm = client_for(channel_manager)
    queue = cm.get(reverse("partners:review_queue"))
    assert {r.pk for r in queue.context["reviews"]} == {review.pk, other.pk}
    # Rejecting needs a reason.
    cm.post(reverse("partners:review_moderate", args=[other.pk]), {"decision": "reject"})
    other.refresh_from_db()
    assert other.status == ReviewStatus.SUBMITTED
    cm.post(reverse("partners:review_moderate", args=[other.pk]), {"decision": "reject", "reason": "Spam"})
    cm.post(reverse("partners:review_moderate", args=[review.pk]), {"decision": "publish"})
    review.refresh_from_db()
    other.refresh_from_db()
    assert (review.status, review.moderated_by) == (ReviewStatus.PUBLISHED, channel_manager)
    assert (other.status, other.moderation_reason) == (ReviewStatus.REJECTED, "Spam")

    client.logout()
    card = locator_card()
    assert (card.reviews_count, card.rating) == (1, 4)
    profile = client.get(reverse("partners:public_profile", args=[partner.pk])).content.decode()
    assert "Fast and careful" in profile
    assert "spam spam" not in profile


def test_partner_staff_cannot_moderate(client_for, partner_rep, won_lead):
    review = services.review_invite(lead=won_lead)
    response = client_for(partner_rep).post(
        reverse("partners:review_moderate", args=[review.pk]), {"decision": "publish"}
    )
    assert response.status_code == 403
