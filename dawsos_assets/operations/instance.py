"""The Dagster instance: DAGSTER_HOME under .dawsos/, runs and events stored in PostgreSQL.

The web UI, the CLI and the tests therefore read one history. The storage URL uses the psycopg2 scheme:
with SQLAlchemy 2.1 a bare postgresql:// means psycopg 3, which breaks dagster-postgres.
dagster.yaml names the URL only through an environment variable ({env: …}), so the file never holds a password
(DAWSOS_DATABASE_URL may carry one); every process that opens the instance sets it through prepare_instance().
"""

from __future__ import annotations

import os
from pathlib import Path

from dawsos_assets.database import connection
from dawsos_assets.database.server import home_dir

INSTANCE_TEMPLATE = """\
# Written by dawsos_assets.operations.instance. The storage URL comes from the environment: no secret here.
storage:
  custom:                      # dagster-postgres's tables and queries over pooled connections (see storage.py)
    module: dawsos_assets.operations.storage
    class: PooledPostgresStorage
    config:
      postgres_url:
        env: {storage_url_env}
run_launcher:                  # runs of this project forked from a preloaded process, not a new interpreter each
  module: dawsos_assets.operations.launcher
  class: PreloadedRunLauncher
run_monitoring:
  enabled: true                # a run whose forked worker died (killed, out of memory) is marked failed
  poll_interval_seconds: 15
run_coordinator:               # Dagster's run queue, read every half second (Dagster's default: 5 s), starting
  module: dawsos_assets.operations.launcher   # the launcher's preloaded process with the daemon
  class: PreloadingRunCoordinator
concurrency:
  runs:
    max_concurrent_runs: 4     # e.g. pattern partitions of several portfolios side by side
  pools:
    default_limit: 4           # steps in pool "portfolio_database" at once: caps connections to the database
telemetry:
  enabled: false
"""


STORAGE_URL_ENV = "DAWSOS_DAGSTER_STORAGE_URL"


def dagster_home() -> Path:
    """The DAGSTER_HOME the project uses, under DAWSOS_HOME."""
    return home_dir() / "dagster"


def prepare_instance() -> Path:
    """Write dagster.yaml, put the storage URL in this process's environment (inherited by `dagster dev`, its
    daemon and run workers) and point DAGSTER_HOME at the instance; return the directory.
    """
    home = dagster_home()
    home.mkdir(mode=0o700, exist_ok=True)
    config = INSTANCE_TEMPLATE.format(storage_url_env=STORAGE_URL_ENV)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text() != config:
        target.write_text(config)  # an earlier version wrote the URL itself here: replaced by the env form
    target.chmod(0o600)
    os.environ[STORAGE_URL_ENV] = connection.dagster_storage_url()
    os.environ["DAGSTER_HOME"] = str(home)
    return home
