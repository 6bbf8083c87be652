"""The Dagster instance: DAGSTER_HOME under .dawsos/, runs and events stored in PostgreSQL.

The web UI, the CLI and the tests therefore read one history. The storage URL uses the psycopg2 scheme:
with SQLAlchemy 2.1 a bare postgresql:// means psycopg 3, which breaks dagster-postgres (stack_notes §0).
"""

from __future__ import annotations

import os
from pathlib import Path

from dawsos_assets.database import connection
from dawsos_assets.database.server import home_dir

INSTANCE_TEMPLATE = """\
# Written by dawsos_assets.operations.instance; regenerated when the database URL changes.
storage:
  postgres:
    postgres_url: "{storage_url}"
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
concurrency:
  runs:
    max_concurrent_runs: 4     # e.g. pattern partitions of several portfolios side by side
  pools:
    default_limit: 4           # steps in pool "portfolio_database" at once: caps connections to the database
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    return home_dir() / "dagster"


def prepare_instance() -> Path:
    """Write dagster.yaml for the current database and point DAGSTER_HOME at it; return the directory."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = INSTANCE_TEMPLATE.format(storage_url=connection.dagster_storage_url())
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text() != config:
        target.write_text(config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
