from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The composition above the apps: root URLs, the API router and its resource list, the change-feed wiring,
    the home pages' cross-app counters and the API-key pages. The core (prm) imports no app; this package does."""

    name = "portal"
    verbose_name = "Portal composition"

    def ready(self):
        from prm import api_changes

        from . import api_urls  # noqa: F401  fills prm.api_base.SYNC_RESOURCES

        api_changes.connect_receivers()
