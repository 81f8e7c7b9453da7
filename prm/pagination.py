"""A pager for lists that grow to millions of rows (deals, registrations, routing decisions, the routing queue):
counting every row for "page 1 of N" is a scan of the table on every page view, so the count stops at CAP. The
pager then reaches the first CAP rows in the list's order and says there are more ("page 1 of 200+"); filters
narrow down to the rest."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

CAP = 10_000


def count_capped(queryset, cap: int | None = None) -> int:
    """How many rows `queryset` has, counting no further than `cap` (default CAP). Without the list's order: any
    `cap` matching rows end the count (an ordered one may read far more: 5 s for the open deals at 20 M leads)."""
    return queryset.order_by()[: cap or CAP].count()


class CappedPaginator(Paginator):
    CAP = CAP

    @cached_property
    def count(self):
        return count_capped(self.object_list, self.CAP)

    @property
    def capped(self) -> bool:
        """Whether the list has CAP rows or more (the count stopped there)."""
        return self.count >= self.CAP
