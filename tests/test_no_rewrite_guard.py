"""The no-rewrite guard, measured rather than read: every migration step runs on real databases and the server
says what happened — a table's relfilenode (a rewrite gives it a new one) and, for every transaction outside a
switch step, the locks it held at commit and the rows it read or wrote in each table (pg_stat_xact_user_tables).
A write-blocking lock held while a table is scanned or rewritten row by row is what stops an application; only the
short final switch may hold one, and it is timed."""

import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.legacy import LegacyVariant
from dawsos_assets.migrations.files import MIGRATIONS_DIR, load_all
from dawsos_assets.migrations.runner import WRITE_BLOCKING_LOCKS, MigrationRunner

PLAN_014 = MIGRATIONS_DIR.parents[1] / "bench" / "sql" / "plan_014_literal.sql"
MODES = {
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ShareLock": "SHARE",
}
READ_AND_WRITTEN = """SELECT relid::regclass::text, seq_tup_read + COALESCE(idx_tup_fetch, 0),
                             n_tup_ins + n_tup_upd + n_tup_del
                        FROM pg_stat_xact_user_tables WHERE schemaname = 'public'"""


class LockAndWorkObserver:
    """Called by the runner when a transaction opens and just before it commits."""

    def __init__(self):
        self.violations: list[str] = []
        self.switch_holds: list[str] = []
        self._opened: dict = {}

    def opened(self, cur, label: str, step: str, kind: str) -> None:
        self._opened = {t: (read, written) for t, read, written in cur.execute(READ_AND_WRITTEN).fetchall()}

    def closing(self, cur, label: str, step: str, kind: str) -> None:
        held = {
            (t, MODES[m])
            for t, m in cur.execute(
                "SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = pg_backend_pid() AND granted "
                "AND locktype = 'relation' AND relation IN "
                "(SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r')"
            ).fetchall()
            if m in MODES
        }
        work = {
            t: (read - self._opened.get(t, (0, 0))[0], written - self._opened.get(t, (0, 0))[1])
            for t, read, written in cur.execute(READ_AND_WRITTEN).fetchall()
        }
        for table, mode in held:
            read, written = work.get(table, (0, 0))
            if (read or written) and table in self._opened | work and mode in WRITE_BLOCKING_LOCKS:
                entry = f"{label} {step}: {mode} on {table} while reading {read} and writing {written} row(s)"
                (self.switch_holds if kind == "switch" else self.violations).append(entry)


def relfilenodes(url: str) -> dict[int, int]:
    with connection.connect(url) as conn:
        return dict(
            conn.execute(
                "SELECT oid::int, relfilenode::int FROM pg_class WHERE relkind = 'r' "
                "AND relnamespace = 'public'::regnamespace"
            ).fetchall()
        )


def guarded_apply(url: str, migrations=None) -> LockAndWorkObserver:
    """Apply each migration alone; fail on any table rewritten (new relfilenode) along the way."""
    observer = LockAndWorkObserver()
    runner = MigrationRunner(url, backup=False, observer=observer, migrations=migrations)
    for migration in runner.migrations:
        before = relfilenodes(url)
        runner.apply(only=migration.version)
        after = relfilenodes(url)
        rewritten = [oid for oid, node in before.items() if oid in after and after[oid] != node]
        assert not rewritten, f"{migration.label} rewrote tables {rewritten}"
    return observer


@pytest.mark.parametrize(
    "variant",
    [
        LegacyVariant(),
        LegacyVariant(lots_007=False, betas="wide", shocks="jsonb", audit_log="a"),
        LegacyVariant(state="nov4"),
    ],
    ids=["plan", "without-007", "nov4"],
)
def test_no_step_outside_a_switch_rewrites_or_blocks_writers_while_it_works(databases, variant):
    observer = guarded_apply(databases.seeded(variant))
    assert observer.violations == []


def test_the_real_plan_state_too(databases):
    observer = guarded_apply(databases.real("plan"))
    assert observer.violations == []


def test_the_guard_fails_on_the_plans_literal_014(databases, tmp_path):
    """The plan's 014 adds the columns, then copies every lot under the ACCESS EXCLUSIVE lock its ALTER took."""
    url = databases.seeded()
    copy = tmp_path / "migrations"
    copy.mkdir()
    statements = PLAN_014.read_text().replace("BEGIN;", "").replace("COMMIT;", "")
    (copy / "014_plan_literal.sql").write_text(
        f"-- @migration 014 plan_literal\n-- @up transaction everything\n{statements}\n-- @up switch record\n"
    )
    observer = guarded_apply(url, migrations=load_all(copy))
    assert any("ACCESS EXCLUSIVE on lots while reading" in v for v in observer.violations), observer.violations


def test_the_guard_sees_a_rewrite(databases, tmp_path):
    url = databases.seeded()
    copy = tmp_path / "migrations"
    copy.mkdir()
    (copy / "014_rewrite.sql").write_text(
        "-- @migration 014 rewrite\n-- @up switch retype\nALTER TABLE lots ALTER COLUMN cost_basis TYPE float8;\n"
    )
    with pytest.raises(AssertionError, match="rewrote tables"):
        guarded_apply(url, migrations=load_all(copy))
