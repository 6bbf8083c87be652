"""The migration runner: ledger with checksums, advisory lock, short locks with retry, online steps, rollback.

Discipline borrowed from Flyway (ledger, checksums, order) and pgroll (lock_timeout with backoff, work that
scans a table done before the short switch that makes the change visible).
"""

from __future__ import annotations

import getpass
import json
import os
import random
import socket
import time
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import sql as pgsql

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations import catalog
from dawsos_assets.migrations.files import Migration, Step, classify, load_all

ORPHAN_POLICIES = ("placeholder", "quarantine", "fail")
# Locks that stop writers (and ACCESS EXCLUSIVE also readers): how long a transaction holds one is what users feel.
WRITE_BLOCKING_LOCKS = {"ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE"}
POLICY_ENV = "DAWSOS_ORPHAN_POLICY"
LEDGER_SCHEMA = "dawsos_migrations"
ADVISORY_LOCK_KEY = 7_420_140_018  # one key for every runner of this project
LEDGER_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {LEDGER_SCHEMA};
CREATE TABLE IF NOT EXISTS {LEDGER_SCHEMA}.ledger (
    version INT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    duration_ms NUMERIC NOT NULL,
    applied_by TEXT NOT NULL,
    details JSONB NOT NULL DEFAULT '{{}}'
);
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE TABLE IF NOT EXISTS quarantine.row_copies (
    id BIGSERIAL PRIMARY KEY,
    migration TEXT NOT NULL,
    source_table TEXT NOT NULL,
    row_key TEXT NOT NULL,
    row_data JSONB NOT NULL,
    reason TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('relinked', 'moved', 'copied')),
    audited BOOLEAN NOT NULL DEFAULT FALSE,
    quarantined_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    restored_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS idx_row_copies_migration ON quarantine.row_copies (migration, source_table, row_key);
