"""A pager for lists that grow to millions of rows (deals, registrations, routing decisions, the routing queue):
counting every row for "page 1 of N" is a scan of the table on every page view, so the count stops at CAP. The
pager then reaches the first CAP rows in the list's order and says there are more ("page 1 of 200+"); filters
narrow down to the rest."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedPaginator(Paginator):
    CAP = 10_000

    @cached_property
    def count(self):
        # Without the list's order: any CAP matching rows end the count (an ordered one may read far more).
        return self.object_list.order_by()[: self.CAP].count()

    @property
    def capped(self) -> bool:
        """Whether the list has CAP rows or more (the count stopped there)."""
        return self.count >= self.CAP
