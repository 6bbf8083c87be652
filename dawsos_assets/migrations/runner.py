"""The migration runner: converge from whatever state the database is in, with short locks, and undo exactly.

Discipline borrowed from Flyway (ledger, checksums, order, baseline/adopt) and pgroll (lock_timeout with
backoff; work that scans a table done before the short switch that makes the change visible). Each step looks
at the catalog first: the legacy form is migrated, an absent object is created where the standard needs it, a
target already in place is adopted, and only a form no rule covers is refused — before anything changes.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import random
import re
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations import catalog, journal, renames
from dawsos_assets.migrations.files import ColumnRename, Migration, Step, classify, load_all, split_statements
from dawsos_assets.migrations.journal import LEDGER_SCHEMA, POLICY_STEP

ORPHAN_POLICIES = ("placeholder", "quarantine", "fail")
# Locks that stop writers (and ACCESS EXCLUSIVE also readers): how long a transaction holds one is what users feel.
WRITE_BLOCKING_LOCKS = {"ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE"}
POLICY_ENV = "DAWSOS_ORPHAN_POLICY"
ADVISORY_LOCK_KEY = 7_420_140_018  # one key for every runner of this project
ONLINE_LOCK_TIMEOUT_MS = 60_000  # CREATE INDEX CONCURRENTLY waits for older transactions; bounded, then retried
_CIC = re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(\S+)", re.IGNORECASE)


def default_policy() -> str:
    """The orphan policy from the environment, else placeholder."""
    return os.environ.get(POLICY_ENV, "placeholder")


def _coded(method):
    """Whatever the server does mid-way (a dropped connection, a cancelled statement), the caller gets one coded
    error; the journal and the ledger say where the database stands.
    """

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            diag = getattr(exc, "diag", None)
            message = (diag.message_primary if diag else None) or (
                str(exc).strip().splitlines() or [type(exc).__name__]
            )[0]
            raise DawsosError(
                errors.MIGRATION_SERVER_ERROR,
                f"migrate {method.__name__}: the server answered: {message[:200]}",
                "the transaction in flight was rolled back; `dawsos migrate status` shows where the "
                "database stands; rerun when the cause is gone (apply resumes, rollback undoes)",
            ) from None

    return guarded


@dataclass
class StatementReport:
    """One statement a migration ran: its SQL, lock, effect and time."""

    sql: str
    lock: str
    effect: str
    ms: float
    started: float = field(default=0.0, repr=False)  # perf_counter when it was sent


@dataclass
class StepReport:
    """One step of a migration run: whether it ran, why not, its statements and rows."""

    name: str
    kind: str
    skipped: bool = False
    reason: str = ""
    action: str = "apply"
    statements: list[StatementReport] = field(default_factory=list)
    rows: int = 0
    attempts: int = 1
    exclusive_hold_ms: float = 0.0


@dataclass
class RunReport:
    """What a migration run did, step by step."""

    version: int
    name: str
    direction: str
    status: str  # applied | adopted | already applied | rolled back
    duration_ms: float = 0.0
    longest_exclusive_hold_ms: float = 0.0
    steps: list[StepReport] = field(default_factory=list)
    backup_path: str | None = None
    quarantined: dict[str, int] = field(default_factory=dict)
    relinked: dict[str, int] = field(default_factory=dict)
    schema_before: dict[str, list[str]] = field(default_factory=dict)
    schema_after: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The report as a plain dict, for JSON."""
        return asdict(self)


@dataclass
class PlannedStep:
    """One step of a plan: what it would do and why."""

    step: str
    kind: str
    action: str  # apply | create | skip | refuse | decided at switch time
    reason: str
    statements: list[dict]


@dataclass
class MigrationPlan:
    """What applying a migration would do, without doing it."""

    version: int
    label: str
    state: str  # pending | partial
    action: str  # apply | adopt | refuse
    steps: list[PlannedStep] = field(default_factory=list)
    refusal: str | None = None

    def as_dict(self) -> dict:
        """The plan as a plain dict, for JSON."""
        return asdict(self)