CREATE TABLE IF NOT EXISTS {LEDGER_SCHEMA}.history (
    id BIGSERIAL PRIMARY KEY,
    version INT NOT NULL,
    name TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    finished_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    duration_ms NUMERIC NOT NULL,
    applied_by TEXT NOT NULL,
    details JSONB NOT NULL DEFAULT '{{}}'
);
"""


def default_policy() -> str:
    return os.environ.get(POLICY_ENV, "placeholder")


@dataclass
class StatementReport:
    sql: str
    lock: str
    effect: str
    ms: float


@dataclass
class StepReport:
    name: str
    kind: str
    skipped: bool = False
    statements: list[StatementReport] = field(default_factory=list)
    rows: int = 0
    attempts: int = 1
    exclusive_hold_ms: float = 0.0


@dataclass
class RunReport:
    version: int
    name: str
    direction: str
    status: str  # applied | already applied | rolled back
    duration_ms: float = 0.0
    longest_exclusive_hold_ms: float = 0.0
    steps: list[StepReport] = field(default_factory=list)
    backup_path: str | None = None
    quarantined: dict[str, int] = field(default_factory=dict)
    relinked: dict[str, int] = field(default_factory=dict)
    schema_before: dict[str, list[str]] = field(default_factory=dict)
    schema_after: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class MigrationRunner:
    def __init__(self, url: str | None = None, policy: str | None = None, backup: bool = True,
                 lock_timeout_ms: int = 500, max_attempts: int = 8, migrations: list[Migration] | None = None):
        self.url = url or connection.ensure_database()
        self.policy = policy or default_policy()
        if self.policy not in ORPHAN_POLICIES:
            raise DawsosError(errors.MIGRATION_POLICY_INVALID, f"orphan policy '{self.policy}' is unknown",
                              f"choose one of {', '.join(ORPHAN_POLICIES)}")
        self.backup = backup
        self.lock_timeout_ms = lock_timeout_ms
        self.max_attempts = max_attempts
        self.migrations = migrations if migrations is not None else load_all()
        self.applied_by = f"{getpass.getuser()}@{socket.gethostname()}"

    # -- connections and the ledger ----------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        conn = connection.connect(self.url, autocommit=True)
        conn.execute("SET application_name = 'dawsos-migrate'")
        # A killed runner's backend notices the dead client within a second instead of finishing its statement.
        conn.execute("SET client_connection_check_interval = '1s'")
        # Autovacuum yields to a waiting lock only when the waiter's deadlock check runs (deadlock_timeout, 1 s by
        # default). With lock_timeout at 500 ms that check would never run, and a long autovacuum of a freshly
        # loaded table would starve every attempt; checking after 20 ms lets autovacuum step aside as designed,
        # and keeps short the time writers queue behind a lock request that waits for it.
        try:
            conn.execute("SET deadlock_timeout = '20ms'")
        except psycopg.errors.InsufficientPrivilege:
            pass  # without the right, retries with backoff still outlast an ordinary autovacuum
        # Migration SQL reads the orphan policy from this setting (current_setting('dawsos.orphan_policy')).
        conn.execute(pgsql.SQL("SET dawsos.orphan_policy = {}").format(pgsql.Literal(self.policy)))
        return conn

    def ledger(self, conn: psycopg.Connection) -> dict[int, dict]:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{LEDGER_SCHEMA}.ledger",)).fetchone()[0]
        if not exists:
            return {}
        rows = conn.execute(f"SELECT version, name, checksum, applied_at, duration_ms, applied_by, details "
                            f"FROM {LEDGER_SCHEMA}.ledger ORDER BY version").fetchall()
        return {r[0]: {"name": r[1], "checksum": r[2], "applied_at": r[3], "duration_ms": float(r[4]),
                       "applied_by": r[5], "details": r[6]} for r in rows}

    def _verify(self, conn: psycopg.Connection, ledger: dict[int, dict]) -> None:
        """Refuse changed files, files out of order and a database in no known state, before any change."""
        by_version = {m.version: m for m in self.migrations}
        for version, row in ledger.items():
            migration = by_version.get(version)
            if migration is None:
                raise DawsosError(errors.MIGRATION_NOT_FOUND, f"migration {version:03d} ({row['name']}) is applied but its "
                                  "file is missing", "restore the file from version control")
            if migration.checksum != row["checksum"]:
                raise DawsosError(errors.MIGRATION_CHECKSUM_MISMATCH,
                                  f"{migration.path.name} changed after it was applied (ledger sha256 "
                                  f"{row['checksum'][:12]}…, file {migration.checksum[:12]}…)",
                                  f"restore it with `git checkout -- sql/migrations/{migration.path.name}`; "
                                  "change an applied migration only through a new one")
        latest = max(ledger, default=0)
        for migration in self.migrations:
            if migration.version < latest and migration.version not in ledger:
                raise DawsosError(errors.MIGRATION_OUT_OF_ORDER,
                                  f"{migration.path.name} is pending but {latest:03d} is already applied",
                                  "give the new migration a number above the latest applied one")
        differences = []
        for migration in self.migrations:
            expected = migration.after if migration.version in ledger else migration.before
            state = "applied" if migration.version in ledger else "pending"
            for condition in catalog.failing(conn, expected, self.policy):
                differences.append(f"{migration.label} is {state} but `{condition}` does not hold")
        if differences:
            raise DawsosError(errors.MIGRATION_STATE_UNKNOWN,
                              "the database is in no known state: " + "; ".join(differences),
                              "inspect the schema (dawsos migrate status); restore a backup or fix it by hand, then retry")

    def _locked(self, conn: psycopg.Connection):
        """Session advisory lock: a second runner waits here, then finds nothing left to do.

        It polls with pg_try_advisory_lock between sleeps instead of blocking in pg_advisory_lock: a statement
        waiting in the server holds a snapshot, and CREATE INDEX CONCURRENTLY in the first runner would wait
        for that snapshot, a deadlock."""
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
            time.sleep(0.2)
        for statement in LEDGER_DDL.split(";"):
            if statement.strip():
                conn.execute(statement)

    def _unlock(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))

    # -- public API --------------------------------------------------------------------------------------------
    def status(self) -> list[dict]:
        with self._connect() as conn:
            ledger = self.ledger(conn)
        rows = []
        for migration in self.migrations:
            row = ledger.get(migration.version)
            rows.append({"version": migration.version, "name": migration.name,
                         "state": "applied" if row else "pending",
                         "checksum_ok": None if not row else row["checksum"] == migration.checksum,
                         "applied_at": row["applied_at"].isoformat() if row else None,
                         "duration_ms": row["duration_ms"] if row else None})
        return rows

    def plan(self, target: int | None = None) -> list[dict]:
        """Every pending step with each statement's lock and effect, evaluated against the database as it is."""
        with self._connect() as conn:
            ledger = self.ledger(conn)
            self._verify(conn, ledger)
            planned = []
            for migration in self._pending(ledger, target):
                for step in migration.steps_for("up"):
                    active = not catalog.failing(conn, step.conditions, self.policy)
                    planned.append({"migration": migration.label, "step": step.name, "kind": step.kind,
                                    "runs": active if step.kind != "switch" else "if its conditions hold at switch time",
                                    "statements": [asdict(classify(s)) | {"sql": s} for s in step.statements]})
            return planned

    def _pending(self, ledger: dict, target: int | None) -> list[Migration]:
        return [m for m in self.migrations if m.version not in ledger and (target is None or m.version <= target)]

    def apply(self, target: int | None = None, only: int | None = None) -> list[RunReport]:
        """Apply pending migrations up to `target` (or just `only`); an applied `only` reports 'already applied'."""
        with self._connect() as conn:
            self._locked(conn)
            try:
                ledger = self.ledger(conn)
                self._verify(conn, ledger)
                if only is not None:
                    migration = self._find(only)
                    if only in ledger:
                        return [RunReport(only, migration.name, "up", "already applied",
                                          duration_ms=ledger[only]["duration_ms"])]
                    earlier = [m.label for m in self._pending(ledger, only - 1)]
                    if earlier:
                        raise DawsosError(errors.MIGRATION_OUT_OF_ORDER, f"{migration.label} needs {', '.join(earlier)} first",
                                          "apply the earlier migrations first (dawsos migrate apply --to %d)" % only)
                    return [self._run(conn, migration, "up")]
                return [self._run(conn, m, "up") for m in self._pending(ledger, target)]
            finally:
                self._unlock(conn)

    def rollback(self, target: int = 0) -> list[RunReport]:
        """Undo applied migrations above `target`, newest first (target 0: back to the legacy database)."""
        with self._connect() as conn:
            self._locked(conn)
            try:
                ledger = self.ledger(conn)
                self._verify(conn, ledger)
                return [self._run(conn, self._find(v), "down") for v in sorted(ledger, reverse=True) if v > target]
            finally:
                self._unlock(conn)

    def _find(self, version: int) -> Migration:
        for migration in self.migrations:
            if migration.version == version:
                return migration
        raise DawsosError(errors.MIGRATION_NOT_FOUND, f"there is no migration {version:03d}",
                          "see `dawsos migrate status` for the known migrations")

    # -- execution ---------------------------------------------------------------------------------------------
    def _run(self, conn: psycopg.Connection, migration: Migration, direction: str) -> RunReport:
        from dawsos_assets.migrations.backup import backup_tables, table_schemas

        started = time.perf_counter()
        report = RunReport(migration.version, migration.name, direction,
                           "applied" if direction == "up" else "rolled back")
        report.schema_before = table_schemas(conn, migration.touches)
        if self.backup and direction == "up" and not self._would_refuse(conn, migration):
            report.backup_path = str(backup_tables(self.url, migration, max(self.ledger(conn), default=0)))
        steps = migration.steps_for(direction)
        switch = [s for s in steps if s.kind == "switch"]
        for step in steps:
            if step.kind != "switch":
                report.steps.append(self._run_step(conn, step))
        report.steps.append(self._run_switch(conn, migration, direction, switch, report, started))
        report.longest_exclusive_hold_ms = max((s.exclusive_hold_ms for s in report.steps), default=0.0)
        report.schema_after = table_schemas(conn, migration.touches)
        report.duration_ms = (time.perf_counter() - started) * 1000
        report.quarantined, report.relinked = self._orphan_counts(conn, migration, direction)
        return report

    def _would_refuse(self, conn: psycopg.Connection, migration: Migration) -> bool:
        """True when a require_none step will stop the migration: no backup is taken for a run that changes nothing."""
        return any(step.kind == "require_none" and not catalog.failing(conn, step.conditions, self.policy)
                   and conn.execute(step.statements[0]).fetchone() is not None for step in migration.steps_for("up"))

    def _run_step(self, conn: psycopg.Connection, step: Step) -> StepReport:
        report = StepReport(step.name, step.kind)
        if catalog.failing(conn, step.conditions, self.policy):
            report.skipped = True
            return report
        if step.kind == "online":
            conn.execute("SET lock_timeout = 0")
            for statement in step.statements:
                report.statements.append(self._execute(conn, statement))
        elif step.kind == "require_none":
            rows = conn.execute(step.statements[0]).fetchall()
            if rows:
                sample = "; ".join(" ".join(str(v) for v in row) for row in rows[:5])
                raise DawsosError(errors.MIGRATION_ORPHANS_FOUND,
                                  f"{step.name}: {len(rows)} row(s) would break the new keys (first {min(5, len(rows))}: "
                                  f"{sample}); nothing was changed",
                                  "rerun with --policy placeholder or --policy quarantine (rows are copied to quarantine "
                                  "first), or fix these rows")
        elif step.kind == "batch":
            while True:
                rows = self._transaction(conn, step.statements, report)
                report.rows += rows
                if rows == 0:
                    break
        else:
            self._transaction(conn, step.statements, report)
        return report

    def _run_switch(self, conn, migration: Migration, direction: str, steps: list[Step], run: RunReport,
                    started: float) -> StepReport:
        active = [s for s in steps if not catalog.failing(conn, s.conditions, self.policy)]
        report = StepReport("switch", "switch")
        statements = [statement for step in active for statement in step.statements]

        def ledger_write(cur):
            details = json.dumps({"policy": self.policy, "switch_steps": [s.name for s in active]})
            duration = (time.perf_counter() - started) * 1000
            if direction == "up":
                cur.execute(f"INSERT INTO {LEDGER_SCHEMA}.ledger (version, name, checksum, duration_ms, applied_by, details) "
                            "VALUES (%s, %s, %s, %s, %s, %s)",
                            (migration.version, migration.name, migration.checksum, duration, self.applied_by, details))
            else:
                cur.execute(f"DELETE FROM {LEDGER_SCHEMA}.ledger WHERE version = %s", (migration.version,))
            cur.execute(f"INSERT INTO {LEDGER_SCHEMA}.history (version, name, direction, duration_ms, applied_by, details) "
                        "VALUES (%s, %s, %s, %s, %s, %s)",
                        (migration.version, migration.name, direction, duration, self.applied_by, details))

        self._transaction(conn, statements, report, finish=ledger_write)
        return report

    def _transaction(self, conn: psycopg.Connection, statements: list[str], report: StepReport, finish=None) -> int:
        """Run statements in one transaction under lock_timeout; on a lock timeout roll back and retry with backoff.

        Returns the row count of the last statement (what a batch step repeats on)."""
        delay = 0.05
        for attempt in range(1, self.max_attempts + 1):
            report.attempts = attempt
            executed: list[StatementReport] = []
            try:
                exclusive_since = None
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(pgsql.SQL("SET LOCAL lock_timeout = {}").format(pgsql.Literal(f"{self.lock_timeout_ms}ms")))
                    rows = 0
                    for statement in statements:
                        kind = classify(statement)
                        if kind.lock in WRITE_BLOCKING_LOCKS and exclusive_since is None:
                            exclusive_since = time.perf_counter()
                        executed.append(self._execute(cur, statement))
                        rows = cur.rowcount
                    if finish:
                        finish(cur)
                if exclusive_since is not None:
                    report.exclusive_hold_ms = max(report.exclusive_hold_ms, (time.perf_counter() - exclusive_since) * 1000)
                report.statements.extend(executed)
                return max(rows, 0)
            except psycopg.errors.LockNotAvailable:
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)
        raise DawsosError(errors.MIGRATION_LOCK_TIMEOUT,
                          f"{report.name}: could not take its locks within {self.lock_timeout_ms} ms in {self.max_attempts} attempts",
                          "find the long transaction holding the table (pg_stat_activity) and retry when it ends")

    @staticmethod
    def _execute(cursor, statement: str) -> StatementReport:
        kind = classify(statement)
        began = time.perf_counter()
        cursor.execute(statement)
        return StatementReport(" ".join(statement.split())[:300], kind.lock, kind.effect, (time.perf_counter() - began) * 1000)

    @staticmethod
    def _orphan_counts(conn, migration: Migration, direction: str) -> tuple[dict, dict]:
        """Rows this migration set aside in quarantine.row_copies, and those of them relinked in place."""
        if direction != "up":
            return {}, {}
        rows = conn.execute("SELECT source_table, action, count(*) FROM quarantine.row_copies "
                            "WHERE migration = %s AND restored_at IS NULL GROUP BY 1, 2",
                            (f"{migration.version:03d}",)).fetchall()
        quarantined: dict[str, int] = {}
        for table, _action, count in rows:
            quarantined[table] = quarantined.get(table, 0) + count
        return quarantined, {t: n for t, action, n in rows if action == "relinked"}
