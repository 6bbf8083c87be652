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
from dawsos_assets.patterns.assets import partition_keys_read_once
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


BOOKS = dg.StaticPartitionsDefinition([f"book-{number:03d}" for number in range(40)])


def _book_asset(fail: bool) -> dg.AssetsDefinition:
    @dg.asset(name="book_summary", partitions_def=BOOKS, backfill_policy=dg.BackfillPolicy.single_run())
    def book_summary(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        if fail:
            raise RuntimeError("the database went away")
        for partition in context.partition_keys:
            context.add_asset_metadata({"book": partition}, partition_key=partition)
        return dg.MaterializeResult()

    return book_summary


def _run_over_every_book(instance, fail: bool = False):
    keys = BOOKS.get_partition_keys()
    return dg.materialize(
        [_book_asset(fail)],
        instance=instance,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
    )


def _statements_per_event_type(run_id: str) -> dict[str, int]:
    """Rows inserted by one autocommitted statement share a transaction id (xmin)."""
    with connection.connect(connection.database_url("dagster")) as conn:
        return dict(
            conn.execute(
                "SELECT dagster_event_type, count(DISTINCT xmin::text) FROM event_logs "
                "WHERE run_id = %s AND partition IS NOT NULL GROUP BY 1",
                (run_id,),
            ).fetchall()
        )


def test_a_run_over_many_partitions_stores_their_events_a_batch_at_a_time(seeded_url):
    """One planned and one materialization event per partition, each kind written in one statement, and the UI's
    view of the partitions (materialized, last run) is the same as with one statement per event."""
    prepare_instance()
    with dg.DagsterInstance.get() as instance:
        result = _run_over_every_book(instance)
        key = dg.AssetKey("book_summary")
        materialized = instance.get_materialized_partitions(key)
        record = next(iter(instance.get_asset_records([key])))
    assert result.success
    assert materialized == set(BOOKS.get_partition_keys())
    assert record.asset_entry.last_run_id == result.run_id
    assert _statements_per_event_type(result.run_id) == {"ASSET_MATERIALIZATION_PLANNED": 1, "ASSET_MATERIALIZATION": 1}


def test_a_failed_run_over_many_partitions_marks_each_of_them_failed(seeded_url):
    """Planned events stay one per partition (not Dagster's single subset event), so a failed nightly run shows
    every portfolio it did not compute as failed in the UI."""
    prepare_instance()
    with dg.DagsterInstance.get() as instance:
        result = _run_over_every_book(instance, fail=True)
        attempts = (
            instance.event_log_storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                dg.AssetKey("book_summary")
            )
        )
    assert not result.success
    assert set(attempts) == set(BOOKS.get_partition_keys())
    assert {run_id for run_id, _ in attempts.values()} == {result.run_id}


NAMED_BOOKS = dg.DynamicPartitionsDefinition(name="named_books")


@dg.asset(partitions_def=NAMED_BOOKS, backfill_policy=dg.BackfillPolicy.single_run())
def annotated_books(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    with partition_keys_read_once(context.instance):  # as the pattern assets add each portfolio's metadata
        for partition in context.partition_keys:
            context.add_asset_metadata({"book": partition}, partition_key=partition)
    return dg.MaterializeResult()


def _dynamic_partition_reads() -> int:
    """Scans of Dagster's dynamic_partitions table so far, as the server counts them (a backend reports its counts
    at the latest when it exits: read after the instance closed its connections)."""
    time.sleep(1)
    with connection.connect(connection.database_url("dagster"), autocommit=True) as conn:
        return conn.execute(
            "SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'dynamic_partitions'"
        ).fetchone()[0]


def _annotate_books(count: int) -> int:
    """Materialize the first `count` books in one run; the dynamic_partitions reads it took."""
    before = _dynamic_partition_reads()
    with dg.DagsterInstance.get() as instance:
        keys = instance.get_dynamic_partitions(NAMED_BOOKS.name)[:count]
        result = dg.materialize(
            [annotated_books],
            instance=instance,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        assert result.success
        assert {e.partition for e in result.get_asset_materialization_events()} == set(keys)
    return _dynamic_partition_reads() - before


def test_adding_metadata_to_each_partition_reads_the_partition_keys_once(seeded_url):
    """Dagster validates each add_asset_metadata(partition_key=…) against the run's range by reading every key:
    without the pin, a step over N portfolios reads the key list N times (a million rows at 1,000 portfolios)."""
    prepare_instance()
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(NAMED_BOOKS.name, [f"book-{number:03d}" for number in range(60)])
    few, many = _annotate_books(10), _annotate_books(60)
    assert many - few < 10, f"{few} reads for 10 partitions, {many} for 60"