class MigrationRunner:
    """Plans, applies, verifies and rolls back the migrations of one database."""

    def __init__(
        self,
        url: str | None = None,
        policy: str | None = None,
        backup: bool = True,
        lock_timeout_ms: int = 500,
        max_attempts: int = 8,
        migrations: list[Migration] | None = None,
        observer=None,
    ):
        """`observer`, if given, is told when each transaction opens and just before it commits
        (`opened`/`closing(cursor, migration label, step name, step kind)`): the no-rewrite guard's window.
        """
        self.url = url or connection.ensure_database()
        self.policy = policy or default_policy()
        if self.policy not in ORPHAN_POLICIES:
            raise DawsosError(
                errors.MIGRATION_POLICY_INVALID,
                f"orphan policy '{self.policy}' is unknown",
                f"choose one of {', '.join(ORPHAN_POLICIES)}",
            )
        self.backup = backup
        self.lock_timeout_ms = lock_timeout_ms
        self.max_attempts = max_attempts
        self.migrations = migrations if migrations is not None else load_all()
        self.observer = observer
        self.applied_by = f"{getpass.getuser()}@{socket.gethostname()}"

    # -- connections, the ledger, the advisory lock ----------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        conn = connection.connect(self.url, autocommit=True)
        conn.execute("SET application_name = 'dawsos-migrate'")
        # A killed runner's backend notices the dead client within a second instead of finishing its statement.
        conn.execute("SET client_connection_check_interval = '1s'")
        # The table owner is exempt from row-level security unless a table forces it; then a query that would see
        # only some rows fails instead of silently migrating a subset.
        conn.execute("SET row_security = off")
        # Migrations bound their own waits (lock_timeout); a role's statement_timeout must not cut a validation
        # scan short. A function's old text is put back while the columns still carry the new names, so bodies
        # are checked when they run, not when they are created.
        conn.execute("SET statement_timeout = 0")
        conn.execute("SET check_function_bodies = off")
        # Autovacuum yields to a waiting lock only when the waiter's deadlock check runs (deadlock_timeout, 1 s by
        # default); checking after 20 ms lets autovacuum step aside before our 500 ms lock_timeout. Superuser-only
        # on managed servers: without it the retries with backoff still outlast an ordinary autovacuum.
        try:
            conn.execute("SET deadlock_timeout = '20ms'")
        except psycopg.errors.InsufficientPrivilege:
            pass
        # Migration SQL reads the orphan policy from this setting (current_setting('dawsos.orphan_policy')).
        conn.execute(pgsql.SQL("SET dawsos.orphan_policy = {}").format(pgsql.Literal(self.policy)))
        return conn

    def ledger(self, conn: psycopg.Connection) -> dict[int, dict]:
        """Version -> the ledger row of every applied migration."""
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{LEDGER_SCHEMA}.ledger",)).fetchone()[0]
        if not exists:
            return {}
        has_status = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'ledger' AND column_name = 'status'",
            (LEDGER_SCHEMA,),
        ).fetchone()
        status = "status" if has_status else "'applied'"
        rows = conn.execute(
            f"SELECT version, name, checksum, applied_at, duration_ms, applied_by, details, {status} "  # noqa: S608 — status and LEDGER_SCHEMA are chosen in this method, not user input
            f"FROM {LEDGER_SCHEMA}.ledger ORDER BY version"
        ).fetchall()
        return {
            r[0]: {
                "name": r[1],
                "checksum": r[2],
                "applied_at": r[3],
                "duration_ms": float(r[4]),
                "applied_by": r[5],
                "details": r[6],
                "status": r[7],
            }
            for r in rows
        }

    def _verify(self, ledger: dict[int, dict]) -> None:
        """Refuse changed files, missing files and files out of order, before any change."""
        by_version = {m.version: m for m in self.migrations}
        for version, row in ledger.items():
            migration = by_version.get(version)
            if migration is None:
                raise DawsosError(
                    errors.MIGRATION_NOT_FOUND,
                    f"migration {version:03d} ({row['name']}) is applied but its file is missing",
                    "restore the file from version control",
                )
            if migration.checksum != row["checksum"]:
                raise DawsosError(
                    errors.MIGRATION_CHECKSUM_MISMATCH,
                    f"{migration.path.name} changed after it was applied (ledger sha256 "
                    f"{row['checksum'][:12]}…, file {migration.checksum[:12]}…)",
                    f"restore it with `git checkout -- sql/migrations/{migration.path.name}`; "
                    "change an applied migration only through a new one",
                )
        latest = max(ledger, default=0)
        for migration in self.migrations:
            if migration.version < latest and migration.version not in ledger:
                raise DawsosError(
                    errors.MIGRATION_OUT_OF_ORDER,
                    f"{migration.path.name} is pending but {latest:03d} is already applied",
                    "give the new migration a number above the latest applied one",
                )

    @contextmanager
    def _session(self, exclusive: bool = True):
        """A connection holding the advisory lock, with the bookkeeping schema in place.

        It polls pg_try_advisory_lock between sleeps instead of blocking in pg_advisory_lock: a statement waiting
        in the server holds a snapshot, and CREATE INDEX CONCURRENTLY in the first runner would wait for it.
        """
        with self._connect() as conn:
            if exclusive:
                while not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
                    time.sleep(0.2)
            try:
                if exclusive:
                    self._create_bookkeeping(conn)
                yield conn
            finally:
                if exclusive and not conn.broken and not conn.closed:  # a dropped connection released it already
                    conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))

    def _create_bookkeeping(self, conn: psycopg.Connection) -> None:
        try:
            for statement in split_statements(journal.DDL):
                conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DawsosError(
                errors.MIGRATION_PRIVILEGE_MISSING,
                f"cannot create the bookkeeping schemas ({exc.diag.message_primary})",
                "run as the role that owns the DawsOS tables and can create schemas in this database "
                "(GRANT CREATE ON DATABASE … TO that role)",
            ) from None
        except psycopg.Error:
            self._check_bookkeeping(conn)  # a table of that name that is not ours is the likely cause: say which
            raise
        self._check_bookkeeping(conn)

    @staticmethod
    def _check_bookkeeping(conn: psycopg.Connection) -> None:
        for table, columns in journal.EXPECTED_COLUMNS.items():
            present = {
                c
                for (c,) in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                    "AND attnum > 0 AND NOT attisdropped",
                    (table,),
                )
            }
            if present and not columns <= present:
                raise DawsosError(
                    errors.MIGRATION_STATE_UNKNOWN,
                    f"{table} exists but is not this tool's: it lacks {', '.join(sorted(columns - present))}",
                    "rename or move that table (its schema name is taken), then rerun",
                )

    # -- public API --------------------------------------------------------------------------------------------
    @_coded
    def status(self) -> list[dict]:
        """Each migration's state (applied, partial or pending) with its ledger row."""
        with self._session(exclusive=False) as conn:
            ledger = self.ledger(conn)
            started = journal.started_versions(conn)
        rows = []
        for migration in self.migrations:
            row = ledger.get(migration.version)
            state = row["status"] if row else "partial" if migration.version in started else "pending"
            rows.append(
                {
                    "version": migration.version,
                    "name": migration.name,
                    "state": state,
                    "checksum_ok": None if not row else row["checksum"] == migration.checksum,
                    "applied_at": row["applied_at"].isoformat() if row else None,
                    "duration_ms": row["duration_ms"] if row else None,
                }
            )
        return rows

    @_coded
    def plan(self, target: int | None = None) -> list[MigrationPlan]:
        """Per pending migration and step: apply, adopt, create, skip or refuse — and why — before any change."""
        with self._session(exclusive=False) as conn:
            ledger = self.ledger(conn)
            self._verify(ledger)
            started = journal.started_versions(conn)
            return [
                self._plan_migration(conn, m, "partial" if m.version in started else "pending")
                for m in self._pending(ledger, target)
            ]

    @_coded
    def apply(self, target: int | None = None, only: int | None = None) -> list[RunReport]:
        """Apply pending migrations up to `target` (or just `only`); an applied `only` reports 'already applied'."""
        with self._session() as conn:
            ledger = self.ledger(conn)
            self._verify(ledger)
            if only is not None:
                migration = self._find(only)
                if only in ledger:
                    return [
                        RunReport(
                            only, migration.name, "up", "already applied", duration_ms=ledger[only]["duration_ms"]
                        )
                    ]
                earlier = [m.label for m in self._pending(ledger, only - 1)]
                if earlier:
                    raise DawsosError(
                        errors.MIGRATION_OUT_OF_ORDER,
                        f"{migration.label} needs {', '.join(earlier)} first",
                        f"apply the earlier migrations first (dawsos migrate apply --to {only})",
                    )
                pending = [migration]
            else:
                pending = self._pending(ledger, target)
            for migration in pending:  # every refusal is found before the first change
                self._refuse_if_needed(conn, migration)
            return [self._run_up(conn, m) for m in pending]

    @_coded
    def rollback(self, target: int = 0) -> list[RunReport]:
        """Undo what migrations above `target` changed, newest first (target 0: back to the state found).

        A migration killed half-way has no ledger row but a journal: what it did is undone too.
        """
        with self._session() as conn:
            ledger = self.ledger(conn)
            self._verify(ledger)
            started = journal.started_versions(conn)
            versions = sorted((set(ledger) | started) & self._versions(), reverse=True)
            return [self._run_down(conn, self._find(v), v in ledger) for v in versions if v > target]

    @_coded
    def adopt(self, version: int) -> RunReport:
        """Record a pending migration as done without running it, after a human checked its target by hand."""
        migration = self._find(version)
        with self._session() as conn:
            ledger = self.ledger(conn)
            self._verify(ledger)
            if version in ledger:
                return RunReport(version, migration.name, "adopt", "already applied")
            earlier = [m.label for m in self._pending(ledger, version - 1)]
            if earlier:
                raise DawsosError(
                    errors.MIGRATION_OUT_OF_ORDER,
                    f"{migration.label} cannot be adopted before {', '.join(earlier)}",
                    f"apply them first: dawsos migrate apply --to {version - 1}",
                )
            if journal.entries(conn, version):
                raise DawsosError(
                    errors.MIGRATION_STATE_UNKNOWN,
                    f"{migration.label} is partly applied",
                    f"finish it with `dawsos migrate apply` or undo it with `dawsos migrate rollback "
                    f"--to {version - 1}` before adopting it",
                )
            unmet = catalog.failing(conn, migration.target, self.policy)
            with conn.transaction(), conn.cursor() as cur:
                self._write_ledger(
                    cur, migration, "adopted", 0.0, {"by": "dawsos migrate adopt", "unmet_target": unmet}
                )
                self._write_history(cur, migration, "adopt", 0.0, {"unmet_target": unmet})
            return RunReport(version, migration.name, "adopt", "adopted")

    @_coded
    def restore(self, dump: Path) -> dict:
        """Put a pre-migration backup back, in one transaction or not at all: the migrations after its version are
        undone, then the backed-up tables are made equal to the dump — rows that differ or are not in it are copied
        to quarantine first. The backup is verified before anything changes; the table owner's rights suffice.
        """
        from dawsos_assets.migrations.backup import read_backup

        backup = read_backup(dump)
        with self._session() as conn:
            ledger = self.ledger(conn)
            self._verify(ledger)
            started = journal.started_versions(conn)
            current = max((v for v, row in ledger.items()), default=0)
            if current < backup.version_before:
                raise DawsosError(
                    errors.BACKUP_INVALID,
                    f"{dump.name[:120]} was taken at version {backup.version_before:03d}; "
                    f"this database is at {current:03d}; nothing was changed",
                    f"apply up to it first (dawsos migrate apply --to {backup.version_before}), or restore "
                    "an older backup",
                )
            undo = sorted(v for v in (set(ledger) | started) & self._versions() if v > backup.version_before)
            try:
                with conn.transaction():
                    for version in reversed(undo):
                        self._run_down(conn, self._find(version), version in ledger)
                    order = self._parents_first(conn, backup.tables)
                    replaced = sum(self._load_table(conn, t, *backup.data[t], dump.name) for t in order)
                    replaced += sum(self._drop_extra_rows(conn, t, dump.name) for t in reversed(order))
            except DawsosError as failed:
                if failed.code == errors.BACKUP_INVALID:
                    raise
                raise DawsosError(
                    errors.BACKUP_FAILED,
                    f"restoring {dump.name} failed, nothing changed: {failed.message}",
                    failed.suggestion,
                ) from None
            except psycopg.Error as exc:
                raise DawsosError(
                    errors.BACKUP_FAILED,
                    f"restoring {dump.name} failed, nothing changed: "
                    f"{exc.diag.message_primary or str(exc).strip().splitlines()[0]}",
                    "rows of other tables may still point at rows the backup does not have; "
                    "`dawsos migrate status` shows the version, which is unchanged",
                ) from None
        return {
            "restored": str(dump),
            "version": backup.version_before,
            "tables": backup.tables,
            "rows_set_aside": replaced,
        }

    def _parents_first(self, conn: psycopg.Connection, tables: list[str]) -> list[str]:
        """The tables ordered so that a table comes after every other one of them it references."""
        edges = conn.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid <> confrelid AND connamespace = 'public'::regnamespace"
        ).fetchall()
        ordered, pending = [], list(tables)
        while pending:
            ready = [
                t for t in pending if not any(child == t and parent in pending for child, parent in edges)
            ] or pending
            ordered.append(ready[0])
            pending.remove(ready[0])
        return ordered

    def _load_table(
        self, conn: psycopg.Connection, table: str, columns: list[str], lines: list[str], source: str
    ) -> int:
        present = [
            c
            for (c,) in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (f"public.{table}",),
            )
        ]
        if sorted(present) != sorted(columns):
            raise DawsosError(
                errors.BACKUP_INVALID,
                f"{source[:120]}: {table} has columns {present} here, the backup {columns}; nothing was changed",
                "restore the backup taken for this schema version",
            )
        key = [
            c
            for (c,) in conn.execute(
                "SELECT a.attname FROM pg_index i "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
                (f"public.{table}",),
            )
        ]
        if not key:
            raise DawsosError(
                errors.BACKUP_INVALID,
                f"{table} has no primary key to match rows by; nothing was changed",
                "restore this table with pg_restore by hand",
            )
        stage, target = pgsql.Identifier(f"_restore_{table}"), pgsql.Identifier("public", table)
        names = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)
        conn.execute(pgsql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(stage, target))
        with conn.cursor().copy(pgsql.SQL("COPY {} ({}) FROM STDIN").format(stage, names)) as copy:
            for line in lines:
                copy.write(line + "\n")
        matches = pgsql.SQL(" AND ").join(pgsql.SQL("s.{c} = t.{c}").format(c=pgsql.Identifier(c)) for c in key)
        set_aside = conn.execute(
            pgsql.SQL(
                "INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action) "
                "SELECT 'restore', {table}, t.ctid::text, to_jsonb(t), {reason}, 'copied' FROM {target} t "
                "WHERE EXISTS (SELECT 1 FROM {stage} s WHERE {matches} AND to_jsonb(s) <> to_jsonb(t))"
            ).format(
                table=pgsql.Literal(table),
                reason=pgsql.Literal(f"replaced by the restore of {source}"),
                target=target,
                stage=stage,
                matches=matches,
            )
        ).rowcount
        before, after = self._quiet(conn, [table])
        for statement in before:
            conn.execute(statement)
        updates = pgsql.SQL(", ").join(pgsql.SQL("{c} = EXCLUDED.{c}").format(c=pgsql.Identifier(c)) for c in columns)
        conn.execute(
            pgsql.SQL(
                "INSERT INTO {target} ({names}) SELECT {names} FROM {stage} ON CONFLICT ({key}) DO UPDATE SET {updates}"
            ).format(
                target=target,
                names=names,
                stage=stage,
                updates=updates,
                key=pgsql.SQL(", ").join(pgsql.Identifier(c) for c in key),
            )
        )
        for statement in after:
            conn.execute(statement)
        return set_aside

    def _drop_extra_rows(self, conn: psycopg.Connection, table: str, source: str) -> int:
        """Rows written after the backup go (children first), each copied to quarantine before."""
        stage, target = pgsql.Identifier(f"_restore_{table}"), pgsql.Identifier("public", table)
        key = [
            c
            for (c,) in conn.execute(
                "SELECT a.attname FROM pg_index i "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
                (f"public.{table}",),
            )
        ]
        matches = pgsql.SQL(" AND ").join(pgsql.SQL("s.{c} = t.{c}").format(c=pgsql.Identifier(c)) for c in key)
        extra = pgsql.SQL("NOT EXISTS (SELECT 1 FROM {stage} s WHERE {matches})").format(stage=stage, matches=matches)
        copied = self._copy_dependent_rows(conn, table, target, extra, source)
        copied += conn.execute(
            pgsql.SQL(
                "INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action) "
                "SELECT 'restore', {table}, t.ctid::text, to_jsonb(t), {reason}, 'copied' FROM {target} t WHERE {extra}"
            ).format(
                table=pgsql.Literal(table),
                reason=pgsql.Literal(f"not in the backup {source}"),
                target=target,
                extra=extra,
            )
        ).rowcount
        conn.execute(pgsql.SQL("DELETE FROM {target} t WHERE {extra}").format(target=target, extra=extra))
        return copied

    @staticmethod
    def _copy_dependent_rows(conn: psycopg.Connection, table: str, target, extra, source: str) -> int:
        """Rows of other tables that deleting `table`'s extra rows would delete or change through their foreign keys
        (ON DELETE CASCADE, SET NULL, SET DEFAULT) are copied to quarantine first.
        """
        copied = 0
        for child, parent_columns, child_columns in conn.execute(
            """
                SELECT c.conrelid::regclass::text,
                       ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = c.confrelid AND attnum = ANY(c.confkey)),
                       ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = c.conrelid AND attnum = ANY(c.conkey))
                  FROM pg_constraint c
                 WHERE c.contype = 'f' AND c.confrelid = to_regclass(%s) AND c.confdeltype IN ('c', 'n', 'd')""",
            (f"public.{table}",),
        ).fetchall():
            joined = pgsql.SQL(" AND ").join(
                pgsql.SQL("k.{} = t.{}").format(pgsql.Identifier(c), pgsql.Identifier(p))
                for c, p in zip(child_columns, parent_columns, strict=True)
            )
            copied += conn.execute(
                pgsql.SQL(
                    "INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action) "
                    "SELECT 'restore', {child}, k.ctid::text, to_jsonb(k), {reason}, 'copied' FROM {child_table} k "
                    "WHERE EXISTS (SELECT 1 FROM {target} t WHERE {joined} AND {extra})"
                ).format(
                    child=pgsql.Literal(child),
                    child_table=pgsql.SQL(child),
                    target=target,
                    joined=joined,
                    extra=extra,
                    reason=pgsql.Literal(f"its {table} row is not in the backup {source}; the delete reaches it"),
                )
            ).rowcount
        return copied

    def _versions(self) -> set[int]:
        return {m.version for m in self.migrations}

    def _pending(self, ledger: dict, target: int | None) -> list[Migration]:
        return [m for m in self.migrations if m.version not in ledger and (target is None or m.version <= target)]

    def _find(self, version: int) -> Migration:
        for migration in self.migrations:
            if migration.version == version:
                return migration
        raise DawsosError(
            errors.MIGRATION_NOT_FOUND,
            f"there is no migration {version:03d}",
            "see `dawsos migrate status` for the known migrations",
        )

    # -- planning ----------------------------------------------------------------------------------------------
    def _refusal(self, conn: psycopg.Connection, migration: Migration) -> tuple[str, str | None] | None:
        """The first refuse step whose query answers: (reason, the way out if the step names one)."""
        for step in migration.steps_for("up"):
            if step.kind == "refuse" and not catalog.failing(conn, step.conditions, self.policy):
                row = conn.execute(step.statements[0]).fetchone()
                if row:
                    return f"{migration.label}: {row[0]}", (row[1] if len(row) > 1 else None)
        return None

    def _unworkable_tables(self, conn: psycopg.Connection, migration: Migration) -> None:
        """Tables the migration touches that its role may not change, or whose rows it would see only in part."""
        rows = conn.execute(
            """
            SELECT c.relname, NOT pg_has_role(current_user, c.relowner, 'USAGE'), c.relforcerowsecurity,
                   pg_get_userbyid(c.relowner)
              FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s)""",
            (migration.touches,),
        ).fetchall()
        foreign = [f"{name} (owned by {owner})" for name, not_owned, _force, owner in rows if not_owned]
        if foreign:
            raise DawsosError(
                errors.MIGRATION_PRIVILEGE_MISSING,
                f"{migration.label} changes {', '.join(foreign)}, which this role does not own",
                "run it as the role that owns the DawsOS tables, or have the owner ALTER TABLE … OWNER TO this role",
            )
        forced = [name for name, _not_owned, force, _owner in rows if force]
        if forced:
            raise DawsosError(
                errors.MIGRATION_STATE_UNKNOWN,
                f"{migration.label}: {', '.join(forced)} forces row-level "
                "security on its owner, so a migration would see only some of its rows",
                "ALTER TABLE … NO FORCE ROW LEVEL SECURITY for the migration, then FORCE it again",
            )

    def _refuse_if_needed(self, conn: psycopg.Connection, migration: Migration) -> None:
        recorded = journal.recorded_policy(conn, migration.version)
        if recorded and recorded != self.policy and migration.uses_policy():
            raise DawsosError(
                errors.MIGRATION_POLICY_CONFLICT,
                f"{migration.label} was started with orphan policy '{recorded}', not '{self.policy}'",
                f"resume it with --policy {recorded}, or undo it first with "
                f"`dawsos migrate rollback --to {migration.version - 1}`",
            )
        self._unworkable_tables(conn, migration)
        refusal = self._refusal(conn, migration)
        if refusal:
            reason, way_out = refusal
            raise DawsosError(
                errors.MIGRATION_STATE_UNKNOWN,
                reason,
                way_out
                or f"check the object by hand; if it already is what {migration.label} makes, "
                f"`dawsos migrate adopt {migration.version}` records it as done",
            )
        states = {r: renames.assess(conn, r) for r in migration.renames}
        renames.refuse_contradictions(
            migration.label, states, renames.dependents(conn, [r for r, s in states.items() if s == "rename"])
        )

    def _plan_migration(self, conn: psycopg.Connection, migration: Migration, state: str) -> MigrationPlan:
        plan = MigrationPlan(migration.version, migration.label, state, "adopt")
        try:
            self._refuse_if_needed(conn, migration)
        except DawsosError as refused:
            plan.action, plan.refusal = "refuse", refused.message
        earlier: list[str] = []
        for step in migration.steps_for("up"):
            if step.kind == "refuse":
                continue
            planned = self._plan_step(conn, step, earlier)
            plan.steps.append(planned)
            if planned.action in ("apply", "create", "decided at switch time"):
                earlier += step.statements
        states = {r: renames.assess(conn, r) for r in migration.renames}
        to_rename = [r for r, s in states.items() if s == "rename"]
        for rename, rename_state in states.items():
            action = {"rename": "apply", "contradiction": "refuse"}.get(rename_state, rename_state.split(":")[0])
            plan.steps.append(
                PlannedStep(
                    f"rename {rename.table}.{rename.legacy}",
                    "switch",
                    action,
                    renames.describe_state(rename, rename_state),
                    [],
                )
            )
        deps = renames.dependents(conn, to_rename)
        for fix in deps.functions:
            plan.steps.append(
                PlannedStep(
                    f"function {fix.signature}",
                    "switch",
                    fix.action,
                    fix.reason,
                    [{"sql": fix.forward}] if fix.forward else [],
                )
            )
        for what in deps.follows:
            plan.steps.append(PlannedStep(what.split(" (")[0], "switch", "follows", what, []))
        for note in deps.notes:
            plan.steps.append(PlannedStep("note", "switch", "note", note, []))
        if plan.action != "refuse" and (
            to_rename or any(s.action in ("apply", "create") and s.kind != "require_none" for s in plan.steps)
        ):
            plan.action = "apply"
        return plan

    def _plan_step(self, conn: psycopg.Connection, step: Step, earlier: list[str]) -> PlannedStep:
        """`earlier`: the statements of the earlier steps of this migration that will run; a switch step whose
        conditions name an object those statements touch is decided when the switch runs.
        """
        statements = [asdict(classify(s)) | {"sql": s} for s in step.statements]
        unmet = catalog.failing(conn, step.conditions, self.policy)
        if not unmet:
            if not step.statements:
                return PlannedStep(step.name, step.kind, "skip", "records the migration", [])
            return PlannedStep(
                step.name,
                step.kind,
                step.action,
                "when " + ", ".join(step.conditions) if step.conditions else "always",
                statements,
            )
        reason = "; ".join(catalog.describe(c) for c in unmet)
        touched = " ".join(earlier).lower()
        if step.kind == "switch" and any(_object_of(c) in touched for c in unmet):
            return PlannedStep(
                step.name, step.kind, "decided at switch time", f"after the earlier steps: {reason}", statements
            )
        return PlannedStep(step.name, step.kind, "skip", reason, statements)

    # -- running up ------------------------------------------------------------------------------------------------
    def _run_up(self, conn: psycopg.Connection, migration: Migration) -> RunReport:
        from dawsos_assets.migrations.backup import backup_tables, table_schemas

        started = time.perf_counter()
        self._refuse_if_needed(conn, migration)
        self._require_none(conn, migration)
        report = RunReport(migration.version, migration.name, "up", "applied")
        report.schema_before = table_schemas(conn, migration.touches)
        if self.backup and self._plan_migration(conn, migration, "pending").action == "apply":
            report.backup_path = backup_tables(self.url, migration, max(self.ledger(conn), default=0), conn)
        for step in migration.steps_for("up"):
            if step.kind not in ("switch", "refuse"):
                report.steps.append(self._run_step(conn, migration, step))
        report.steps.append(self._run_switch(conn, migration, report, started))
        report.longest_exclusive_hold_ms = max((s.exclusive_hold_ms for s in report.steps), default=0.0)
        report.schema_after = table_schemas(conn, migration.touches)
        report.duration_ms = (time.perf_counter() - started) * 1000
        report.quarantined, report.relinked = self._orphan_counts(conn, migration)
        return report

    def _record_policy(self, cur, migration: Migration) -> None:
        if migration.uses_policy():
            journal.record(cur, migration.version, POLICY_STEP, detail={"policy": self.policy})

    def _run_step(self, conn: psycopg.Connection, migration: Migration, step: Step) -> StepReport:
        report = StepReport(step.name, step.kind, action=step.action)
        unmet = catalog.failing(conn, step.conditions, self.policy)
        if unmet:
            report.skipped, report.reason = True, "; ".join(catalog.describe(c) for c in unmet)
            return report
        if step.kind == "require_none":
            return report  # checked for the whole migration before its first step
        if step.kind == "online":
            with conn.transaction(), conn.cursor() as cur:  # journaled before it runs: a kill mid-way is undone too
                self._record_policy(cur, migration)
                journal.record(cur, migration.version, step.name)
            for statement in step.statements:
                report.statements.append(self._online(conn, migration, step, statement, report))
            return report

        def journal_step(cur, changed: bool):
            if changed:  # a step that found nothing to change leaves nothing to undo
                self._record_policy(cur, migration)
                journal.record(cur, migration.version, step.name)

        if step.kind == "batch":
            while True:
                rows = self._transaction(conn, migration, step, step.statements, report, finish=journal_step)
                report.rows += rows
                if rows == 0:
                    break
        else:
            report.rows = self._transaction(conn, migration, step, step.statements, report, finish=journal_step)
        return report

    def _require_none(self, conn: psycopg.Connection, migration: Migration) -> None:
        """Every require_none query whose conditions hold, together: the migration stops before any change and
        lists all the rows in its way at once.
        """
        rows, names = [], []
        for step in migration.steps_for("up"):
            if step.kind == "require_none" and not catalog.failing(conn, step.conditions, self.policy):
                with self._server_errors(migration, step, step.statements[0]):
                    found = conn.execute(step.statements[0]).fetchall()
                rows += found
                names += [step.name] if found else []
        if rows:
            sample = "; ".join(" ".join(str(v) for v in row) for row in rows[:5])
            raise DawsosError(
                errors.MIGRATION_ORPHANS_FOUND,
                f"{migration.label} ({', '.join(names)}): {len(rows)} row(s) would break the new keys "
                f"(first {min(5, len(rows))}: {sample}); nothing was changed",
                "rerun with --policy placeholder or --policy quarantine (rows are copied to quarantine "
                "first), or fix these rows",
            )

    def _online(
        self, conn: psycopg.Connection, migration: Migration, step: Step, statement: str, report: StepReport
    ) -> StatementReport:
        """One autocommit statement with a bounded lock wait, retried; a timed-out CREATE INDEX CONCURRENTLY leaves
        an invalid index, which is dropped before the next attempt.
        """
        delay = 0.5
        for attempt in range(1, self.max_attempts + 1):
            report.attempts = attempt
            conn.execute(pgsql.SQL("SET lock_timeout = {}").format(pgsql.Literal(f"{ONLINE_LOCK_TIMEOUT_MS}ms")))
            try:
                with self._server_errors(migration, step, statement):
                    return self._execute(conn, statement)
            except psycopg.errors.LockNotAvailable:
                index = _CIC.match(statement.strip())
                if index:
                    conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.group(1)}")
                time.sleep(delay * (1 + random.random()))  # noqa: S311 — jitter of a lock-retry backoff, not a secret
                delay = min(delay * 2, 10.0)
            finally:
                conn.execute("SET lock_timeout = 0")
        raise DawsosError(
            errors.MIGRATION_LOCK_TIMEOUT,
            f"{migration.label} step {step.name}: waited {self.max_attempts} × {ONLINE_LOCK_TIMEOUT_MS} ms "
            f"for older transactions to finish",
            "find the long transaction (pg_stat_activity, "
            "state 'idle in transaction') and rerun apply when it ends; the step resumes",
        )

    def _run_switch(self, conn, migration: Migration, run: RunReport, started: float) -> StepReport:
        report = StepReport("switch", "switch")

        def body(cur):
            changed = self._switch_renames(conn, cur, migration, report)
            for step in migration.steps_for("up"):
                if step.kind != "switch" or not step.statements:
                    continue
                unmet = catalog.failing(conn, step.conditions, self.policy)
                if unmet:
                    continue
                before, after = self._quiet(conn, step.quiet)
                for statement in before + step.statements + after:
                    with self._server_errors(migration, step, statement):
                        report.statements.append(self._execute(cur, statement))
                journal.record(cur, migration.version, step.name)
                changed = True
            unmet = catalog.failing(conn, migration.target, self.policy)
            if unmet:
                raise DawsosError(
                    errors.MIGRATION_STATE_UNKNOWN,
                    f"{migration.label}: after its steps " + "; ".join(catalog.describe(c) for c in unmet),
                    f"`dawsos migrate plan` shows what each step found; after checking by hand, "
                    f"`dawsos migrate adopt {migration.version}` records it as done",
                )
            done = changed or any(e[1] != POLICY_STEP for e in journal.entries(conn, migration.version))
            run.status = "applied" if done else "adopted"
            self._write_ledger(
                cur, migration, run.status, (time.perf_counter() - started) * 1000, {"policy": self.policy}
            )
            self._write_history(cur, migration, "up", (time.perf_counter() - started) * 1000, {"status": run.status})

        self._retrying(conn, migration, report, body)
        return report

    def _switch_renames(self, conn, cur, migration: Migration, report: StepReport) -> bool:
        """The renames and everything that follows them. Worked out from the catalog first, then run in a tight
        sequence: the first rename takes the table's ACCESS EXCLUSIVE lock, and no catalog reading happens after it.
        """
        to_rename = [r for r in migration.renames if renames.assess(conn, r) == "rename"]
        if not to_rename:
            return False
        deps = renames.dependents(conn, to_rename)
        renames.refuse_contradictions(migration.label, {r: "rename" for r in to_rename}, deps)
        actions = [
            (
                *renames.column_action(conn, r),
                "rename column",
                {"table": r.table, "legacy": r.legacy, "standard": r.standard},
            )
            for r in to_rename
        ]
        actions += [
            (*action, "catalog change", None) for r in to_rename for action in renames.named_object_actions(conn, r)
        ]
        actions += [
            (f"{fix.action} function {fix.signature}", fix.forward, fix.inverse, "catalog change", None)
            for fix in deps.functions
            if fix.forward
        ]
        actions += [(*action, "catalog change", None) for action in renames.legacy_schema_actions(conn)]
        for table in sorted({r.table for r in to_rename}):
            renamed = {r.legacy: r.standard for r in to_rename if r.table == table}
            aliases = self._legacy_aliases(conn, table) | {standard: legacy for legacy, standard in renamed.items()}
            actions += [
                (*action, "catalog change", None)
                for action in renames.legacy_view_actions(conn, table, aliases, renamed)
            ]
        prepared = [
            (description, split_statements(forward), inverse, step, detail)
            for description, forward, inverse, step, detail in actions
        ]
        for description, statements, _inverse, _step, _detail in prepared:
            for statement in statements:
                with self._server_errors(migration, Step("up", "switch", description), statement):
                    report.statements.append(self._execute(cur, statement))
        cur.executemany(
            f"INSERT INTO {LEDGER_SCHEMA}.journal (version, step, inverse, detail) VALUES (%s, %s, %s, %s)",  # noqa: S608 — LEDGER_SCHEMA is a module constant
            [
                (migration.version, step, inverse, json.dumps({"description": description} | (detail or {})))
                for description, _statements, inverse, step, detail in prepared
            ],
        )
        return True

    def _legacy_aliases(self, conn, table: str) -> dict[str, str]:
        """Standard → legacy name of every column of `table` that an earlier migration renamed."""
        rows = conn.execute(
            f"SELECT detail FROM {LEDGER_SCHEMA}.journal WHERE step = 'rename column' AND detail->>'table' = %s",  # noqa: S608 — LEDGER_SCHEMA is a module constant
            (table,),
        ).fetchall()
        return {d["standard"]: d["legacy"] for (d,) in rows}

    def _write_ledger(self, cur, migration: Migration, status: str, duration_ms: float, details: dict) -> None:
        cur.execute(
            f"INSERT INTO {LEDGER_SCHEMA}.ledger (version, name, checksum, duration_ms, applied_by, details, status) "  # noqa: S608 — LEDGER_SCHEMA is a module constant
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                migration.version,
                migration.name,
                migration.checksum,
                duration_ms,
                self.applied_by,
                json.dumps(details),
                status,
            ),
        )

    def _write_history(self, cur, migration: Migration, direction: str, duration_ms: float, details: dict) -> None:
        cur.execute(
            f"INSERT INTO {LEDGER_SCHEMA}.history (version, name, direction, duration_ms, applied_by, details) "  # noqa: S608 — LEDGER_SCHEMA is a module constant
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (migration.version, migration.name, direction, duration_ms, self.applied_by, json.dumps(details)),
        )

    # -- running down ----------------------------------------------------------------------------------------------
    def _run_down(self, conn: psycopg.Connection, migration: Migration, in_ledger: bool) -> RunReport:
        started = time.perf_counter()
        report = RunReport(migration.version, migration.name, "down", "rolled back")
        step_report = StepReport("rollback", "switch")
        entries = journal.entries(conn, migration.version)

        # An inverse may ask to run before or after all the others: a key the migration validated is dropped first and
        # put back NOT VALID last, once the rows it guards are back as they were.
        ordered = sorted(reversed(entries), key=lambda e: {"first": 0, "last": 2}.get(e[3].get("phase"), 1))

        def body(cur):
            for _id, step_name, inverse, detail in ordered:
                if step_name == POLICY_STEP:
                    continue
                if inverse is not None:
                    undo = Step("down", "switch", detail.get("description", step_name))
                    for statement in split_statements(inverse):
                        with self._server_errors(migration, undo, statement):
                            step_report.statements.append(self._execute(cur, statement))
                    continue
                for down in migration.steps_for("down"):
                    if down.undoes == step_name and not catalog.failing(conn, down.conditions, self.policy):
                        before, after = self._quiet(conn, down.quiet)
                        for statement in before + down.statements + after:
                            with self._server_errors(migration, down, statement):
                                step_report.statements.append(self._execute(cur, statement))
            cur.execute(f"DELETE FROM {LEDGER_SCHEMA}.journal WHERE version = %s", (migration.version,))  # noqa: S608 — LEDGER_SCHEMA is a module constant
            cur.execute(f"DELETE FROM {LEDGER_SCHEMA}.ledger WHERE version = %s", (migration.version,))  # noqa: S608 — LEDGER_SCHEMA is a module constant
            self._write_history(
                cur,
                migration,
                "down",
                (time.perf_counter() - started) * 1000,
                {"was": "applied" if in_ledger else "partial", "undone": len(entries)},
            )

        self._retrying(conn, migration, step_report, body)
        report.steps.append(step_report)
        report.duration_ms = (time.perf_counter() - started) * 1000
        report.longest_exclusive_hold_ms = step_report.exclusive_hold_ms
        return report

    # -- transactions, locks, errors -------------------------------------------------------------------------------
    def _quiet(self, conn: psycopg.Connection, tables: list[str]) -> tuple[list[str], list[str]]:
        """Statements that switch `tables`' enabled user triggers off, and back on as they were, around a step inside
        its transaction: a row written back keeps its updated_at. ALTER TABLE … DISABLE TRIGGER needs only ownership
        (session_replication_role would need superuser), and other sessions never see the triggers off.
        """
        before, after = [], []
        for table in tables:
            for name, mode in conn.execute(
                "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = to_regclass(%s) "
                "AND NOT tgisinternal AND tgenabled <> 'D' ORDER BY tgname",
                (f"public.{table}",),
            ).fetchall():
                names = (pgsql.Identifier(table), pgsql.Identifier(name))
                before.append(pgsql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(*names).as_string(conn))
                enable = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA"}[mode]
                after.append(pgsql.SQL("ALTER TABLE {} " + enable + " TRIGGER {}").format(*names).as_string(conn))
        return before, after

    def _retrying(self, conn: psycopg.Connection, migration: Migration, report: StepReport, body) -> None:
        """Run `body(cursor)` in one transaction under lock_timeout; on a lock timeout roll back and retry."""
        delay = 0.05
        for attempt in range(1, self.max_attempts + 1):
            report.attempts = attempt
            mark = len(report.statements)
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(
                        pgsql.SQL("SET LOCAL lock_timeout = {}").format(pgsql.Literal(f"{self.lock_timeout_ms}ms"))
                    )
                    if self.observer:
                        self.observer.opened(cur, migration.label, report.name, report.kind)
                    body(cur)
                    if self.observer:
                        self.observer.closing(cur, migration.label, report.name, report.kind)
                blocking = [s for s in report.statements[mark:] if s.lock in WRITE_BLOCKING_LOCKS]
                if blocking:  # from sending the first write-blocking statement to the end of the commit
                    held = (time.perf_counter() - blocking[0].started) * 1000
                    report.exclusive_hold_ms = max(report.exclusive_hold_ms, held)
                return
            except psycopg.errors.LockNotAvailable:
                del report.statements[mark:]
                time.sleep(delay * (1 + random.random()))  # noqa: S311 — jitter of a lock-retry backoff, not a secret
                delay = min(delay * 2, 2.0)
        raise DawsosError(
            errors.MIGRATION_LOCK_TIMEOUT,
            f"{migration.label} step {report.name}: could not take its locks within {self.lock_timeout_ms} ms "
            f"in {self.max_attempts} attempts; nothing of this step was kept",
            "find the long transaction holding the table (pg_stat_activity) and retry when it ends",
        )

    def _transaction(
        self,
        conn: psycopg.Connection,
        migration: Migration,
        step: Step,
        statements: list[str],
        report: StepReport,
        finish=None,
    ) -> int:
        """The statements in one retried transaction; returns the row count of the last (what a batch repeats on).

        `finish(cursor, changed)` runs last in the same transaction; `changed` is False when every statement was
        a row write that touched no row.
        """
        counted = {"rows": 0, "changed": False}

        def body(cur):
            counted.update(rows=0, changed=False)
            before, after = self._quiet(conn, step.quiet)
            for statement in before + statements + after:
                with self._server_errors(migration, step, statement):
                    report.statements.append(self._execute(cur, statement))
                if statement in before or statement in after:
                    continue
                if classify(statement).effect == "writes rows":
                    counted["rows"] = max(cur.rowcount, 0)
                    counted["changed"] = counted["changed"] or cur.rowcount > 0
                else:
                    counted["changed"] = True
            if finish:
                finish(cur, counted["changed"])

        self._retrying(conn, migration, report, body)
        return counted["rows"]

    @contextmanager
    def _server_errors(self, migration: Migration, step: Step, statement: str):
        """Every server error becomes one coded line naming migration, step and statement; lock timeouts pass
        through to the retry loop.
        """
        try:
            yield
        except psycopg.errors.LockNotAvailable:
            raise
        except psycopg.Error as exc:
            message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
            raise DawsosError(
                errors.MIGRATION_STEP_FAILED,
                f"{migration.label} step {step.name}: `{' '.join(statement.split())[:160]}` failed: {message}",
                "this step's transaction was rolled back; `dawsos migrate status` shows where the database "
                "stands; fix the cause and rerun apply (it resumes), or `dawsos migrate rollback` to undo "
                "what the migration did so far",
            ) from None

    @staticmethod
    def _execute(cursor, statement: str) -> StatementReport:
        kind = classify(statement)
        began = time.perf_counter()
        cursor.execute(statement)
        return StatementReport(
            " ".join(statement.split()), kind.lock, kind.effect, (time.perf_counter() - began) * 1000, began
        )

    @staticmethod
    def _orphan_counts(conn, migration: Migration) -> tuple[dict, dict]:
        """Rows this migration set aside in quarantine.row_copies, and those of them relinked in place."""
        rows = conn.execute(
            "SELECT source_table, action, count(*) FROM quarantine.row_copies "
            "WHERE migration = %s AND restored_at IS NULL GROUP BY 1, 2",
            (f"{migration.version:03d}",),
        ).fetchall()
        quarantined: dict[str, int] = {}
        for table, _action, count in rows:
            quarantined[table] = quarantined.get(table, 0) + count
        return quarantined, {t: n for t, action, n in rows if action == "relinked"}


def renames_of(migrations: list[Migration]) -> list[ColumnRename]:
    """Every standard name the migrations introduce, in order."""
    return [r for m in migrations for r in m.renames]


def _object_of(condition: str) -> str:
    """The most specific name a condition is about: the column of column:T.C, the table of table:T."""
    return condition.lstrip("!").partition(":")[2].split(".")[-1].split("+")[0].lower()
