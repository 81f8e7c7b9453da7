"""Tests that migrate the database back and forth."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from prm.api_changes import triggers_install


def migrate_latest() -> None:
    """Back to the latest schema for the next tests, with the change feed's triggers: `migrate` installs them after
    it runs (post_migrate), a bare MigrationExecutor does not, and the tables it rebuilt have lost theirs."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    triggers_install()
