from django.apps import AppConfig


class PrmConfig(AppConfig):
    name = "prm"
    verbose_name = "Portal"

    def ready(self):
        from . import signals  # noqa: F401
