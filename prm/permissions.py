"""The one home of access rules; views, the API and the admin all ask here."""

from functools import wraps

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from .models import PARTNER_ROLES, VENDOR_ROLES, Role


def partner_has_access(partner) -> bool:
    """No partner (vendor staff, vendor-wide keys) or a partner whose status allows access (Partner.has_access)."""
    return partner is None or partner.has_access


def has_access(user) -> bool:
    """The one rule for signing in, every portal request (prm.auth.PortalBackend) and every API key's creator
    (prm.api_auth): an active account whose partner, if any, may use the portal. Reactivation restores access."""
    return bool(user is not None and user.is_active and partner_has_access(user.partner if user.partner_id else None))


def mfa_required(user) -> bool:
    """Who must sign in with a second factor (TOTP or a security key) to use the portal at all."""
    return is_vendor_admin(user)


def has_mfa(user) -> bool:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import is_mfa_enabled

    return bool(
        user.is_authenticated and is_mfa_enabled(user, types=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN])
    )


def can_manage_api_keys(user) -> bool:
    """Partner and vendor admins, with a second factor set up: a key is a long-lived credential."""
    return (is_partner_admin(user) or is_vendor_admin(user)) and has_mfa(user)


def is_vendor(user) -> bool:
    return bool(user and user.is_authenticated and user.role in VENDOR_ROLES)


def is_vendor_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.VENDOR_ADMIN)


def is_partner_user(user) -> bool:
    return bool(user and user.is_authenticated and user.role in PARTNER_ROLES and user.partner_id)


def is_partner_admin(user) -> bool:
    return is_partner_user(user) and user.role == Role.PARTNER_ADMIN


def can_sell(user) -> bool:
    """Registering deals, accepting offers, logging activities: sales reps and partner admins."""
    return is_partner_user(user) and user.role in (Role.PARTNER_ADMIN, Role.PARTNER_SALES)


def scope_for(qs: QuerySet, viewer) -> QuerySet:
    """The one visibility predicate: vendor staff see every row, partner staff the rows their partner may see,
    anyone else nothing. Portal selectors and the API base viewset both call it.

    Which rows a partner may see is the model's business, stated on its queryset (`ScopedQuerySet.of_partner`):
    its own rows by default; co-sold deals, the customers of visible deals, its own partner row or a vendor
    catalogue where the app says so. The core imports no app: the apps bring their querysets.
    """
    if is_vendor(viewer):
        return qs
    if is_partner_user(viewer):
        of_partner = getattr(qs, "of_partner", None)
        return of_partner(viewer.partner_id) if of_partner else qs.filter(partner_id=viewer.partner_id)
    return qs.none()


class ScopedQuerySet(QuerySet):
    """Queryset of a model whose rows partners see selectively; subclasses override `of_partner`."""

    def of_partner(self, partner_id: int) -> QuerySet:
        """The rows the partner's staff may see (vendor staff see all)."""
        return self.filter(partner_id=partner_id)

    def visible_to(self, viewer) -> QuerySet:
        return scope_for(self, viewer)


class CatalogueQuerySet(ScopedQuerySet):
    """The vendor's catalogues (tiers, ...): every signed-in viewer reads all of them."""

    def of_partner(self, partner_id: int) -> QuerySet:
        return self


class _RoleRequiredMixin(AccessMixin):
    """Anonymous users go to the login page; signed-in users without the role get 403."""

    def has_role(self, user) -> bool:
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not self.has_role(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class VendorRequiredMixin(_RoleRequiredMixin):
    def has_role(self, user):
        return is_vendor(user)


class PartnerRequiredMixin(_RoleRequiredMixin):
    def has_role(self, user):
        return is_partner_user(user)


class PartnerAdminRequiredMixin(_RoleRequiredMixin):
    def has_role(self, user):
        return is_partner_admin(user)


class SellerRequiredMixin(_RoleRequiredMixin):
    def has_role(self, user):
        return can_sell(user)


class SignedInMixin(_RoleRequiredMixin):
    def has_role(self, user):
        return is_vendor(user) or is_partner_user(user)


def role_required(check):
    """Function-view form of the mixins: `@role_required(is_vendor)`."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
