from django.apps import AppConfig


class PrmConfig(AppConfig):
    name = "prm"
    verbose_name = "Portal"

    def ready(self):
        # Security events to the audit trail; importing webhooks registers its Celery task. The change
        # feed's triggers are installed by the composition (portal.apps), which knows the resources.
        from . import signals, webhooks  # noqa: F401
