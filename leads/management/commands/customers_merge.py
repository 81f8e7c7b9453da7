"""Merge customers that the old entry paths duplicated (one company, several rows): dry run unless --apply."""

from django.core.management.base import BaseCommand

from leads.customers import customer_duplicates, customers_merge
from leads.models import Customer


class Command(BaseCommand):
    help = "Merge duplicated customers by the one customer rule (tax id → domain → name key). Dry run by default."

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="Merge; without it only print what would happen.")

    def handle(self, *args, apply=False, **options):
        groups = customer_duplicates()
        names = dict(
            Customer.objects.filter(pk__in=[*groups, *(i for ids in groups.values() for i in ids)]).values_list(
                "id", "name"
            )
        )
        verb = "Merging" if apply else "Would merge"
        for survivor, duplicates in sorted(groups.items()):
            dups = ", ".join(f"#{pk} «{names[pk]}»" for pk in duplicates)
            self.stdout.write(f"{verb} {dups} into #{survivor} «{names[survivor]}»")
            if apply:
                report = customers_merge(survivor_id=survivor, duplicate_ids=duplicates, actor=None)
                for window, registration, kind, key in report.windows_released:
                    self.stdout.write(f"  released window #{window} ({kind}:{key}) of registration #{registration}")
        total = sum(len(d) for d in groups.values())
        if apply:
            self.stdout.write(self.style.SUCCESS(f"Merged {total} duplicate customers into {len(groups)}."))
        else:
            self.stdout.write(f"{total} duplicate customers in {len(groups)} groups; run with --apply to merge.")
