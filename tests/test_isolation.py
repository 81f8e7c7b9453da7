"""Tenant isolation matrix: every URL pattern × partner-side roles × another partner's objects.

Partner B's private data all carry the marker LEAK_MARKER (names, titles, notes, subjects...). For every URL
pattern in the URL conf — so a new endpoint is covered the moment it exists — and every id of one of B's
objects, other partners' staff, a distributor and a reseller of another network, and anonymous visitors
request the page: no response may contain the marker. Then they POST to every object URL: B's rows must be
unchanged.
"""

import datetime
import hashlib
import re
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from kpi.models import CommissionEntry, EntryKind, TierChange, TierChangeKind
from leads.models import Activity, LeadSource, Offer, OfferStatus, Registration, RegistrationStatus, Stage
from partners.enablement.models import RequestMessage
from partners.models import CustomerReview, ProgramModel, ReviewStatus
from prm.models import AuditEvent, Notification, Role
from tests.enablement.factories import PartnerRequestFactory
from tests.leads.factories import CustomerFactory, LeadFactory
from tests.partners.factories import AgreementFactory, PartnerContactFactory, PartnerFactory
from tests.prm.factories import PartnerUserFactory
from tests.training.factories import CertificationFactory, CourseFactory, EnrollmentFactory

LEAK_MARKER = "LEAKB"
# Prefixes that are not the portal's own pages: Django's admin (staff only, its own permission system),
# static files and the language switch.
SKIPPED_PREFIXES = ("admin/", "static/", "media/", "i18n/")


def _walk(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def url_patterns():
    """(route, pattern, [converter names]) for every URL of the portal."""
    found = []
    for route, pattern in _walk(get_resolver()):
        if route.startswith(SKIPPED_PREFIXES):
            continue
        found.append((route, pattern, _converters(route)))
    return found


def _converters(route: str) -> list[tuple[str, str]]:
    """[(converter, name)] of a route's path arguments, e.g. [("int", "pk")]."""
    return re.findall(r"<(?:(\w+):)?(\w+)>", route)


def _fill(route: str, converters, value) -> str | None:
    """Substitute every <int:...> argument with value; None when the route needs another kind of argument."""
    path = route
    for converter, name in converters:
        if converter != "int":
            return None
        path = path.replace(f"<int:{name}>", str(value))
    if "(?P" in path or path.startswith("^"):
        return None
    return "/" + path


@pytest.fixture
def world(db):
    """Partner B with private data marked LEAK_MARKER; returns B and the ids of B's objects."""
    now = timezone.now()
    b = PartnerFactory(name="Beta Systems", program_model=ProgramModel.FULL_CYCLE)
    b_admin = PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=b, first_name=f"{LEAK_MARKER}Admin")
    b_engineer = PartnerUserFactory(role=Role.PARTNER_ENGINEER, partner=b, first_name=f"{LEAK_MARKER}Engineer")
    contact = PartnerContactFactory(partner=b, name=f"{LEAK_MARKER} Contact", email="leakb@beta.example")
    agreement = AgreementFactory(partner=b, number=f"{LEAK_MARKER}-AG-1", commission_plan=f"{LEAK_MARKER} plan")
    customer = CustomerFactory(name=f"{LEAK_MARKER} Customer Ltd", normalized_name="leakb customer")
    deal = LeadFactory(
        partner=b, owner=b_admin, customer=customer, title=f"{LEAK_MARKER} deal", notes=f"{LEAK_MARKER} notes"
    )
    registration = Registration.objects.create(
        lead=deal,
        partner=b,
        submitted_by=b_admin,
        status=RegistrationStatus.APPROVED,
        protected_from=now,
        protected_until=now + datetime.timedelta(days=90),
        decision_reason=f"{LEAK_MARKER} approved",
    )
    activity = Activity.objects.create(
        lead=deal, partner=b, user=b_admin, kind="call", occurred_at=now, subject=f"{LEAK_MARKER} call"
    )
    vendor_lead = LeadFactory(
        partner=None,
        customer=CustomerFactory(name=f"{LEAK_MARKER} Offered Co"),
        title=f"{LEAK_MARKER} offered",
        source=LeadSource.VENDOR,
        stage=Stage.OFFERED,
    )
    offer = Offer.objects.create(
        lead=vendor_lead,
        partner=b,
        status=OfferStatus.PENDING,
        offered_at=now,
        deadline=now + datetime.timedelta(hours=4),
    )
    won = LeadFactory(partner=b, title=f"{LEAK_MARKER} won", stage=Stage.WON, won_at=now, closed_at=now)
    review = CustomerReview.objects.create(
        lead=won,
        partner=b,
        status=ReviewStatus.SUBMITTED,
        rating=5,
        text=f"{LEAK_MARKER} review",
        author_name=f"{LEAK_MARKER} Author",
        submitted_at=now,
    )
    certification = CertificationFactory(user=b_engineer, partner=b)
    enrollment = EnrollmentFactory(user=b_engineer, partner=b, course=CourseFactory(title="Public course"))
    request = PartnerRequestFactory(partner=b, opened_by=b_admin, subject=f"{LEAK_MARKER} request")
    message = RequestMessage.objects.create(
        request=request, author=b_admin, body=f"{LEAK_MARKER} body", from_vendor=False
    )
    entry = CommissionEntry.objects.create(
        partner=b,
        lead=won,
        kind=EntryKind.ACCRUAL,
        entry_date=now.date(),
        amount=Decimal("1000"),
        currency="RUB",
        amount_reporting=Decimal("1000"),
        description=f"{LEAK_MARKER} commission",
        source_key="leak:1",
    )
    change = TierChange.objects.create(
        partner=b, kind=TierChangeKind.MANUAL, effective_on=now.date(), reason=f"{LEAK_MARKER} reason"
    )
    notification = Notification.objects.create(user=b_admin, kind="system", title=f"{LEAK_MARKER} notification")
    audit = AuditEvent.objects.create(
        action="partner.note",
        partner=b,
        reason=f"{LEAK_MARKER} audit",
        content_type=ContentType.objects.get_for_model(b),
        object_id=str(b.pk),
    )
    from leads.delivery import services as delivery
    from tests.leads.delivery_factories import ServiceContractFactory

    implementation = delivery.implementation_open(lead=won, actor=b_admin)
    milestone = delivery.milestone_add(
        implementation=implementation, actor=b_admin, title=f"{LEAK_MARKER} milestone", due_on=now.date()
    )
    contract = ServiceContractFactory(partner=b, customer=won.customer, number=f"{LEAK_MARKER}-SC")
    ticket = delivery.ticket_open(contract=contract, actor=b_admin, title=f"{LEAK_MARKER} ticket")
    owned = [
        implementation,
        milestone,
        contract,
        ticket,
        b,
        b_admin,
        b_engineer,
        contact,
        agreement,
        customer,
        deal,
        registration,
        activity,
        vendor_lead,
        offer,
        won,
        review,
        certification,
        enrollment,
        request,
        message,
        entry,
        change,
        notification,
        audit,
    ]
    return {"partner": b, "objects": owned, "ids": sorted({o.pk for o in owned})}


