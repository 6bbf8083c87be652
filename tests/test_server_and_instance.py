"""The embedded server's life cycle, and the Dagster instance on PostgreSQL storage."""

import os

import dagster as dg
import yaml

from dawsos_assets.database import connection
from dawsos_assets.definitions import OBSERVE_LEGACY_JOB, defs
from dawsos_assets.database.server import EmbeddedPostgres
from dawsos_assets.operations.instance import STORAGE_URL_ENV, prepare_instance
from dawsos_assets.tables.legacy_assets import legacy_key


def test_embedded_server_starts_once_and_is_reused(reachable_home):
    server = EmbeddedPostgres(reachable_home)
    try:
        port = server.start()
        assert server.status().running
        assert server.start() == port  # already running: same server, same port
        with connection.connect(server.url("postgres")) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert server.stop() is True
        assert not server.status().running
        assert server.start() == port  # data and port survive a restart
    finally:
        server.stop()


def test_instance_stores_runs_in_postgres_with_the_psycopg2_scheme(seeded_url):
    home = prepare_instance()
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": STORAGE_URL_ENV}
    assert os.environ[STORAGE_URL_ENV].startswith("postgresql+psycopg2://")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def(OBSERVE_LEGACY_JOB).execute_in_process(instance=instance)
        assert result.success
        records = instance.fetch_observations(legacy_key("lots"), limit=1).records
        metadata = records[0].asset_observation.metadata
        assert metadata["dagster/row_count"].value > 100
        column_names = [c.name for c in metadata["dagster/column_schema"].value.columns]
        assert {"quantity", "qty_open", "qty_original"} <= set(column_names)
    with connection.connect(connection.database_url("dagster")) as conn:
        assert conn.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,)).fetchone()[0] == 1
