"""The demo network behind `manage.py seed_demo` and bench/seed.py."""

from .seed import DEMO_LOGINS, DEMO_PASSWORD, demo_seed

__all__ = ["DEMO_LOGINS", "DEMO_PASSWORD", "demo_seed"]
