import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from partners.enablement import selectors
from partners.enablement.models import Announcement, AnnouncementRead
from partners.models import ProgramModel
from tests.partners.factories import PartnerFactory, TierFactory
from tests.prm.factories import PartnerUserFactory
from tests.training.factories import CourseFactory, EnrollmentFactory
from training.models import EnrollmentStatus

from .factories import AnnouncementFactory

pytestmark = pytest.mark.django_db


def targeted(*, models=(), min_rank=None, **kwargs):
    a = AnnouncementFactory(min_tier_rank=min_rank, **kwargs)
    a.set_program_models(models)
    a.save()
    return a


def test_announcements_follow_the_library_visibility_rule():
    gold = TierFactory(code="gold", rank=2)
    silver = TierFactory(code="silver", rank=1)
    targeted(title="all")
    targeted(title="distributors gold+", models=[ProgramModel.DISTRIBUTOR], min_rank=2)
    targeted(title="franchise", models=[ProgramModel.FRANCHISE])
    targeted(title="scheduled", published_at=timezone.now() + datetime.timedelta(days=1))
    gold_dist = PartnerUserFactory(partner=PartnerFactory(program_model=ProgramModel.DISTRIBUTOR, tier=gold))
    silver_dist = PartnerUserFactory(partner=PartnerFactory(program_model=ProgramModel.DISTRIBUTOR, tier=silver))

    def titles(user):
        return set(selectors.announcement_list(viewer=user).values_list("title", flat=True))

    assert titles(gold_dist) == {"all", "distributors gold+"}
    assert titles(silver_dist) == {"all"}


def test_hidden_announcement_detail_is_404(client_for, partner_rep):
    hidden = targeted(models=[ProgramModel.DISTRIBUTOR])
    client = client_for(partner_rep)
    assert client.get(reverse("enablement:announcement_detail", args=[hidden.pk])).status_code == 404
    assert client.post(reverse("enablement:announcement_read", args=[hidden.pk])).status_code == 404


def test_mark_read_is_per_user_and_idempotent(client_for, partner_rep, partner_admin):
    a = AnnouncementFactory()
    client = client_for(partner_rep)
    url = reverse("enablement:announcement_read", args=[a.pk])
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302
    assert AnnouncementRead.objects.filter(announcement=a).count() == 1
    assert selectors.announcement_list(viewer=partner_rep).get().is_read
    assert not selectors.announcement_list(viewer=partner_admin).get().is_read
    assert list(selectors.announcement_list(viewer=partner_rep, unread_only=True)) == []


def test_linked_course_shows_whether_the_user_passed(client_for, partner_engineer, partner_rep):
    course = CourseFactory(title="Platform 5 update")
    a = AnnouncementFactory(course=course, take_by=timezone.localdate() + datetime.timedelta(days=14))
    EnrollmentFactory(user=partner_engineer, course=course, status=EnrollmentStatus.PASSED)
    EnrollmentFactory(user=partner_rep, course=course, status=EnrollmentStatus.IN_PROGRESS)
    assert selectors.announcement_get(viewer=partner_engineer, pk=a.pk).course_passed is True
    assert selectors.announcement_get(viewer=partner_rep, pk=a.pk).course_passed is False
    page = client_for(partner_rep).get(reverse("enablement:announcement_detail", args=[a.pk]))
    assert b"Not passed yet" in page.content and b"Platform 5 update" in page.content


def test_partner_home_page_shows_targeted_announcements(client_for, partner_rep):
    AnnouncementFactory(title="Visible news")
    targeted(title="Distributor news", models=[ProgramModel.DISTRIBUTOR])
    page = client_for(partner_rep).get(reverse("home"))
    assert page.status_code == 200
    assert b"Visible news" in page.content and b"Distributor news" not in page.content


def test_vendor_creates_targeted_announcement_with_course(client_for, channel_manager):
    course = CourseFactory()
    tier = TierFactory(code="gold", rank=2)
    response = client_for(channel_manager).post(
        reverse("enablement:announcement_create"),
        {
            "title": "New price rules",
            "kind": "program_change",
            "body": "From July.",
            "course": course.pk,
            "take_by": "2030-01-31",
            "min_tier_rank": str(tier.rank),
            "target_models": ["distributor", "reseller"],
        },
    )
    assert response.status_code == 302
    a = Announcement.objects.get()
    assert a.program_model_list == ["distributor", "reseller"] and a.min_tier_rank == 2 and a.published_at


def test_take_by_without_course_is_a_field_error(client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("enablement:announcement_create"),
        {"title": "x", "kind": "product_update", "body": "y", "take_by": "2030-01-31"},
    )
    assert response.status_code == 200 and response.context["form"].errors["take_by"]
    assert not Announcement.objects.exists()


def test_partner_cannot_create_announcements(client_for, partner_admin):
    assert client_for(partner_admin).get(reverse("enablement:announcement_create")).status_code == 403


@pytest.mark.parametrize("size", [2, 20])
def test_announcement_list_query_count(client_for, partner_rep, channel_manager, size, django_assert_max_num_queries):
    course = CourseFactory()
    for i in range(size):
        AnnouncementFactory(course=course if i % 2 else None)
    for user in (partner_rep, channel_manager):
        client = client_for(user)
        with django_assert_max_num_queries(8):
            response = client.get(reverse("enablement:announcements"))
        assert len(response.context["announcements"]) == size
