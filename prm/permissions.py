"""The one home of access rules; views, the API and the admin all ask here."""

from functools import wraps

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from .models import PARTNER_ROLES, VENDOR_ROLES, Role


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


class VendorAdminRequiredMixin(_RoleRequiredMixin):
    def has_role(self, user):
        return is_vendor_admin(user)


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
