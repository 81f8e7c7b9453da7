"""Links for customers without an account: the status page (signed, expiring, revocable), the one-time go-live
sign-off and the one-time rating of a resolved ticket.

Each URL carries a value signed with the site's secret under its own salt, so a link of one kind never opens
another kind's page and a guessed id opens nothing. The status link's row decides expiry and revocation; sign-off
and rating are one-time because the service refuses a second sign-off or rating.
"""

import secrets
from datetime import timedelta

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from prm.permissions import is_partner_user, is_vendor
from prm.services import audit_record

from .models import CustomerLink, Implementation, ServiceContract, Ticket

STATUS_SALT = "leads.delivery.status"
SIGNOFF_SALT = "leads.delivery.signoff"
RATING_SALT = "leads.delivery.rating"
SIGNOFF_MAX_AGE = timedelta(days=60)
RATING_MAX_AGE = timedelta(days=30)
MAX_LINK_DAYS = 365


class LinkInvalid(Exception):
    """The link is unknown, altered, expired or revoked (the page answers 404 without saying which)."""


def customer_link_issue(*, customer, partner, actor, days: int = 30, email: str = "") -> tuple[CustomerLink, str]:
    """A status link for one customer's implementations and tickets with one partner; returns the link and token."""
    if not (is_vendor(actor) or (is_partner_user(actor) and actor.partner_id == partner.pk)):
        raise ValidationError(_("Only the partner's staff or the vendor can share this customer's status page."))
    if not 1 <= days <= MAX_LINK_DAYS:
        raise ValidationError({"days": _("A link lasts 1 to %(n)s days.") % {"n": MAX_LINK_DAYS}})
    served = (
        ServiceContract.objects.filter(customer=customer, partner=partner).exists()
        or Implementation.objects.filter(customer=customer, partner=partner).exists()
    )
    if not served:
        raise ValidationError(_("The partner has no contract or implementation with this customer."))
    with transaction.atomic():
        link = CustomerLink.objects.create(
            customer=customer,
            partner=partner,
            nonce=secrets.token_hex(16),
            email=email,
            created_by=actor,
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit_record(actor=actor, action="customer_link.issued", target=link, partner=partner, data={"days": days})
    return link, customer_link_token(link=link)


def customer_link_token(*, link: CustomerLink) -> str:
    return signing.dumps([link.pk, link.nonce], salt=STATUS_SALT)


def customer_link_resolve(*, token: str) -> CustomerLink:
    try:
        pk, nonce = signing.loads(token, salt=STATUS_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkInvalid from None
    link = CustomerLink.objects.select_related("customer", "partner").filter(pk=pk, nonce=nonce).first()
    now = timezone.now()
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        raise LinkInvalid
    if link.last_used_at is None or now - link.last_used_at > timedelta(minutes=5):
        CustomerLink.objects.filter(pk=link.pk).update(last_used_at=now)
    return link


def customer_link_revoke(*, link: CustomerLink, actor) -> CustomerLink:
    with transaction.atomic():
        if link.revoked_at is None:
            link.revoked_at = timezone.now()
            link.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="customer_link.revoked", target=link, partner=link.partner)
    return link


def signoff_token(*, implementation: Implementation) -> str:
    return signing.dumps(implementation.pk, salt=SIGNOFF_SALT)


def signoff_resolve(*, token: str) -> Implementation:
    try:
        pk = signing.loads(token, salt=SIGNOFF_SALT, max_age=SIGNOFF_MAX_AGE)
        return Implementation.objects.select_related("customer", "partner", "lead").get(pk=int(pk))
    except (signing.BadSignature, ValueError, TypeError, Implementation.DoesNotExist):
        raise LinkInvalid from None


def rating_token(*, ticket: Ticket) -> str:
    return signing.dumps(ticket.pk, salt=RATING_SALT)


def rating_resolve(*, token: str) -> Ticket:
    try:
        pk = signing.loads(token, salt=RATING_SALT, max_age=RATING_MAX_AGE)
        return Ticket.objects.select_related("partner").get(pk=int(pk))
    except (signing.BadSignature, ValueError, TypeError, Ticket.DoesNotExist):
        raise LinkInvalid from None
