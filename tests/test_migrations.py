"""Migrations 014-019 on legacy databases: outcome, reversibility, and the reliability promises."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.database.legacy import LegacyVariant
from dawsos_assets.database.server import postgres_binary
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations.files import MIGRATIONS_DIR, classify, load_all, split_statements
from dawsos_assets.migrations.runner import MigrationRunner

from .conftest import DAWSOS, PROJECT_ROOT

WRITE_TIME_COLUMNS = ("created_at", "updated_at", "timestamp", "computed_at")


def schema_dump(url: str) -> str:
    target, environment = connection.client_arguments(url)
    out = subprocess.run(
        [postgres_binary("pg_dump"), "--schema-only", "--schema=public", target],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def row_hashes(url: str, ignore: tuple[str, ...] = ()) -> dict[str, str]:
    """md5 over every row of every public table (row order independent), minus the `ignore` columns."""
    drop = "".join(f" - '{c}'" for c in ignore)
    with connection.connect(url) as conn:
        tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {
            t: conn.execute(
                f"SELECT md5(COALESCE(string_agg((to_jsonb(x){drop})::text, '|' "
                f"ORDER BY (to_jsonb(x){drop})::text), '')) FROM {t} x"
            ).fetchone()[0]
            for t in tables
        }


def scalar(url: str, sql: str, params=()):
    with connection.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_every_migration_parses_and_never_rewrites_a_table():
    migrations = load_all()
    assert [m.version for m in migrations] == [14, 15, 16, 17, 18, 19]
    for migration in migrations:
        assert migration.steps_for("down") or migration.renames, migration.label  # renames are undone from the journal
        for step in migration.steps:
            for statement in step.statements:
                assert classify(statement).effect != "rewrites table", (migration.label, statement)


@pytest.mark.parametrize(
    "sql, statements",
    [
        ("SELECT 1; /* a; b */ SELECT 2;", ["SELECT 1", "/* a; b */ SELECT 2"]),
        ("SELECT E'it\\'s; here'; SELECT 'a''; b';", ["SELECT E'it\\'s; here'", "SELECT 'a''; b'"]),
        (
            "CREATE FUNCTION f() RETURNS int AS $tag1$ SELECT 1; $$;$$ $tag1$ LANGUAGE sql; SELECT 3;",
            ["CREATE FUNCTION f() RETURNS int AS $tag1$ SELECT 1; $$;$$ $tag1$ LANGUAGE sql", "SELECT 3"],
        ),
        ("-- a comment; with a semicolon\n/* only; a comment */\n;", []),
    ],
    ids=["block comment", "E-string and doubled quote", "tagged dollar quote", "comments only"],
)
def test_statements_split_only_on_semicolons_outside_comments_quotes_and_dollar_bodies(sql, statements):
    assert split_statements(sql) == statements


@pytest.mark.parametrize(
    "statement, lock, effect",
    [
        ("ALTER TABLE lots RENAME COLUMN qty_open TO quantity_open", "ACCESS EXCLUSIVE", "catalog-only"),
        ("ALTER TABLE lots ADD CONSTRAINT c CHECK (x > 0) NOT VALID", "ACCESS EXCLUSIVE", "catalog-only"),
        (
            "ALTER TABLE lots ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES b (id) NOT VALID",
            "SHARE ROW EXCLUSIVE",
            "catalog-only",
        ),
        ("ALTER TABLE lots VALIDATE CONSTRAINT f", "SHARE UPDATE EXCLUSIVE", "scans table"),
        ("CREATE INDEX CONCURRENTLY i ON lots (a)", "SHARE UPDATE EXCLUSIVE", "scans table"),
        ("ALTER TABLE lots ALTER COLUMN quantity TYPE float8", "ACCESS EXCLUSIVE", "rewrites table"),
        ("ALTER TABLE lots ADD COLUMN x uuid DEFAULT gen_random_uuid()", "ACCESS EXCLUSIVE", "rewrites table"),
        ("UPDATE lots SET quantity_open = 0", "ROW EXCLUSIVE", "writes rows"),
    ],
)
def test_statement_classification(statement, lock, effect):
    result = classify(statement)
    assert (result.lock, result.effect) == (lock, effect)


def test_apply_rollback_and_reapply_on_the_demo_database(databases):
    url = databases.seeded()
    legacy_schema, legacy_rows = schema_dump(url), row_hashes(url)
    lots_before = scalar(url, "SELECT count(*) FROM lots")
    transactions_before = scalar(url, "SELECT count(*) FROM transactions")
    open_before = scalar(url, "SELECT SUM(qty_open) FROM lots")

    reports = MigrationRunner(url, backup=False).apply()
    assert [r.status for r in reports] == ["applied"] * 4 + ["adopted", "applied"]  # no legacy ledger to repair
    with connection.connect(url) as conn:
        columns = {
            (t, c)
            for t, c in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            )
        }
        for legacy in [
            ("lots", "qty_open"),
            ("lots", "qty_original"),
            ("portfolio_daily_values", "valuation_date"),
            ("portfolio_cash_flows", "flow_date"),
            ("macro_indicators", "date"),
            ("pricing_packs", "date"),
        ]:
            assert legacy not in columns
        assert ("lots", "quantity_open") in columns and ("regime_history", "asof_date") in columns
        invalid_fks = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"
        ).fetchone()[0]
        assert invalid_fks == 0
        for table in ("lots", "transactions", "position_factor_betas"):
            assert (
                conn.execute(
                    f"SELECT count(*) FROM {table} t WHERE t.security_id IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM securities s WHERE s.id = t.security_id)"
                ).fetchone()[0]
                == 0
            )
        assert conn.execute("SELECT count(*) FROM lots").fetchone()[0] == lots_before
        assert conn.execute("SELECT count(*) FROM transactions").fetchone()[0] == transactions_before
        assert conn.execute("SELECT SUM(quantity_open) FROM lots").fetchone()[0] == open_before
        copies = dict(
            conn.execute(
                "SELECT source_table, count(*) FROM quarantine.row_copies WHERE migration = '016' GROUP BY 1"
            ).fetchall()
        )
        assert copies == {"lots": 4, "transactions": 7, "position_factor_betas": 5}
        audited = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'dawsos_migration_016'").fetchone()[0]
        assert audited == 16
        # old readers keep working through the compatibility views
        assert conn.execute("SELECT SUM(qty_open) FROM dawsos_legacy.lots").fetchone()[0] == open_before
        assert (
            conn.execute(
                "SELECT count(*) FROM dawsos_legacy.portfolio_daily_values WHERE valuation_date IS NOT NULL"
            ).fetchone()[0]
            > 0
        )
    # Audit rows point at their quarantine copy by id, which a second apply renumbers: compared without it.
    reapply_ignore = WRITE_TIME_COLUMNS + ("id", "details")
    audit_sql = (
        "SELECT array_agg((details - 'quarantine_id')::text ORDER BY (details - 'quarantine_id')::text) "
        "FROM audit_log WHERE action = 'dawsos_migration_016'"
    )
    first_schema, first_rows, first_audit = schema_dump(url), row_hashes(url, reapply_ignore), scalar(url, audit_sql)

    assert MigrationRunner(url, backup=False).apply() == []  # nothing left to do
    MigrationRunner(url, backup=False).rollback(0)
    assert schema_dump(url) == legacy_schema
    assert row_hashes(url) == legacy_rows

    MigrationRunner(url, backup=False).apply()
    assert schema_dump(url) == first_schema
    assert row_hashes(url, reapply_ignore) == first_rows
    assert scalar(url, audit_sql) == first_audit


@pytest.mark.parametrize(
    "variant",
    [
        LegacyVariant(lots_007=False, betas="wide", shocks="jsonb", audit_log="a"),
        LegacyVariant(lots_007=True, betas="wide", shocks="flat", audit_log="a"),
        LegacyVariant(lots_007=False, betas="long", shocks="jsonb", audit_log="b"),
    ],
    ids=lambda v: f"007={v.lots_007}-{v.betas}-{v.shocks}-{v.audit_log}",
)
def test_every_legacy_variant_migrates_and_rolls_back(databases, variant):
    url = databases.seeded(variant)
    legacy_schema, legacy_rows = schema_dump(url), row_hashes(url)
    betas_before = scalar(url, "SELECT count(*) FROM position_factor_betas")
    shocks_before = scalar(url, "SELECT count(*) FROM scenario_shocks")
    MigrationRunner(url, backup=False).apply()
    with connection.connect(url) as conn:
        lots = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE quantity_open IS NULL OR quantity_original IS NULL), "
            "count(*) FILTER (WHERE NOT is_open AND quantity_open <> 0) FROM lots"
        ).fetchone()
        assert lots[0] > 0 and lots[1] == 0
        if not variant.lots_007:
            assert lots[2] == 0  # 007's rule: closed lots have nothing open
        orphaned_betas = conn.execute(
            "SELECT count(*) FROM quarantine.row_copies WHERE migration = '016' "
            "AND source_table = 'position_factor_betas'"
        ).fetchone()[0]
        unified = conn.execute("SELECT count(*) FROM position_factor_betas").fetchone()[0]
        expected = betas_before - orphaned_betas if variant.betas == "long" else 7 * (betas_before - orphaned_betas)
        assert unified == expected  # every legacy row (or wide column) survives as a unified row
        assert conn.execute("SELECT count(*) FROM scenario_shocks").fetchone()[0] == shocks_before
        assert conn.execute("SELECT count(*) FROM scenario_shocks WHERE shock_type IS NULL").fetchone()[0] == 0
    MigrationRunner(url, backup=False).rollback(0)
    assert schema_dump(url) == legacy_schema
    assert row_hashes(url) == legacy_rows


def test_quarantine_policy_moves_orphans_out_and_rollback_brings_them_back(databases):
    url = databases.seeded()
    legacy_rows = row_hashes(url)
    lots_before = scalar(url, "SELECT count(*) FROM lots")
    MigrationRunner(url, policy="quarantine", backup=False).apply()
    assert scalar(url, "SELECT count(*) FROM lots") == lots_before - 4
    assert scalar(url, "SELECT count(*) FROM securities WHERE symbol = 'UNKNOWN'") == 0
    MigrationRunner(url, backup=False).rollback(0)
    assert row_hashes(url) == legacy_rows


def test_fail_policy_stops_before_any_change_with_the_orphans(databases):
    url = databases.seeded()
    runner = MigrationRunner(url, policy="fail", backup=False)
    runner.apply(target=15)
    before = schema_dump(url), row_hashes(url)
    with pytest.raises(DawsosError) as raised:
        runner.apply()
    assert raised.value.code == errors.MIGRATION_ORPHANS_FOUND and "16 row(s)" in raised.value.message
    assert (schema_dump(url), row_hashes(url)) == before
    assert [r["state"] for r in runner.status()] == ["applied", "applied", "pending", "pending", "pending", "pending"]


def test_a_changed_applied_file_is_refused(databases, tmp_path):
    url = databases.seeded()
    MigrationRunner(url, backup=False).apply(target=14)
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    tampered = copy / "014_standardize_quantity_names.sql"
    tampered.write_text(tampered.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False, migrations=load_all(copy)).apply()
    assert raised.value.code == errors.MIGRATION_CHECKSUM_MISMATCH
    assert "git checkout" in raised.value.suggestion


def test_a_file_below_the_latest_applied_version_is_refused(databases, tmp_path):
    url = databases.seeded()
    MigrationRunner(url, backup=False).apply(target=15)
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "013_late_arrival.sql").write_text(
        "-- @migration 013 late_arrival\n-- @up switch go\nSELECT 1;\n-- @down switch back undoes=go\nSELECT 1;\n"
    )
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False, migrations=load_all(copy)).apply()
    assert raised.value.code == errors.MIGRATION_OUT_OF_ORDER


def test_a_contradiction_no_rule_covers_is_refused_before_any_change_and_adopt_is_the_way_out(databases):
    url = databases.seeded()
    with connection.connect(url) as conn:  # someone added the standard column by hand beside the legacy one
        conn.execute("ALTER TABLE lots ADD COLUMN quantity_open NUMERIC")
        conn.commit()
    before = schema_dump(url)
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).apply()
    assert raised.value.code == errors.MIGRATION_STATE_UNKNOWN
    assert "lots has both qty_open and quantity_open" in raised.value.message
    assert "dawsos migrate adopt 014" in raised.value.suggestion
    assert schema_dump(url) == before
    [plan] = MigrationRunner(url, backup=False).plan(target=14)
    assert plan.action == "refuse" and "both qty_open and quantity_open" in plan.refusal

    adopted = MigrationRunner(url, backup=False).adopt(14)
    assert adopted.status == "adopted"
    assert MigrationRunner(url, backup=False).status()[0]["state"] == "adopted"
    MigrationRunner(url, backup=False).rollback(0)  # an adopted migration changed nothing, so nothing is undone
    assert schema_dump(url) == before


def test_a_half_renamed_table_converges(databases):
    url = databases.seeded()
    with connection.connect(url) as conn:  # one column renamed by hand, the other not
        conn.execute("ALTER TABLE lots RENAME COLUMN qty_open TO quantity_open")
        conn.commit()
    [plan] = MigrationRunner(url, backup=False).plan(target=14)
    actions = {step.step: step.action for step in plan.steps}
    assert actions["rename lots.qty_open"] == "adopt" and actions["rename lots.qty_original"] == "apply"
    MigrationRunner(url, backup=False).apply(target=14)
    assert (
        scalar(
            url,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = 'lots' AND column_name IN ('quantity_open', 'quantity_original')",
        )
        == 2
    )


def test_two_concurrent_runners_apply_each_migration_once(databases):
    url = databases.seeded()
    env = {**os.environ, connection.URL_ENV: url}
    runners = [
        subprocess.Popen(
            [DAWSOS, "migrate", "apply", "--no-backup"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runners]
    assert all(r.returncode == 0 for r in runners), outputs
    applied_lines = [
        line for out, _ in outputs for line in out.splitlines() if ": applied in" in line or ": adopted in" in line
    ]
    assert len(applied_lines) == 6
    assert any("nothing to do" in out for out, _ in outputs)
    with connection.connect(url) as conn:
        ups = conn.execute(
            "SELECT version, count(*) FROM dawsos_migrations.history WHERE direction = 'up' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert ups == [(v, 1) for v in (14, 15, 16, 17, 18, 19)]


def test_sigkill_during_an_online_step_leaves_the_previous_version_and_the_next_apply_succeeds(databases):
    """The runner is killed while CREATE INDEX CONCURRENTLY waits (an open snapshot holds it back)."""
    url = databases.seeded()
    env = {**os.environ, connection.URL_ENV: url}
    with connection.connect(url) as blocker:
        blocker.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        blocker.execute("SELECT count(*) FROM portfolios").fetchone()  # an old snapshot: CIC must wait for it
        runner = subprocess.Popen(
            [DAWSOS, "migrate", "apply", "--no-backup"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            with connection.connect(url, autocommit=True) as observer:
                while time.monotonic() < deadline:
                    waiting = observer.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dawsos-migrate' "
                        "AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"
                    ).fetchone()[0]
                    if waiting:
                        break
                    time.sleep(0.05)
                assert waiting, "the runner never reached CREATE INDEX CONCURRENTLY"
                runner.send_signal(signal.SIGKILL)
                runner.wait(timeout=30)
        finally:
            blocker.rollback()
    deadline = time.monotonic() + 30  # the server notices the dead client within client_connection_check_interval
    while (
        scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dawsos-migrate'")
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    with connection.connect(url) as conn:
        assert conn.execute(
            "SELECT to_regclass('dawsos_migrations.ledger') IS NULL OR "
            "NOT EXISTS (SELECT 1 FROM dawsos_migrations.ledger)"
        ).fetchone()[0]
        assert (
            conn.execute(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'lots' AND column_name = 'qty_open'"
            ).fetchone()[0]
            == 1
        )
    reports = MigrationRunner(url, backup=False).apply()
    assert [r.version for r in reports] == [14, 15, 16, 17, 18, 19]
    assert scalar(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_lots_open_positions'::regclass")


@pytest.mark.parametrize(
    "variant", [LegacyVariant(), LegacyVariant(betas="wide", shocks="jsonb")], ids=["long-flat", "wide-jsonb"]
)
def test_old_readers_and_writers_keep_working_through_dawsos_legacy(databases, variant):
    """Every table a migration changes has a view in its old form; old code runs with the old search_path."""
    url = databases.seeded(variant)
    with connection.connect(url) as conn:
        old_betas = conn.execute(
            "SELECT count(*) FROM position_factor_betas b WHERE EXISTS "
            "(SELECT 1 FROM securities s WHERE s.id = b.security_id) AND EXISTS "
            "(SELECT 1 FROM portfolios p WHERE p.id = b.portfolio_id)"
        ).fetchone()[0]
        old_shocks = conn.execute("SELECT count(*) FROM scenario_shocks").fetchone()[0]
        old_open = conn.execute("SELECT SUM(qty_open) FROM lots").fetchone()[0]
    MigrationRunner(url, backup=False).apply()
    with connection.connect(url) as conn:
        conn.execute("SET search_path = dawsos_legacy, public")
        if variant.betas == "long":
            assert (
                conn.execute(
                    "SELECT count(*) FROM position_factor_betas WHERE factor_name IS NOT NULL AND beta IS NOT NULL"
                ).fetchone()[0]
                == old_betas
            )
        else:
            assert (
                conn.execute("SELECT count(*) FROM position_factor_betas WHERE equity_beta IS NOT NULL").fetchone()[0]
                == old_betas
            )
        if variant.shocks == "flat":
            assert (
                conn.execute("SELECT count(*) FROM scenario_shocks WHERE real_rates_bps IS NOT NULL").fetchone()[0]
                == old_shocks
            )
            conn.execute("INSERT INTO scenario_shocks (shock_type, shock_name) VALUES ('old_writer', 'Old writer')")
        else:
            assert (
                conn.execute("SELECT count(*) FROM scenario_shocks WHERE shock_definition ? 'shocks'").fetchone()[0]
                == old_shocks
            )
        assert conn.execute("SELECT SUM(qty_open) FROM lots").fetchone()[0] == old_open
        conn.execute("UPDATE lots SET qty_open = qty_open WHERE qty_open > 0")  # an old writer, through the view
        assert (
            conn.execute("SELECT count(*) FROM portfolio_daily_values WHERE valuation_date IS NOT NULL").fetchone()[0]
            > 0
        )
        conn.commit()
