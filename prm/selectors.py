"""Who to tell: the people the core's notifications and escalations go to."""

from django.db.models import QuerySet

from .models import VENDOR_ROLES, Role, User


def channel_managers() -> QuerySet[User]:
    return User.objects.filter(role=Role.CHANNEL_MANAGER, is_active=True)


def partner_admins(*, partner) -> QuerySet[User]:
    return User.objects.filter(partner=partner, role=Role.PARTNER_ADMIN, is_active=True)


def partners_admins(*, partner_ids) -> QuerySet[User]:
    """The admins of many partners at once (`partner_admins` for a batch)."""
    return User.objects.filter(partner_id__in=partner_ids, role=Role.PARTNER_ADMIN, is_active=True)


def escalation_recipients() -> list[User]:
    """Who hears about overdue work: the channel leads, or the vendor admins when no lead is named."""
    leads = list(User.objects.filter(is_active=True, is_channel_lead=True, role__in=VENDOR_ROLES))
    return leads or list(User.objects.filter(is_active=True, role=Role.VENDOR_ADMIN))
