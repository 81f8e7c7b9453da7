"""The partner admin's team page: invite colleagues, change roles, deactivate and reactivate accounts."""

import re
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from partners.services import (
    partner_user_deactivate,
    partner_user_invite,
    partner_user_reactivate,
    partner_user_role_set,
)
from prm.models import AuditEvent, Role, User
from tests.prm.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db

TEAM = reverse("partners:team")


def invite_data(**extra):
    data = {"email": "New.Colleague@Alpha.example", "first_name": "Nina", "last_name": "Petrova"}
    data |= {"role": Role.PARTNER_ENGINEER, **extra}
    return {f"invite-{k}": v for k, v in data.items()}


def test_page_lists_the_companys_accounts_only(client_for, partner_admin, partner_rep, other_partner_rep):
    partner_rep.is_active = False
    partner_rep.save()
    response = client_for(partner_admin).get(TEAM)
    assert response.status_code == 200
    assert list(response.context["team"]) == [partner_admin, partner_rep]  # active first
    html = response.content.decode()
    assert partner_rep.email in html and "deactivated" in html
    assert other_partner_rep.email not in html


@pytest.mark.parametrize("fixture", ["partner_rep", "partner_engineer", "channel_manager"])
def test_only_partner_admins_manage_the_team(client_for, request, partner_admin, fixture):
    client = client_for(request.getfixturevalue(fixture))
    assert client.get(TEAM).status_code == 403
    assert client.post(TEAM, invite_data()).status_code == 403
    url = reverse("partners:team_deactivate", args=[partner_admin.pk])
    assert client.post(url).status_code == 403
    assert User.objects.get(pk=partner_admin.pk).is_active


def test_another_partners_users_answer_404(client_for, partner_admin, other_partner_rep):
    client = client_for(partner_admin)
    for name, data in (("team_role", {"role": Role.PARTNER_ADMIN}), ("team_deactivate", {}), ("team_reactivate", {})):
        assert client.post(reverse(f"partners:{name}", args=[other_partner_rep.pk]), data).status_code == 404
    other_partner_rep.refresh_from_db()
    assert other_partner_rep.role == Role.PARTNER_SALES and other_partner_rep.is_active


def test_invite_creates_an_account_without_password_and_emails_the_link(
    client_for, partner_admin, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(partner_admin).post(TEAM, invite_data())
    assert response.status_code == 302
    user = User.objects.get(email="new.colleague@alpha.example")
    assert user.partner == partner_admin.partner and user.role == Role.PARTNER_ENGINEER and user.is_active
    assert user.get_full_name() == "Nina Petrova"
    assert not user.has_usable_password()
    (mail,) = mailoutbox
    assert mail.to == ["new.colleague@alpha.example"] and mail.subject == "Your partner portal account"
    assert partner_admin.partner.name in mail.body
    # The link is the onboarding's set-password page, and it works for the new account.
    path = re.search(r"https?://[^/]+(/password/set/\S+)", mail.body).group(1)
    page = client_for(partner_admin).get(path, follow=True)
    assert page.status_code == 200 and "new_password1" in page.content.decode()
    event = AuditEvent.objects.get(action="security.user_created", object_id=str(user.pk))
    assert event.actor == partner_admin and event.partner == partner_admin.partner
    assert event.data == {"email": user.email, "role": Role.PARTNER_ENGINEER}


def test_duplicate_email_is_a_field_error(client_for, partner_admin, other_partner_rep, mailoutbox):
    response = client_for(partner_admin).post(TEAM, invite_data(email=other_partner_rep.email.upper()))
    assert response.status_code == 200
    assert "email" in response.context["invite_form"].errors
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email__iexact=other_partner_rep.email).count() == 1
    assert not mailoutbox
    # A colleague's own (say, deactivated) account: the admin is pointed at it.
    partner_admin.partner.staff.create(email="gone@alpha.example", role=Role.PARTNER_SALES, is_active=False)
    response = client_for(partner_admin).post(TEAM, invite_data(email="Gone@alpha.example"))
    assert "reactivate" in response.context["invite_form"].errors["email"][0]


def test_invite_refuses_vendor_roles(partner_admin):
    with pytest.raises(ValidationError) as exc:
        partner_user_invite(
            partner=partner_admin.partner,
            actor=partner_admin,
            email="x@alpha.example",
            first_name="X",
            last_name="",
            role=Role.VENDOR_ADMIN,
        )
    assert "role" in exc.value.message_dict
    assert not User.objects.filter(email="x@alpha.example").exists()


