"""The embedded server's life cycle, and the Dagster instance on PostgreSQL storage."""

import os
import time

import dagster as dg
import sqlalchemy
import yaml

from dawsos_assets.database import connection
from dawsos_assets.database.server import EmbeddedPostgres
from dawsos_assets.definitions import OBSERVE_LEGACY_JOB, defs
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
    assert config["storage"]["custom"]["config"]["postgres_url"] == {"env": STORAGE_URL_ENV}
    assert os.environ[STORAGE_URL_ENV].startswith("postgresql+psycopg2://")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PooledPostgresRunStorage"
        result = defs.resolve_job_def(OBSERVE_LEGACY_JOB).execute_in_process(instance=instance)
        assert result.success
        records = instance.fetch_observations(legacy_key("lots"), limit=1).records
        metadata = records[0].asset_observation.metadata
        assert metadata["dagster/row_count"].value > 100
        column_names = [c.name for c in metadata["dagster/column_schema"].value.columns]
        assert {"quantity", "qty_open", "qty_original"} <= set(column_names)
    with connection.connect(connection.database_url("dagster")) as conn:
        assert conn.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,)).fetchone()[0] == 1


LOGGED_MESSAGES = 60


@dg.op
def log_many_messages(context: dg.OpExecutionContext):
    for number in range(LOGGED_MESSAGES):
        context.log.info(f"message {number}")  # each one an event in the event log


@dg.job(executor_def=dg.in_process_executor)
def chatty_job():
    log_many_messages()


def _sessions_opened(conn) -> int:
    """Connections the server has accepted into this database so far (counted when they open)."""
    return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def _wait_until_alone(conn, timeout: float = 30) -> None:
    """A backend adds its session to pg_stat_database at the latest when it exits, so wait until every other
    connection to this database has gone."""
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    while conn.execute(query).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_run_stores_its_many_events_over_a_few_connections(empty_url, monkeypatch):
    """dagster-postgres alone opens one connection per stored event; the instance's storage reuses them."""
    prepare_instance()
    monkeypatch.setenv(STORAGE_URL_ENV, connection.sqlalchemy_url(empty_url, driver="psycopg2"))  # only this test's
    with connection.connect(empty_url, autocommit=True) as watcher:
        with dg.DagsterInstance.get() as instance:  # creates Dagster's tables in the fresh database
            before = _sessions_opened(watcher)
            result = chatty_job.execute_in_process(instance=instance)
            messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
        _wait_until_alone(watcher)
        opened = _sessions_opened(watcher) - before
    assert result.success
    assert sum(message.startswith("message ") for message in messages) == LOGGED_MESSAGES
    assert len(messages) > LOGGED_MESSAGES
    assert opened <= 6, f"{opened} connections opened to store {len(messages)} events"


def _backend_pid(event_log_storage) -> int:
    with event_log_storage.index_connection() as conn:
        return conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar()


def test_a_forked_process_opens_its_own_connection_and_leaves_the_parents_alone(empty_url, monkeypatch):
    """A child sharing its parent's kept connection would mix two conversations on one socket."""
    prepare_instance()
    monkeypatch.setenv(STORAGE_URL_ENV, connection.sqlalchemy_url(empty_url, driver="psycopg2"))
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        parents = _backend_pid(storage)
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.write(writer, str(_backend_pid(storage)).encode())
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        childs = int(os.read(reader, 32))
        assert childs != parents
        assert _backend_pid(storage) == parents  # still open, still reused
