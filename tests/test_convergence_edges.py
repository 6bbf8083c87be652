"""Hand-made states a real database can be in, found by trying to break the migrations: each converges and rolls back
to the state found, or is refused before any change with a coded error that says the way out."""

import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.tables.checks import run_table_checks

from .conftest import DAWSOS, PROJECT_ROOT
from .test_migrations import row_hashes, scalar, schema_dump


def execute(url: str, *statements: str) -> None:
    with connection.connect(url) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def round_trip(url: str) -> None:
    """apply then rollback: the state found comes back exactly."""
    found = schema_dump(url), row_hashes(url)
    MigrationRunner(url, backup=False).apply()
    MigrationRunner(url, backup=False).rollback(0)
    assert (schema_dump(url), row_hashes(url)) == found


def test_an_sql_function_on_a_renamed_column_is_put_back_after_the_rollback(databases):
    url = databases.real("plan")
    execute(
        url,
        "CREATE FUNCTION open_total(p uuid) RETURNS numeric LANGUAGE sql "
        "AS $$ SELECT sum(qty_open) FROM lots WHERE portfolio_id = p $$",
    )
    before = scalar(url, "SELECT open_total(%s)", (ref.DEMO_PORTFOLIO_ID,))
    MigrationRunner(url, backup=False).apply()
    assert scalar(url, "SELECT open_total(%s)", (ref.DEMO_PORTFOLIO_ID,)) == before  # through dawsos_legacy
    MigrationRunner(url, backup=False).rollback(0)
    assert scalar(url, "SELECT open_total(%s)", (ref.DEMO_PORTFOLIO_ID,)) == before


def test_functions_keep_meaning_what_they_meant(databases):
    """A string literal and another table's column of the same name are not the renamed column."""
    url = databases.seeded()
    execute(
        url,
        "CREATE TABLE lot_archive (id uuid, qty_open numeric)",
        """CREATE FUNCTION lot_json(p uuid) RETURNS jsonb LANGUAGE plpgsql AS $$
               BEGIN RETURN (SELECT jsonb_build_object('qty_open', l.qty_open) FROM lots l WHERE l.id = p); END $$""",
        """CREATE FUNCTION archive_lots() RETURNS void LANGUAGE plpgsql AS $$
               BEGIN INSERT INTO lot_archive (id, qty_open) SELECT id, qty_open FROM lots; END $$""",
    )
    lot = scalar(url, "SELECT id FROM lots ORDER BY id LIMIT 1")
    before = scalar(url, "SELECT lot_json(%s)::text", (lot,))
    MigrationRunner(url, backup=False).apply()
    assert scalar(url, "SELECT lot_json(%s)::text", (lot,)) == before
    execute(url, "SELECT archive_lots()")
    assert scalar(url, "SELECT count(*) FROM lot_archive") == scalar(url, "SELECT count(*) FROM lots")


def test_a_function_a_view_cannot_serve_is_refused_before_any_change(databases):
    url = databases.seeded()
    execute(
        url,
        """CREATE FUNCTION prune_regimes() RETURNS void LANGUAGE plpgsql AS $$
                    BEGIN DELETE FROM regime_history WHERE date < CURRENT_DATE - 3650;
                          TRUNCATE regime_history; END $$""",
    )
    MigrationRunner(url, backup=False).apply(target=14)
    before = schema_dump(url)
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).apply()
    assert raised.value.code == errors.MIGRATION_DEPENDENT_UNSAFE and "TRUNCATE" in raised.value.message
    assert schema_dump(url) == before


def test_a_key_added_not_valid_by_hand_comes_back_not_valid(databases):
    url = databases.seeded()
    execute(
        url,
        "ALTER TABLE lots ADD CONSTRAINT my_lots_sec FOREIGN KEY (security_id) REFERENCES securities (id) NOT VALID",
    )
    round_trip(url)
    assert scalar(url, "SELECT convalidated FROM pg_constraint WHERE conname = 'my_lots_sec'") is False


@pytest.mark.parametrize(
    "dependent",
    [
        "CREATE TABLE beta_notes (beta_portfolio uuid, beta_security uuid, beta_factor varchar(50), note text, "
        "FOREIGN KEY (beta_portfolio, beta_security, beta_factor) REFERENCES position_factor_betas)",
        "CREATE FUNCTION beta_count() RETURNS bigint LANGUAGE sql "
        "BEGIN ATOMIC SELECT count(*) FROM position_factor_betas; END",
    ],
    ids=["foreign key", "sql-standard function"],
)
def test_objects_bound_to_a_table_017_moves_aside_are_refused_with_the_way_out(databases, dependent):
    url = databases.seeded()
    execute(url, dependent)
    MigrationRunner(url, backup=False).apply(target=16)
    before = schema_dump(url)
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).apply()
    assert raised.value.code == errors.MIGRATION_STATE_UNKNOWN and "moves aside" in raised.value.message
    assert "recreate them on the unified table" in raised.value.suggestion
    assert schema_dump(url) == before


def test_adopting_out_of_order_is_refused(databases):
    url = databases.seeded()
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).adopt(17)
    assert (
        raised.value.code == errors.MIGRATION_OUT_OF_ORDER and "014_standardize_quantity_names" in raised.value.message
    )
    assert [r["state"] for r in MigrationRunner(url, backup=False).status()] == ["pending"] * 6


