"""The README's first command runs on the embedded default (SQLite), while CI's suite runs on PostgreSQL: this test
seeds the demo and runs the nightly job on a fresh SQLite database in a separate process, so SQL that only
PostgreSQL understands cannot break `bin/demo` unnoticed."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_the_demo_seeds_and_runs_its_nightly_job_on_sqlite(tmp_path: Path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PRM_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "prm.settings.test",
    }
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    for command in (
        ["migrate", "--noinput", "-v", "0"],
        ["seed_demo", "--small", "-v", "0"],
        ["run_nightly", "-v", "0"],
    ):
        done = subprocess.run([*manage, *command], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
