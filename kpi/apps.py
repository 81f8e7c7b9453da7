from django.apps import AppConfig


class KpiConfig(AppConfig):
    name = "kpi"
    verbose_name = "KPIs and commissions"

    def ready(self):
        from partners.enablement.selectors import PARTNER_SLA_SOURCE
        from prm.texts import RENDERERS

        from .rules import reason_render
        from .selectors import network_accept_sla_pct

        RENDERERS["tier_reason"] = reason_render
        PARTNER_SLA_SOURCE["network"] = network_accept_sla_pct
