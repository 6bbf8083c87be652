"""Round trips the instance's storage makes to PostgreSQL: what a run over many partitions asks of the catalog
and how often a kept connection is checked, and that a connection closed while idle is still replaced."""

import time

import dagster as dg
import pytest
import sqlalchemy

from dawsos_assets.database import connection
from dawsos_assets.operations import storage
from dawsos_assets.operations.instance import STORAGE_URL_ENV, prepare_instance

EVENTS = 120


@dg.op
def log_many_messages(context: dg.OpExecutionContext):
    for number in range(EVENTS):
        context.log.info(f"message {number}")  # each one an event, stored on its own


@dg.job(executor_def=dg.in_process_executor)
def chatty_job():
    log_many_messages()


def _storage_engines(instance: dg.DagsterInstance) -> list[sqlalchemy.engine.Engine]:
    return [instance.event_log_storage._engine, instance.run_storage._engine, instance.schedule_storage._engine]


def _count_statements(engines) -> list[int]:
    """Statements sent through SQLAlchemy from now on (a pool's connection check is not one of them)."""
    counter = [0]
    for engine in engines:
        sqlalchemy.event.listen(engine, "before_cursor_execute", lambda *_args: counter.__setitem__(0, counter[0] + 1))
    return counter


def _transactions(conn) -> int:
    """Transactions the server committed in this database: with AUTOCOMMIT, one per statement or check."""
    return conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def _wait_until_alone(conn, timeout: float = 30) -> None:
    """A backend reports its counts at the latest when it exits: wait until every other connection has gone."""
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    while conn.execute(query).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def own_storage(empty_url, monkeypatch) -> str:
    """Dagster's storage in this test's own database (its tables created), so the server's counts are the test's."""
    prepare_instance()
    monkeypatch.setenv(STORAGE_URL_ENV, connection.sqlalchemy_url(empty_url, driver="psycopg2"))
    with dg.DagsterInstance.get():
        pass
    return empty_url


def test_a_busy_run_checks_no_connection_it_just_gave_back(own_storage):
    """pool_pre_ping checked a connection at every checkout, more than one round trip per event stored one by one
    (180 more transactions than statements here); only a connection left idle is checked now. The few dozen
    transactions beyond the statements are the instance's opening checks of its tables, made before counting."""
    with connection.connect(own_storage, autocommit=True) as watcher:
        _wait_until_alone(watcher)
        before = _transactions(watcher)
        with dg.DagsterInstance.get() as instance:
            statements = _count_statements(_storage_engines(instance))
            result = chatty_job.execute_in_process(instance=instance)
        _wait_until_alone(watcher)
        transactions = _transactions(watcher) - before - 2  # the watcher's own two reads
    assert result.success
    assert statements[0] > EVENTS
    extra = transactions - statements[0]
    assert extra < EVENTS / 2, f"{transactions} transactions for {statements[0]} statements"


def test_a_connection_closed_while_idle_is_replaced_not_failed(own_storage, monkeypatch):
    """A server restart closes the kept connections; the next use after a pause checks and replaces them."""
    monkeypatch.setattr(storage, "IDLE_BEFORE_PING", 0.2)
    with dg.DagsterInstance.get() as instance, connection.connect(own_storage, autocommit=True) as admin:
        assert not instance.get_runs()  # opens a kept connection
        closed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
        time.sleep(0.5)
        result = chatty_job.execute_in_process(instance=instance)
    assert closed >= 1
    assert result.success


SHELVES = dg.StaticPartitionsDefinition([f"shelf-{number:02d}" for number in range(20)])


@dg.asset(partitions_def=SHELVES, backfill_policy=dg.BackfillPolicy.single_run())
def shelf_counts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for partition in context.partition_keys:
        context.add_asset_metadata({"shelf": partition}, partition_key=partition)
    return dg.MaterializeResult()


@dg.asset(deps=[shelf_counts], partitions_def=SHELVES, backfill_policy=dg.BackfillPolicy.single_run())
def shelf_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult()


def test_runs_over_partitions_read_each_asset_key_column_once(own_storage):
    """Dagster reflects the asset_keys table before each asset-record query and asset-event write (78 catalog
    queries in a patterns run over 100 portfolios, 6 in these two runs); the storage remembers the columns it found,
    so the two it asks about are read once each."""
    keys = SHELVES.get_partition_keys()
    reflections = [0]
    with dg.DagsterInstance.get() as instance:

        @sqlalchemy.event.listens_for(instance.event_log_storage._engine, "before_cursor_execute")
        def count_reflections(conn, cursor, statement, *_args):
            reflections[0] += "pg_attribute" in statement

        for _ in range(2):
            result = dg.materialize(
                [shelf_counts, shelf_report],
                instance=instance,
                tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
            )
            assert result.success
        materialized = instance.get_materialized_partitions(shelf_report.key)
    assert materialized == set(keys)
    assert reflections[0] <= 2
