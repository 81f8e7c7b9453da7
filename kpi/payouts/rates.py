"""The rate in force for a won deal (the effective-dated rate table) and distributor overrides, read once per run.

Both tables are small; the nightly accrual loads them into memory like the exchange rates (`ledger.Rates`).
"""

import datetime
from collections import defaultdict
from decimal import Decimal

from partners.models import Tier

from ..models import CommissionRate, DistributorOverride


class RateTable:
    def __init__(self):
        # (tier_id, kind, product_line) -> [(valid_from, min_value, rate)], newest version first, highest slab first
        self.rows = defaultdict(list)
        for r in CommissionRate.objects.order_by("-valid_from", "-min_value").values_list(
            "tier_id", "lead_kind", "product_line", "valid_from", "min_value", "rate"
        ):
            self.rows[(r[0], r[1], r[2].strip().lower())].append(r[3:])
        self.tier_rates = dict(Tier.objects.values_list("pk", "commission_rate"))

    def rate(
        self, *, tier_id: int | None, kind: str, products: str, value: Decimal, day: datetime.date
    ) -> Decimal | None:
        """The most specific key (tier, then kind, then product line) that has a version in force on `day`; in
        that version the highest slab `value` reaches. Without any table row: the tier's own rate."""
        products = (products or "").lower()
        keys = [
            (t, k, p)
            for t in (tier_id, None)
            for k in (kind, "")
            for p in {p for (tt, kk, p) in self.rows if tt == t and kk == k}
            if (t, k, p) in self.rows and (not p or p in products)
        ]
        keys.sort(key=lambda key: (key[0] is None, key[1] == "", key[2] == ""))
        for key in keys:
            versions = [row for row in self.rows[key] if row[0] <= day]
            if not versions:
                continue
            newest = versions[0][0]
            for valid_from, min_value, rate in versions:
                if valid_from == newest and value >= min_value:
                    return rate
        return self.tier_rates.get(tier_id)


class Overrides:
    """Distributor override percent in force on a day."""

    def __init__(self):
        self.rows = defaultdict(list)
        for distributor_id, valid_from, percent in DistributorOverride.objects.order_by("-valid_from").values_list(
            "distributor_id", "valid_from", "percent"
        ):
            self.rows[distributor_id].append((valid_from, percent))

    def percent(self, *, distributor_id: int, day: datetime.date) -> Decimal | None:
        return next((p for valid_from, p in self.rows.get(distributor_id, []) if valid_from <= day), None)
