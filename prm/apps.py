from django.apps import AppConfig


class PrmConfig(AppConfig):
    name = "prm"
    verbose_name = "Portal"

    def ready(self):
        # Security events to the audit trail; tombstones for deleted syncable rows; importing webhooks
        # registers its Celery task.
        from . import api_changes, signals, webhooks  # noqa: F401

        api_changes.connect_receivers()
