"""Dagster's PostgreSQL storage, reusing its connections within a process.

dagster-postgres gives each of its storages (runs, events, schedules) a SQLAlchemy engine without a pool, so every
event it stores opens a new PostgreSQL connection and closes it again. A pattern run over many portfolio partitions
stores two events per partition and pattern (planned, then materialized); issue 12's profile found one pattern over
1,000 partitions spending 144 of its 150 s on storing them, mostly opening connections. These subclasses keep the
same tables, migrations and queries and only swap that engine for a small pool. The web server keeps Dagster's own
choice: it replaces the engine through `optimize_for_webserver` with a pool of its own.

dagster.yaml selects the unified class: `storage: custom: {module: dawsos_assets.operations.storage,
class: PooledPostgresStorage, config: {postgres_url: …}}` (see dawsos_assets/operations/instance.py).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg2
import sqlalchemy
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

IDLE_BEFORE_PING = 2.0  # seconds a kept connection may sit unused before it is checked on its next checkout
POOL_SIZE = 2  # connections each storage keeps open per process: the daemon's threads share one instance
MAX_OVERFLOW = 8  # extra connections under a burst, closed on return; max_connections of the server is 200
EVENT_BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 500  # events per INSERT: a run over 1,000 portfolios stores 13,000 materializations
ROWS_AT_ONCE = {  # the batched event types whose consecutive events are stored in one executemany
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_OBSERVATION,
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
}


def pooled_engine(postgres_url: str, token_provider: Any) -> sqlalchemy.engine.Engine:
    """An engine like dagster-postgres's (AUTOCOMMIT, the same token hook) that keeps a few connections open.

    A kept connection left unused for a while is checked before it is handed out, so one closed by a server restart
    is replaced instead of failing the run (see _check_connections_left_idle).
    """
    engine = create_pg_engine(
        postgres_url,
        token_provider,
        isolation_level="AUTOCOMMIT",
        poolclass=sqlalchemy.pool.QueuePool,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
    )
    _never_share_connections_across_fork(engine)
    _check_connections_left_idle(engine)
    return engine


def _check_connections_left_idle(engine: sqlalchemy.engine.Engine) -> None:
    """pool_pre_ping would send a query before every checkout: a run over 100 portfolios takes a connection out
    about 900 times (a few for each event it stores one by one, its steps' partition and asset lookups), a round trip
    each. A connection given back within the last IDLE_BEFORE_PING seconds was working then; one idle for longer,
    which a server restart may have closed meanwhile, is checked first and replaced when dead (SQLAlchemy's
    pessimistic disconnect handling with a checkout event).
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def new_counts_as_just_used(dbapi_connection, connection_record):
        connection_record.info["returned"] = time.monotonic()

    @sqlalchemy.event.listens_for(engine, "checkin")
    def remember_when_given_back(dbapi_connection, connection_record):
        connection_record.info["returned"] = time.monotonic()

    @sqlalchemy.event.listens_for(engine, "checkout")
    def ping_if_left_idle(dbapi_connection, connection_record, connection_proxy):
        if time.monotonic() - connection_record.info.get("returned", 0.0) <= IDLE_BEFORE_PING:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except psycopg2.Error as exc:
            raise sqlalchemy.exc.DisconnectionError(f"kept connection found closed: {exc}") from exc


def _never_share_connections_across_fork(engine: sqlalchemy.engine.Engine) -> None:
    """A forked child inherits the parent's open sockets; two processes talking over one socket corrupt both
    sessions. SQLAlchemy's recipe for pools and os.fork(): remember which process opened a connection and make
    any other process discard it and connect anew.
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def remember_opening_process(dbapi_connection, connection_record):
        connection_record.info["pid"] = os.getpid()

    @sqlalchemy.event.listens_for(engine, "checkout")
    def refuse_inherited_connection(dbapi_connection, connection_record, connection_proxy):
        if connection_record.info["pid"] != os.getpid():
            connection_record.dbapi_connection = connection_proxy.dbapi_connection = None
            raise sqlalchemy.exc.DisconnectionError(
                f"connection opened by process {connection_record.info['pid']}, not {os.getpid()}"
            )


class _PooledEngine:
    """Once the parent has checked (or created) the tables with its NullPool engine, swap it for a pooled one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._engine.dispose()
        self._engine = pooled_engine(self.postgres_url, self._token_provider)

    def dispose(self) -> None:
        """Closing the instance closes its kept connections too, rather than leaving them to garbage collection."""
        super().dispose()
        self._engine.dispose()


class PooledPostgresEventLogStorage(_PooledEngine, PostgresEventLogStorage):
    """Events (run steps, asset materializations, checks) stored over pooled connections, and the events of a run
    over many partitions written a few hundred rows per statement.
    """

    def __init__(self, *args, **kwargs):
        self._tables_found: set[str] = set()  # before the parent's init, which already asks for tables
        self._asset_key_columns_found: set[str] = set()
        self._pinned = threading.local()
        super().__init__(*args, **kwargs)
        # Dagster hands events to store_event_batch only when this variable is set, in the process that stores
        # them (web server, daemon, run worker). Set here, every process that opens this instance batches.
        os.environ.setdefault(EVENT_BATCH_SIZE_ENV, str(EVENT_BATCH_SIZE))

    def _has_asset_key_col_on_connection(self, conn: sqlalchemy.Connection, column_name: str) -> bool:
        """Dagster reflects the asset_keys table's columns before each asset-record query and asset-event write
        (some 80 catalog queries in a patterns run); a column its migrations added is never dropped while running,
        so one once found is remembered.
        """
        if column_name not in self._asset_key_columns_found:
            if not super()._has_asset_key_col_on_connection(conn, column_name):
                return False
            self._asset_key_columns_found.add(column_name)
        return True

    def has_table(self, table_name: str) -> bool:
        """Asked before every dynamic-partition query; Dagster never drops its tables while running, so a table once
        found is remembered instead of asked of the catalog again.
        """
        if table_name not in self._tables_found:
            if not super().has_table(table_name):
                return False
            self._tables_found.add(table_name)
        return True

    @contextlib.contextmanager
    def dynamic_partitions_pinned(self) -> Iterator[None]:
        """Within the block, this thread reads each dynamic partitions definition's keys once.

        Dagster checks every `add_asset_metadata(partition_key=…)` against the run's range by reading the whole key
        list and two keys from the database: N partitions cost N queries of N keys. A step's partitions were fixed
        when its run started, so the loop that adds their metadata reads them once (see patterns/assets.py).
        """
        if getattr(self._pinned, "keys", None) is not None:  # already pinned by a caller: its block unpins
            yield
            return
        self._pinned.keys = {}
        try:
            yield
        finally:
            del self._pinned.keys

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        """The keys, read once per pinned block (see dynamic_partitions_pinned), else from the database."""
        pinned = self._pinned_keys(partitions_def_name)
        return pinned[0] if pinned else super().get_dynamic_partitions(partitions_def_name)

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        """Answered from the pinned keys inside a pinned block, else by the database."""
        pinned = self._pinned_keys(partitions_def_name)
        return (
            partition_key in pinned[1] if pinned else super().has_dynamic_partition(partitions_def_name, partition_key)
        )

    def _pinned_keys(self, partitions_def_name: str) -> tuple[Sequence[str], frozenset[str]] | None:
        pinned = getattr(self._pinned, "keys", None)
        if pinned is None:
            return None
        if partitions_def_name not in pinned:
            keys = super().get_dynamic_partitions(partitions_def_name)
            pinned[partitions_def_name] = (keys, frozenset(keys))
        return pinned[partitions_def_name]

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A batch as dagster-postgres stores it, in fewer and cheaper statements: consecutive planned events (one
        per partition and asset before a run; dagster-postgres writes them one by one) and consecutive
        materializations or observations (one per partition after a step) each go in as one executemany.
        """
        for event_type, group in itertools.groupby(events, key=lambda event: event.get_dagster_event().event_type):
            group = list(group)
            if len(group) > 1 and event_type in ROWS_AT_ONCE:
                self._store_asset_events(group)
            else:
                super().store_event_batch(group)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        """What store_event does for each, in three steps: the event rows (one statement), their indexed tags (one;
        planned events have none), then each asset's latest event (one upsert per asset: the asset row keeps only
        the last one, so that gives the same result as one per event).
        """
        ids = self._insert_event_rows(events)
        latest = {
            event.get_dagster_event().asset_key: (event, event_id) for event, event_id in zip(events, ids, strict=True)
        }
        with self.index_transaction() as conn:
            self._store_asset_event_tags(conn, events, ids)
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)

    def _insert_event_rows(self, events: list[EventLogEntry]) -> list[int]:
        """The events' rows in one executemany, their ids in the events' order.

        dagster-postgres builds one INSERT … VALUES with a bound parameter per column and row, which SQLAlchemy
        compiles anew for every batch: a run's 1,300 materializations over 100 portfolios, 13 batches, took
        0.64–0.80 s to store that way and 0.47–0.54 s as executemany (the same rows, timed alone). An executemany
        compiles its statement once and SQLAlchemy's insertmanyvalues sends the rows in pages; with
        sort_by_parameter_order it guarantees the returned ids follow the rows, which the tags and the asset rows
        written after rely on.
        """
        statement = SqlEventLogStorageTable.insert().returning(
            SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
        )
        rows = [self._event_to_row(event) for event in events]
        with self._connect() as conn:
            # One page for the whole batch, so it is stored whole or not at all: each page would be a statement
            # committed on its own (AUTOCOMMIT), and Dagster stores a failed batch again event by event.
            conn = conn.execution_options(insertmanyvalues_page_size=len(rows))
            return [row[0] for row in conn.execute(statement, rows)]


class PooledPostgresRunStorage(_PooledEngine, PostgresRunStorage):
    """Runs and their status stored over pooled connections."""


class PooledPostgresScheduleStorage(_PooledEngine, PostgresScheduleStorage):
    """Schedule and sensor ticks stored over pooled connections."""


class PooledPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres's unified storage made of the pooled storages above; same config as `storage: postgres`."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ):
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PooledPostgresRunStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._event_log_storage = PooledPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._schedule_storage = PooledPostgresScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        DagsterStorage.__init__(self)  # not DagsterPostgresStorage's: it would build the unpooled storages too

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresStorage:
        """Build the storage from its dagster.yaml config (the same keys as dagster-postgres)."""
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