def test_role_change_is_a_security_event(client_for, partner_admin, partner_rep):
    url = reverse("partners:team_role", args=[partner_rep.pk])
    assert client_for(partner_admin).post(url, {"role": Role.PARTNER_ADMIN}).status_code == 302
    partner_rep.refresh_from_db()
    assert partner_rep.role == Role.PARTNER_ADMIN
    event = AuditEvent.objects.get(action="security.role_changed", object_id=str(partner_rep.pk))
    assert event.actor == partner_admin and event.partner == partner_rep.partner
    assert event.data == {"role": Role.PARTNER_ADMIN, "from": Role.PARTNER_SALES}


def test_the_last_admin_cannot_step_down(client_for, partner_admin):
    url = reverse("partners:team_role", args=[partner_admin.pk])
    response = client_for(partner_admin).post(url, {"role": Role.PARTNER_SALES})
    assert response.status_code == 200
    assert "only active partner admin" in response.content.decode()
    partner_admin.refresh_from_db()
    assert partner_admin.role == Role.PARTNER_ADMIN
    assert not AuditEvent.objects.filter(action="security.role_changed").exists()


def test_an_admin_may_step_down_when_another_admin_remains(client_for, partner_admin, partner):
    PartnerUserFactory(partner=partner, role=Role.PARTNER_ADMIN)
    url = reverse("partners:team_role", args=[partner_admin.pk])
    response = client_for(partner_admin).post(url, {"role": Role.PARTNER_SALES})
    assert response.status_code == 302 and response.url == reverse("home")
    partner_admin.refresh_from_db()
    assert partner_admin.role == Role.PARTNER_SALES


def test_deactivated_admins_do_not_count_as_the_remaining_admin(partner_admin, partner):
    PartnerUserFactory(partner=partner, role=Role.PARTNER_ADMIN, is_active=False)
    with pytest.raises(ValidationError, match="only active partner admin"):
        partner_user_role_set(user=partner_admin, role=Role.PARTNER_ENGINEER, actor=partner_admin)


def test_deactivate_and_reactivate_a_colleague(client_for, partner_admin, partner_rep):
    rep = Client()
    rep.force_login(partner_rep)
    admin = client_for(partner_admin)
    assert admin.post(reverse("partners:team_deactivate", args=[partner_rep.pk])).status_code == 302
    partner_rep.refresh_from_db()
    assert not partner_rep.is_active
    # The colleague's open session ends at their next request.
    assert rep.get(reverse("leads:deal_list")).status_code == 302
    assert admin.post(reverse("partners:team_reactivate", args=[partner_rep.pk])).status_code == 302
    partner_rep.refresh_from_db()
    assert partner_rep.is_active
    actions = list(
        AuditEvent.objects.filter(object_id=str(partner_rep.pk), action__startswith="security.user_")
        .order_by("at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["security.user_deactivated", "security.user_reactivated"]


def test_nobody_deactivates_themselves(client_for, partner_admin, partner):
    PartnerUserFactory(partner=partner, role=Role.PARTNER_ADMIN)
    response = client_for(partner_admin).post(reverse("partners:team_deactivate", args=[partner_admin.pk]))
    assert response.status_code == 200 and "your own account" in response.content.decode()
    partner_admin.refresh_from_db()
    assert partner_admin.is_active


def test_the_service_rechecks_the_actor(partner_admin, partner_rep, partner):
    """A stale request (the actor lost the admin role meanwhile) is refused under the lock."""
    other_admin = PartnerUserFactory(partner=partner, role=Role.PARTNER_ADMIN)
    partner_user_role_set(user=partner_admin, role=Role.PARTNER_SALES, actor=other_admin)
    with pytest.raises(PermissionDenied):
        partner_user_deactivate(user=other_admin, actor=partner_admin)
    with pytest.raises(PermissionDenied):
        partner_user_reactivate(user=partner_rep, actor=partner_admin)
    other_admin.refresh_from_db()
    assert other_admin.is_active


def test_channel_manager_sees_the_team_read_only_on_the_partner_page(client_for, channel_manager, partner_rep):
    response = client_for(channel_manager).get(reverse("partners:detail", args=[partner_rep.partner_id]))
    html = response.content.decode()
    assert partner_rep.email in html
    assert not response.context["can_manage_team"] and TEAM not in html


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(postgres_only, partner_admin, partner):
    other = PartnerUserFactory(partner=partner, role=Role.PARTNER_ADMIN)
    barrier = threading.Barrier(2)
    results = []

    def demote(user, actor):
        try:
            barrier.wait()
            partner_user_role_set(user=user, role=Role.PARTNER_SALES, actor=actor)
            results.append("ok")
        except (PermissionDenied, ValidationError):
            results.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(other, partner_admin)),
        threading.Thread(target=demote, args=(partner_admin, other)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
    assert User.objects.filter(partner=partner, role=Role.PARTNER_ADMIN, is_active=True).count() == 1
