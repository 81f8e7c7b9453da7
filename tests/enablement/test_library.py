import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from partners.enablement import selectors, services
from partners.enablement.models import (
    LibraryVisit,
    Resource,
    ResourceDownload,
    ResourceVersion,
    validate_enablement_file,
)
from partners.models import ProgramModel
from tests.partners.factories import PartnerFactory, TierFactory
from tests.prm.factories import PartnerUserFactory

from .factories import ResourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(db):
    return {
        "silver": TierFactory(code="silver", name="Silver", rank=1),
        "gold": TierFactory(code="gold", name="Gold", rank=2),
        "platinum": TierFactory(code="platinum", name="Platinum", rank=3),
    }


def targeted(*, models=(), min_rank=None, **kwargs):
    r = ResourceFactory(min_tier_rank=min_rank, **kwargs)
    r.set_program_models(models)
    r.save()
    return r


def visible_titles(user):
    return set(selectors.resource_list(viewer=user).values_list("title", flat=True))


@pytest.mark.parametrize(
    ("program_model", "tier", "expected"),
    [
        (ProgramModel.DISTRIBUTOR, "platinum", {"everyone", "distributors", "gold+", "gold+ distributors"}),
        (ProgramModel.DISTRIBUTOR, "gold", {"everyone", "distributors", "gold+", "gold+ distributors"}),
        (ProgramModel.DISTRIBUTOR, "silver", {"everyone", "distributors"}),
        (ProgramModel.DISTRIBUTOR, None, {"everyone", "distributors"}),
        (ProgramModel.FULL_CYCLE, "gold", {"everyone", "gold+"}),
        (ProgramModel.FRANCHISE, None, {"everyone"}),
    ],
)
def test_library_visibility_by_program_model_and_tier(tiers, program_model, tier, expected):
    targeted(title="everyone")
    targeted(title="distributors", models=[ProgramModel.DISTRIBUTOR])
    targeted(title="gold+", min_rank=2)
    targeted(title="gold+ distributors", models=[ProgramModel.DISTRIBUTOR, ProgramModel.RESELLER], min_rank=2)
    partner = PartnerFactory(program_model=program_model, tier=tiers[tier] if tier else None)
    user = PartnerUserFactory(partner=partner)
    assert visible_titles(user) == expected


def test_vendor_sees_everything_and_archived_hidden_from_partners(channel_manager, partner_rep):
    targeted(title="distributors", models=[ProgramModel.DISTRIBUTOR])
    targeted(title="archived", is_archived=True)
    ResourceFactory(title="draft", version=False)
    assert visible_titles(channel_manager) == {"distributors"}
    assert visible_titles(partner_rep) == set()  # a full-cycle partner


