"""API keys: creation and revocation (services), bearer authentication, scope permission and per-key throttling.

A key reads `prm_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key is compared in
constant time. The plain key exists only in the response to its creation.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from .models import ApiKey, IdempotencyRecord, Role, User
from .permissions import has_access, is_partner_admin, is_vendor_admin, partner_has_access
from .services import audit_record, rate_limit_consume

# Resources a key can be granted; each takes ":read" and/or ":write".
API_RESOURCES = (
    "partners",
    "contacts",
    "tiers",
    "certifications",
    "customers",
    "leads",
    "registrations",
    "activities",
    "offers",
    "courses",
    "enrollments",
    "kpi_snapshots",
    "tier_changes",
    "commission_entries",
    "implementations",
    "service_contracts",
    "tickets",
    "checkins",
    "statements",
    "mdf_requests",
    "mdf_claims",
    "disputes",
    "vendor_requests",
)
ALL_SCOPES = tuple(f"{r}:{a}" for r in API_RESOURCES for a in ("read", "write"))
LAST_USED_RESOLUTION = timedelta(minutes=1)
IDEMPOTENCY_TTL = timedelta(hours=24)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class KeyViewer:
    """What a key acts as for the shared access rules (prm.permissions.scope_for, selectors' `viewer=`)."""

    partner_id: int | None
    user: User | None

    is_authenticated = True
    is_active = True
    pk = None

    @property
    def role(self) -> str:
        return Role.PARTNER_ADMIN if self.partner_id else Role.VENDOR_ADMIN


def key_viewer(key: ApiKey) -> KeyViewer:
    return KeyViewer(partner_id=key.partner_id, user=key.created_by)


def api_key_create(
    *, created_by: User, name: str, scopes: list[str], partner=None, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Returns the key and its plain text, which is never stored. Partner admins get keys for their own partner."""
    if is_partner_admin(created_by):
        partner = created_by.partner
    elif not is_vendor_admin(created_by):
        raise exceptions.PermissionDenied(_("Only partner admins and vendor admins create API keys."))
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        from django.core.exceptions import ValidationError

        raise ValidationError({"scopes": [_("Unknown scopes: %s") % ", ".join(unknown)]})
    prefix = secrets.token_hex(6)
    raw = f"prm_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey(
            name=name,
            prefix=prefix,
            key_hash=_hash(raw),
            partner=partner,
            created_by=created_by,
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        key.full_clean()
        key.save()
        audit_record(
            actor=created_by,
            action="api_key.created",
            target=key,
            partner=partner,
            data={"name": name, "prefix": prefix, "scopes": key.scopes, "expires_at": str(expires_at or "")},
        )
    return key, raw


def api_key_revoke(*, key: ApiKey, actor: User) -> ApiKey:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.revoked_by = actor
            key.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(actor=actor, action="api_key.revoked", target=key, partner=key.partner)
    return key


def api_keys_for(*, viewer: User):
    """Keys a portal user manages: partner admins their partner's, vendor admins all."""
    qs = ApiKey.objects.select_related("partner", "created_by__partner")
    if is_vendor_admin(viewer):
        return qs
    if is_partner_admin(viewer):
        return qs.filter(partner_id=viewer.partner_id)
    return qs.none()


class KeyState:
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    PARTNER_BLOCKED = "partner_blocked"
    CREATOR_DEACTIVATED = "creator_deactivated"


KEY_STATE_LABELS = {
    KeyState.ACTIVE: gettext_lazy("active"),
    KeyState.REVOKED: gettext_lazy("revoked"),
    KeyState.EXPIRED: gettext_lazy("expired"),
    KeyState.PARTNER_BLOCKED: gettext_lazy("disabled: the partner is suspended or terminated"),
    KeyState.CREATOR_DEACTIVATED: gettext_lazy("disabled: its creator is deactivated (re-assign it)"),
}


def api_key_state(*, key: ApiKey, now: datetime | None = None) -> str:
    """Whether a key works, and if not why. Access follows prm.permissions.has_access: its partner must not be
    suspended or terminated and the user it belongs to (creator, or whom it was re-assigned to) must be active."""
    now = now or timezone.now()
    if key.revoked_at is not None:
        return KeyState.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return KeyState.EXPIRED
    if not partner_has_access(key.partner):
        return KeyState.PARTNER_BLOCKED
    if not has_access(key.created_by):
        return KeyState.CREATOR_DEACTIVATED
    return KeyState.ACTIVE


def api_key_reassign(*, key: ApiKey, to_user: User, actor: User) -> ApiKey:
    """Hand a key to another admin who could have created it, e.g. before its creator leaves or after."""
    allowed = is_vendor_admin(to_user) or (is_partner_admin(to_user) and to_user.partner_id == key.partner_id)
    if not allowed or not has_access(to_user):
        from django.core.exceptions import ValidationError

        raise ValidationError({"to_user": [_("Choose an active admin who may manage this key.")]})
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        previous = key.created_by_id
        key.created_by = to_user
        key.save(update_fields=["created_by"])
        audit_record(
            actor=actor,
            action="api_key.reassigned",
            target=key,
            partner=key.partner,
            data={"from_user": previous, "to_user": to_user.pk},
        )
    return key


def api_key_reassign_candidates(*, key: ApiKey):
    """Active admins a key may be re-assigned to."""
    qs = User.objects.filter(is_active=True).select_related("partner")
    if key.partner_id:
        qs = qs.filter(Q(role=Role.VENDOR_ADMIN) | Q(role=Role.PARTNER_ADMIN, partner_id=key.partner_id))
    else:
        qs = qs.filter(role=Role.VENDOR_ADMIN)
    return [u for u in qs if has_access(u)]


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "prm":
        return None
    key = ApiKey.objects.select_related("partner", "created_by__partner").filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw)):
        return None
    now = timezone.now()
    if api_key_state(key=key, now=now) != KeyState.ACTIVE:
        return None
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        # At most one write a minute per key, whatever the request rate.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer prm_…`. request.user is a KeyViewer, request.auth the ApiKey."""

    keyword = "Bearer"

    max_header_length = 1024  # a key is ~60 characters; gunicorn passes headers up to 64 KiB (see Dockerfile)

    def authenticate(self, request):
        raw_header = authentication.get_authorization_header(request)
        if len(raw_header) > self.max_header_length:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        header = raw_header.split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        key = api_key_authenticate(raw=header[1].decode(errors="replace"))
        if key is None:
            raise exceptions.AuthenticationFailed(
                _("Invalid, expired, revoked or disabled API key (suspended partner or deactivated owner).")
            )
        return key_viewer(key), key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer prm_<prefix>_<secret>`"}


def required_scope(view, request) -> str | None:
    resource = getattr(view, "resource", None)
    if resource is None:
        return None
    action = getattr(view, "action", None)
    per_action = getattr(view, "action_scopes", {}).get(action)
    if per_action:
        return per_action
    return f"{resource}:{'read' if request.method in permissions.SAFE_METHODS else 'write'}"


class HasScope(permissions.BasePermission):
    """The key must hold `<resource>:read` for safe methods and `<resource>:write` for the others."""

    message = "This API key lacks the scope for this operation."

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        scope = required_scope(view, request)
        if scope is None:
            return True
        if scope not in key.scopes:
            self.message = f"This API key lacks the scope {scope!r}."
            return False
        return True


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Per key, in the shared cache: every process counts against the same limit with one atomic increment
    (DRF's own history list is read, changed and written back, so concurrent requests overwrote each other's
    counts and far more than the rate got through)."""

    scope = "api_key"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        return rate_limit_consume(bucket=self.key, limit=self.num_requests, window_seconds=self.duration, now=self.now)

    def wait(self):
        return self.duration - (self.now % self.duration)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return f"throttle:api_key:{request.auth.prefix}"
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def idempotency_records_purge(*, older_than: timedelta = IDEMPOTENCY_TTL) -> int:
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


@shared_task
def idempotency_records_purge_task() -> int:
    return idempotency_records_purge()