def _fingerprint(objects) -> str:
    """A digest of B's rows as stored; any write through a foreign partner's request changes it."""
    digest = hashlib.sha256()
    for obj in objects:
        row = type(obj).objects.filter(pk=obj.pk).values().first()
        digest.update(repr((type(obj).__name__, obj.pk, sorted((row or {}).items()))).encode())
    return digest.hexdigest()


@pytest.fixture
def intruders(db):
    """Everyone on the partner side who is not B: another partner's admin and rep, a distributor and its reseller."""
    a = PartnerFactory(name="Alpha Integrator")
    distributor = PartnerFactory(name="Delta Distribution", program_model=ProgramModel.DISTRIBUTOR)
    reseller = PartnerFactory(name="Rho Reseller", program_model=ProgramModel.RESELLER, parent=distributor)
    return {
        "other partner admin": PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=a),
        "other partner rep": PartnerUserFactory(role=Role.PARTNER_SALES, partner=a),
        "distributor admin": PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=distributor),
        "reseller admin": PartnerUserFactory(role=Role.PARTNER_ADMIN, partner=reseller),
    }


def _urls(ids):
    plain, with_ids = [], []
    for route, _pattern, converters in url_patterns():
        if not converters:
            path = _fill(route, {}, None)
            if path:
                plain.append(path)
            continue
        for pk in ids:
            path = _fill(route, converters, pk)
            if path:
                with_ids.append(path)
    return plain, with_ids


def _leaks(response) -> bool:
    if response.status_code >= 300 or response.get("Content-Type", "").startswith(("application/pdf", "image/")):
        return False
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return LEAK_MARKER.encode() in body


def test_url_walk_covers_the_portal():
    routes = [route for route, _p, _c in url_patterns()]
    assert len(routes) > 40
    for expected in ("deals/<int:pk>/", "partners/<int:pk>/", "training/", "kpi/scorecard/"):
        assert expected in routes


# One test per visitor (the matrix is the same; separate tests let pytest-xdist spread it over the workers).
VISITORS = ["anonymous", "other partner admin", "other partner rep", "distributor admin", "reseller admin"]
POSTERS = ["anonymous", "other partner admin"]


def _visit_as(client, intruders, label):
    assert set(VISITORS) == {"anonymous", *intruders}, "every intruder is a visitor of the matrix"
    client.logout()
    if label != "anonymous":
        client.force_login(intruders[label])


@pytest.mark.parametrize("label", VISITORS)
def test_no_page_shows_another_partners_private_data(client, world, intruders, label):
    plain, with_ids = _urls(world["ids"])
    leaks = []
    _visit_as(client, intruders, label)
    for path in plain + with_ids:
        response = client.get(path)
        assert response.status_code < 500, f"{label} GET {path} -> {response.status_code}"
        if _leaks(response):
            leaks.append(f"{label} GET {path}")
    assert not leaks, "another partner's data leaked:\n" + "\n".join(leaks)


@pytest.mark.parametrize("label", POSTERS)
def test_no_post_changes_another_partners_objects(client, world, intruders, label):
    _plain, with_ids = _urls(world["ids"])
    before = _fingerprint(world["objects"])
    _visit_as(client, intruders, label)
    for path in with_ids:
        response = client.post(path, {"reason": "take it", "to_status": "active", "stage": "won"})
        assert response.status_code < 500, f"{label} POST {path} -> {response.status_code}"
        assert _fingerprint(world["objects"]) == before, f"{label} POST {path} changed partner B's data"


def test_the_marker_is_visible_where_it_should_be(client, world, channel_manager):
    """Guards the matrix itself: B's own staff and the vendor do see the marked data."""
    deal = next(o for o in world["objects"] if getattr(o, "title", "") == f"{LEAK_MARKER} deal")
    client.force_login(channel_manager)
    assert _leaks(client.get(f"/deals/{deal.pk}/"))
    client.force_login(world["partner"].staff.get(role=Role.PARTNER_ADMIN))
    assert _leaks(client.get("/deals/"))