def test_hidden_resource_detail_and_download_answer_404(client_for, partner_rep):
    hidden = targeted(title="distributors", models=[ProgramModel.DISTRIBUTOR])
    client = client_for(partner_rep)
    assert client.get(reverse("enablement:resource_detail", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("enablement:resource_download", args=[hidden.pk])).status_code == 404
    assert not ResourceDownload.objects.exists()


def test_download_counts_per_partner_and_vendor_sees_stats(
    client_for, partner_rep, partner_admin, other_partner_rep, channel_manager
):
    resource = ResourceFactory()
    url = reverse("enablement:resource_download", args=[resource.pk])
    for user, times in ((partner_rep, 2), (partner_admin, 1), (other_partner_rep, 1)):
        client = client_for(user)
        for _ in range(times):
            response = client.get(url)
            assert response.status_code == 302
            assert response["Location"] == resource.current_version.url
    client_for(channel_manager).get(url)  # vendor downloads are not partner downloads
    counts = dict(ResourceDownload.objects.values_list("partner__name", "count"))
    assert counts == {partner_rep.partner.name: 3, other_partner_rep.partner.name: 1}
    row = selectors.resource_list(viewer=channel_manager).get(pk=resource.pk)
    assert (row.download_total, row.download_partners) == (4, 2)
    page = client_for(channel_manager).get(reverse("enablement:resource_detail", args=[resource.pk]))
    assert [s.count for s in page.context["stats"]] == [3, 1]


def test_file_download_is_streamed_after_the_access_check(client_for, partner_rep, channel_manager):
    resource = services.resource_create(
        actor=channel_manager,
        fields={"title": "Deck", "kind": "presentation"},
        file=SimpleUploadedFile("deck.pdf", b"%PDF-1.4 data"),
    )
    response = client_for(partner_rep).get(reverse("enablement:resource_download", args=[resource.pk]))
    # Streamed by Django, never a public media URL: the file stays private to the audiences targeted.
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 data"
    assert 'filename="deck' in response["Content-Disposition"]


def _create_payload(**extra):
    return {"title": "Price list Q3", "kind": "price_list", "language": "ru", "target_models": ["distributor"], **extra}


def test_publish_resource_with_file_through_the_form(client_for, channel_manager, tiers):
    response = client_for(channel_manager).post(
        reverse("enablement:resource_create"),
        _create_payload(min_tier_rank="2", file=SimpleUploadedFile("prices.xlsx", b"cells")),
    )
    assert response.status_code == 302
    resource = Resource.objects.get()
    assert resource.program_model_list == ["distributor"]
    assert resource.min_tier_rank == 2
    assert resource.current_version.number == 1 and resource.current_version.file.name.endswith(".xlsx")


def test_wrong_file_type_is_a_field_error_and_nothing_is_saved(client_for, channel_manager):
    response = client_for(channel_manager).post(
        reverse("enablement:resource_create"), _create_payload(file=SimpleUploadedFile("run.exe", b"MZ"))
    )
    assert response.status_code == 200
    assert "Unsupported file type" in str(response.context["version_form"].errors["file"])
    assert not Resource.objects.exists() and not ResourceVersion.objects.exists()


def test_too_large_file_is_a_field_error_and_nothing_is_saved(client_for, channel_manager, monkeypatch):
    monkeypatch.setattr(validate_enablement_file, "max_bytes", 10)
    response = client_for(channel_manager).post(
        reverse("enablement:resource_create"), _create_payload(file=SimpleUploadedFile("big.pdf", b"x" * 11))
    )
    assert response.status_code == 200
    assert "larger than 50 MB" in str(response.context["version_form"].errors["file"])
    assert not Resource.objects.exists()


def test_file_or_link_is_required(client_for, channel_manager):
    response = client_for(channel_manager).post(reverse("enablement:resource_create"), _create_payload())
    assert response.status_code == 200
    assert response.context["version_form"].non_field_errors()
    assert not Resource.objects.exists()


def test_partner_cannot_publish(client_for, partner_admin):
    assert client_for(partner_admin).post(reverse("enablement:resource_create"), _create_payload()).status_code == 403


def test_new_version_replaces_the_current_one_and_keeps_history(client_for, channel_manager, partner_rep):
    resource = ResourceFactory()
    first = resource.current_version
    response = client_for(channel_manager).post(
        reverse("enablement:resource_version", args=[resource.pk]),
        {"file": SimpleUploadedFile("guide-v2.docx", b"v2"), "notes": "Updated for 5.0"},
    )
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.current_version.number == 2 and resource.current_version.notes == "Updated for 5.0"
    assert list(resource.versions.values_list("number", flat=True)) == [2, 1]
    assert ResourceVersion.objects.filter(pk=first.pk).exists()
    download = client_for(partner_rep).get(reverse("enablement:resource_download", args=[resource.pk]))
    assert "guide-v2" in download["Content-Disposition"]


def test_bad_new_version_keeps_the_current_one(client_for, channel_manager):
    resource = ResourceFactory()
    response = client_for(channel_manager).post(
        reverse("enablement:resource_version", args=[resource.pk]), {"file": SimpleUploadedFile("x.bat", b"x")}
    )
    assert response.status_code == 200
    assert response.context["version_form"].errors["file"]
    resource.refresh_from_db()
    assert resource.current_version.number == 1 and resource.versions.count() == 1


def test_new_since_last_visit(client_for, partner_rep, channel_manager):
    now = timezone.now()
    old = ResourceFactory(title="old", published_at=now - datetime.timedelta(days=3))
    client = client_for(partner_rep)
    first = client.get(reverse("enablement:library"))
    assert [r.is_new for r in first.context["resources"]] == [False]  # first visit: nothing flagged
    # Pretend the first visit was an hour ago.
    LibraryVisit.objects.filter(user=partner_rep).update(visited_at=now - datetime.timedelta(hours=1))
    ResourceFactory(title="fresh", published_at=now - datetime.timedelta(minutes=30))
    ResourceFactory(title="stale", published_at=now - datetime.timedelta(hours=2))
    services.resource_version_add(actor=channel_manager, resource=old, url="https://files.example/old-v2.pdf")
    second = client.get(reverse("enablement:library"))
    flags = {r.title: r.is_new for r in second.context["resources"]}
    assert flags == {"old": True, "fresh": True, "stale": False}
    assert b">New</span>" in second.content
    third = client.get(reverse("enablement:library"))
    assert not any(r.is_new for r in third.context["resources"])


@pytest.mark.parametrize("size", [3, 25])
def test_library_query_count_is_constant(client_for, partner_rep, channel_manager, size, django_assert_max_num_queries):
    for i in range(size):
        r = ResourceFactory(title=f"R{i}")
        ResourceDownload.objects.create(resource=r, partner=partner_rep.partner, count=2, last_at=timezone.now())
    for user in (partner_rep, channel_manager):
        client = client_for(user)
        client.get(reverse("enablement:library"))  # the first visit also creates the visit row
        with django_assert_max_num_queries(12):
            response = client.get(reverse("enablement:library"))
        assert len(response.context["resources"]) == size


def test_anonymous_is_redirected_to_login(client):
    response = client.get(reverse("enablement:library"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_edit_resource_targeting(client_for, channel_manager, tiers):
    resource = targeted(title="deck", models=[ProgramModel.DISTRIBUTOR])
    client = client_for(channel_manager)
    page = client.get(reverse("enablement:resource_edit", args=[resource.pk]))
    assert page.status_code == 200 and page.context["form"].initial["target_models"] == ["distributor"]
    response = client.post(
        reverse("enablement:resource_edit", args=[resource.pk]),
        {"title": "deck 2", "kind": "presentation", "language": "en", "min_tier_rank": "3"},
    )
    assert response.status_code == 302
    resource.refresh_from_db()
    assert (resource.title, resource.program_models, resource.min_tier_rank) == ("deck 2", "", 3)
