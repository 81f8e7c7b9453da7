import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD, demo_seed
from partners.models import Partner

SIZES = {"default": (60, 3000), "small": (15, 400)}


class Command(BaseCommand):
    help = (
        "Load a deterministic, realistic demo partner network (Russian federal districts and EU countries, all "
        "program models, tiers, training, leads in every stage). Refuses to run when partners already exist; "
        "--reset first FLUSHES THE WHOLE DATABASE (every table, like `manage.py flush`) and then seeds. "
        "--partners/--leads/--activities scale it up for benchmarks (bulk inserts, COPY on PostgreSQL)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--partners", type=int, help=f"number of partners (default {SIZES['default'][0]})")
        parser.add_argument("--leads", type=int, help=f"number of leads (default {SIZES['default'][1]})")
        parser.add_argument("--activities", type=int, default=3, help="average activities per worked deal")
        parser.add_argument(
            "--small", action="store_true", help="a small network ({} partners, {} leads)".format(*SIZES["small"])
        )
        parser.add_argument("--seed", type=int, default=20240601, help="random seed (same seed, same data)")
        parser.add_argument("--reset", action="store_true", help="flush the whole database before seeding")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args, **opts):
        if opts["reset"]:
            call_command("flush", interactive=False, verbosity=0)
        elif Partner.objects.exists():
            raise CommandError("The database already has partners. Use --reset to flush it and seed again.")
        default_partners, default_leads = SIZES["small" if opts["small"] else "default"]
        started = time.monotonic()
        try:
            counts, seeder = demo_seed(
                partners=opts["partners"] or default_partners,
                leads=opts["leads"] if opts["leads"] is not None else default_leads,
                activities=opts["activities"],
                seed=opts["seed"],
                progress=not opts["no_progress"] and opts["verbosity"] > 0,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        if opts["verbosity"] == 0:
            return
        for name, n in counts.items():
            self.stdout.write(f"  {name:<22} {n:>10,}")
        if opts["verbosity"] > 1:
            for step, seconds in seeder.timings.items():
                self.stdout.write(f"  step {step:<17} {seconds:>8.1f} s")
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded in {elapsed:.1f} s. Logins (password {DEMO_PASSWORD}):")
        )
        self.stdout.write(f"  {'e-mail':<30} role")
        for email, role, _partner, _extra in DEMO_LOGINS:
            self.stdout.write(f"  {email:<30} {role.label}")