def test_tables_the_role_cannot_change_or_sees_only_in_part_are_refused_before_any_change(databases):
    url = databases.seeded()
    admin = (
        connection._parse(databases.admin_url)
        .set(database=connection._parse(url).database)
        .render_as_string(hide_password=False)
    )
    execute(admin, "ALTER TABLE regime_history OWNER TO dawsos_app")
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).apply()
    assert (
        raised.value.code == errors.MIGRATION_PRIVILEGE_MISSING
        and "regime_history (owned by dawsos_app)" in raised.value.message
    )
    assert [r["state"] for r in MigrationRunner(url, backup=False).status()] == ["pending"] * 6
    execute(admin, "ALTER TABLE regime_history OWNER TO dawsos_owner", "ALTER TABLE lots FORCE ROW LEVEL SECURITY")
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).apply()
    assert "forces row-level security" in raised.value.message


def test_a_dropped_connection_or_a_role_timeout_never_ends_in_a_traceback(databases):
    url = databases.seeded()
    database = connection._parse(url).database
    execute(url, f"ALTER ROLE dawsos_owner IN DATABASE {database} SET statement_timeout = '3ms'")
    try:
        MigrationRunner(url, backup=False).apply()  # migrations bound their own waits
    finally:
        execute(url, f"ALTER ROLE dawsos_owner IN DATABASE {database} RESET statement_timeout")
    MigrationRunner(url, backup=False).rollback(0)

    env = {**os.environ, connection.URL_ENV: url}
    runner = subprocess.Popen(
        [DAWSOS, "migrate", "apply", "--no-backup"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runner.poll() is None:
        killed = scalar(
            url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'dawsos-migrate'",
        )
        if killed:
            break
        time.sleep(0.05)
    _out, err = runner.communicate(timeout=60)
    assert "Traceback" not in err
    if runner.returncode:
        assert runner.returncode == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error MIGRATION_")
    MigrationRunner(url, backup=False).apply()  # resumes from wherever the connection dropped


def test_a_quarantine_schema_that_is_not_ours_is_named(databases):
    url = databases.seeded()
    execute(url, "CREATE SCHEMA quarantine", "CREATE TABLE quarantine.row_copies (id int)")
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).apply()
    assert raised.value.code == errors.MIGRATION_STATE_UNKNOWN and "quarantine.row_copies" in raised.value.message


def test_backups_wait_a_bounded_time_for_their_locks(databases):
    url = databases.seeded()
    holder = connection.connect(url)
    holder.execute("LOCK TABLE lots IN ACCESS EXCLUSIVE MODE")
    try:
        started = time.monotonic()
        with pytest.raises(DawsosError) as raised:
            MigrationRunner(url).apply(target=14)
        assert raised.value.code == errors.BACKUP_FAILED and time.monotonic() - started < 60
    finally:
        holder.rollback()
        holder.close()
    assert [r["state"] for r in MigrationRunner(url, backup=False).status()][0] == "pending"


def test_restore_keeps_rows_a_cascade_would_delete_and_refuses_a_backup_newer_than_the_database(databases):
    url = databases.seeded()
    reports = MigrationRunner(url).apply()
    before_016 = next(r.backup_path for r in reports if r.version == 16)
    before_019 = next(r.backup_path for r in reports if r.version == 19)
    execute(
        url,
        "INSERT INTO securities (id, symbol, name) VALUES ('6d7c0b4e-0000-4000-8000-000000000001', 'NEWCO', 'New')",
        "INSERT INTO prices (security_id, pricing_pack_id, asof_date, close, currency, source) "
        "SELECT '6d7c0b4e-0000-4000-8000-000000000001', id, asof_date, 10, 'USD', 'manual' "
        "FROM pricing_packs ORDER BY asof_date DESC LIMIT 3",
    )
    MigrationRunner(url, backup=False).restore(Path(before_016))
    assert (
        scalar(
            url, "SELECT count(*) FROM quarantine.row_copies WHERE migration = 'restore' AND source_table = 'prices'"
        )
        == 3
    )  # the cascade's rows were kept before the delete
    MigrationRunner(url, backup=False).rollback(0)
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).restore(Path(before_019))
    assert raised.value.code == errors.BACKUP_INVALID and "version 018" in raised.value.message


def test_a_role_with_column_grants_only_is_noted_and_rubrics_stay_read_only_for_the_application(databases):
    url_plan = databases.real("plan")
    execute(
        url_plan,
        "REVOKE ALL ON lots FROM dawsos_app",
        "GRANT SELECT (id, portfolio_id, qty_open) ON lots TO dawsos_app",
    )
    [plan] = MigrationRunner(url_plan, backup=False).plan(target=14)
    assert any(s.action == "note" and "dawsos_app may read only some columns of lots" in s.reason for s in plan.steps)
    url = databases.real("nov4")
    MigrationRunner(url, backup=False).apply()  # rating_rubrics was dropped; 019 creates it as DawsOS had it
    with connection.connect(databases.app_url(url)) as conn:
        conn.execute("SELECT set_config('app.user_id', %s, false)", (ref.DEMO_USER_ID,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # 005's policy: only the system user writes
            conn.execute(
                "INSERT INTO rating_rubrics (rating_type, overall_weights, component_thresholds) "
                "VALUES ('moat_strength', '{}', '{}')"
            )


def test_a_column_the_team_added_is_reported_not_failed(databases):
    url = databases.seeded()
    MigrationRunner(url, backup=False).apply()
    execute(url, "ALTER TABLE lots ADD COLUMN broker_ref text")
    with connection.connect(url) as conn:
        [names] = [o for o in run_table_checks(conn, "lots") if o.check == "column_names"]
    assert names.passed and names.details["extra_columns"] == ["broker_ref"]
