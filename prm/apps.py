from django.apps import AppConfig


class PrmConfig(AppConfig):
    name = "prm"
    verbose_name = "Portal"

    def ready(self):
        from . import signals  # noqa: F401

        # Tombstones for deleted syncable rows; importing webhooks registers its Celery task.
        from . import api_changes, webhooks  # noqa: F401

        api_changes.connect_receivers()
