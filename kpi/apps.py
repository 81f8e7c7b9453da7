from django.apps import AppConfig


class KpiConfig(AppConfig):
    name = "kpi"
    verbose_name = "KPIs and commissions"

    def ready(self):
        from prm.texts import RENDERERS

        from .rules import reason_render

        RENDERERS["tier_reason"] = reason_render
