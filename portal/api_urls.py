"""/api/v1/ (CRM sync) and the portal pages that manage API keys and webhooks.

The composition: it names every app's syncable viewset and fills the core's registry (prm.api_base.SYNC_RESOURCES).
"""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from kpi.api import CommissionEntryViewSet, KpiSnapshotViewSet, TierChangeViewSet
from kpi.funds.api import FundClaimViewSet, FundRequestViewSet
from kpi.payouts.api import StatementViewSet
from leads.api import (
    ActivityViewSet,
    CustomerViewSet,
    DisputeViewSet,
    LeadViewSet,
    OfferViewSet,
    RegistrationViewSet,
)
from leads.delivery.api import CheckInViewSet, ImplementationViewSet, ServiceContractViewSet, TicketViewSet
from partners.api import ContactViewSet, PartnerViewSet, TierViewSet
from partners.enablement.api import VendorRequestViewSet
from prm.api_base import SYNC_RESOURCES
from prm.api_changes import ChangeFeedViewSet
from training.api import CertificationViewSet, CourseViewSet, EnrollmentViewSet

from . import api_keys

# Resource name (= scope name = URL prefix) → viewset. The change feed and tombstones walk this too.
SYNC_RESOURCES.update(
    {
        v.resource: v
        for v in (
            PartnerViewSet,
            ContactViewSet,
            TierViewSet,
            CertificationViewSet,
            CustomerViewSet,
            LeadViewSet,
            RegistrationViewSet,
            ActivityViewSet,
            OfferViewSet,
            CourseViewSet,
            EnrollmentViewSet,
            KpiSnapshotViewSet,
            TierChangeViewSet,
            CommissionEntryViewSet,
            ImplementationViewSet,
            ServiceContractViewSet,
            TicketViewSet,
            CheckInViewSet,
            StatementViewSet,
            FundRequestViewSet,
            FundClaimViewSet,
            DisputeViewSet,
            VendorRequestViewSet,
        )
    }
)
_PREFIXES = {
    "kpi_snapshots": "kpi-snapshots",
    "tier_changes": "tier-changes",
    "commission_entries": "commission-entries",
    "service_contracts": "service-contracts",
    "mdf_requests": "mdf-requests",
    "mdf_claims": "mdf-claims",
    "vendor_requests": "vendor-requests",
}

router = SimpleRouter()
for _resource, _viewset in SYNC_RESOURCES.items():
    router.register(_PREFIXES.get(_resource, _resource), _viewset, basename=f"api-{_resource}")
router.register("changes", ChangeFeedViewSet, basename="api-changes")

portal_patterns = [
    path("", api_keys.api_key_list, name="api_keys"),
    path("<int:pk>/", api_keys.api_key_detail, name="api_key_detail"),
    path("<int:pk>/revoke/", api_keys.api_key_revoke, name="api_key_revoke"),
    path("<int:pk>/reassign/", api_keys.api_key_reassign_view, name="api_key_reassign"),
    path("<int:pk>/webhooks/<int:sub_pk>/disable/", api_keys.webhook_disable, name="webhook_disable"),
]

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("settings/api-keys/", include(portal_patterns)),
]
