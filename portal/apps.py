from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The composition above the apps: root URLs, the API router and its resource list, the change-feed wiring,
    the home pages' cross-app counters and the API-key pages. The core (prm) imports no app; this package does."""

    name = "portal"
    verbose_name = "Portal composition"

    def ready(self):
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from prm import api_changes

        from . import api_urls  # noqa: F401  fills prm.api_base.SYNC_RESOURCES

        # The change feed's triggers follow the resource list: (re)installed after every migrate.
        post_migrate.connect(
            api_changes.triggers_install, sender=apps.get_app_config("prm"), dispatch_uid="prm_change_triggers"
        )
