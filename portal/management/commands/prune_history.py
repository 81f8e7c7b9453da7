from django.core.management.base import BaseCommand

from portal.retention import history_prune


class Command(BaseCommand):
    help = "Delete history older than its retention age (PRM_RETAIN_* settings), in batches."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=5000, help="rows per DELETE")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted")

    def handle(self, *args, batch, dry_run, **options):
        for name, n in history_prune(batch=batch, dry_run=dry_run).items():
            self.stdout.write(f"{name}: {n} {'to delete' if dry_run else 'deleted'}")
