from django.core.management.base import BaseCommand, CommandError

from kpi.services.ledger import ledger_payout_backfill


class Command(BaseCommand):
    help = (
        "Give ledger entries booked before payout currencies existed their payout currency, rate and amount "
        "(the partner's agreement currency at the rate of each entry's day). Closed statements keep their totals. "
        "Safe to run again; entries without a stored exchange rate are retried on the next run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, batch_size=2000, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        counts = ledger_payout_backfill(batch_size=batch_size)
        self.stdout.write(
            f"{counts['filled']} entries filled, {counts['without_rate']} still without an exchange rate "
            "(store the rate and run again)."
        )
