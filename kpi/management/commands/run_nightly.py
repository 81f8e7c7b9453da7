import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from kpi.services.nightly import nightly_default_date, nightly_run


class Command(BaseCommand):
    help = "Run the nightly KPI / ledger / tier job for a date (default: yesterday in the vendor's time zone)."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD")

    def handle(self, *args, date=None, **options):
        try:
            on = datetime.date.fromisoformat(date) if date else nightly_default_date()
        except ValueError as exc:
            raise CommandError("--date must be YYYY-MM-DD") from exc
        run = nightly_run(on=on)
        if run is None:
            self.stdout.write(f"Nothing to do for {on}: already done or another run is in progress.")
            return
        self.stdout.write(f"{on}: {run.status} (attempt {run.attempts}) {json.dumps(run.counts)}")
