"""Import a partner's deals from a CSV file (its CRM's export): `manage.py deals_import_csv --partner 12 deals.csv`.

The one rule is leads.services.sync.deals_import_csv: new deals are deal registrations, decided set-based right after
each 5,000-row commit."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from leads.services.sync import deals_import_csv
from partners.models import Partner


class Command(BaseCommand):
    help = "Import a partner's deals from a CSV file; new deals are registered and decided at once."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--partner", type=int, required=True, help="the partner's id")

    def handle(self, *args, path: Path, partner: int, **options):
        if not Partner.objects.filter(pk=partner).exists():
            raise CommandError(f"No partner with id {partner}.")
        try:
            results = deals_import_csv(data=path.read_bytes(), partner_id=partner)
        except (OSError, ValidationError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from exc
        counts: dict[str, int] = {}
        for line, result in results:
            counts[result.status] = counts.get(result.status, 0) + 1
            if result.errors:
                self.stderr.write(f"line {line}: {result.errors}")
        self.stdout.write(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no rows")
