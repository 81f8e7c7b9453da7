"""KPI writes, split by sub-domain: snapshots (KPIs and score), ledger, tiers, nightly (the run itself).

Import the sub-modules directly (`from kpi.services.nightly import nightly_run`).
"""
