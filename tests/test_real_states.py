"""Migrations on real DawsOS databases, as the non-superuser role that owns the tables.

`plan` is built from DawsOS's own SQL files at the plan's commit; `nov4` and `nov8` add the team's own refactoring
of those days (tests/real_states.py). Our demo data and its defects are on top of each.
"""

import os
import random
import signal
import subprocess
import time

import psycopg
import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.inspect import legacy_findings
from dawsos_assets.database.legacy import LegacyVariant
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.loader import read_manifest
from dawsos_assets.migrations.runner import MigrationRunner

from .conftest import DAWSOS, PROJECT_ROOT, run_cli
from .test_migrations import WRITE_TIME_COLUMNS, row_hashes, scalar, schema_dump

STATES = ["plan", "nov4", "nov8"]
REAPPLY_IGNORE = WRITE_TIME_COLUMNS + ("id", "details")
KILL_TRIALS = int(os.environ.get("DAWSOS_KILL_TRIALS", "4"))


def open_column(url: str) -> str:
    return scalar(
        url,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'lots' AND column_name IN ('qty_open', 'quantity_open')",
    )


def orphaned_betas(url: str) -> int:
    if not scalar(url, "SELECT to_regclass('public.position_factor_betas') IS NOT NULL"):
        return 0
    return scalar(
        url,
        "SELECT count(*) FROM position_factor_betas b "
        "WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = b.security_id) "
        "OR NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.id = b.portfolio_id)",
    )


@pytest.mark.parametrize("state", STATES)
def test_apply_check_rollback_and_reapply_on_a_real_state(databases, state):
    url = databases.real(state)
    assert not scalar(url, "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
    with connection.connect(url) as conn:
        defects = read_manifest(conn)["defects"]
    found_schema, found_rows = schema_dump(url), row_hashes(url)
    lots, transactions = scalar(url, "SELECT count(*) FROM lots"), scalar(url, "SELECT count(*) FROM transactions")
    open_before = scalar(url, f"SELECT SUM({open_column(url)}) FROM lots")
    betas_orphaned = orphaned_betas(url)

    reports = MigrationRunner(url).apply()  # with its pg_dump backups, as the owner
    assert [r.version for r in reports] == [14, 15, 16, 17, 18, 19]
    assert {14, 15, 16, 19} <= {r.version for r in reports if r.backup_path}  # 017 where its tables exist
    with connection.connect(url) as conn:
        findings = legacy_findings(conn)
        assert findings["legacy_names"] == [] and findings["missing_foreign_keys"] == []
        assert findings["lots_quantity_columns"] == ["quantity", "quantity_open", "quantity_original"]
        assert (
            conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated").fetchone()[0]
            == 0
        )
        copies = dict(
            conn.execute(
                "SELECT source_table, count(*) FROM quarantine.row_copies WHERE migration = '016' "
                "AND action IN ('relinked', 'moved') GROUP BY 1"
            ).fetchall()
        )
        assert copies.get("lots", 0) == defects["orphaned_lots"]["count"]
        assert copies.get("transactions", 0) == defects["orphaned_transactions"]["count"]
        assert copies.get("position_factor_betas", 0) == betas_orphaned
        assert conn.execute("SELECT count(*) FROM lots").fetchone()[0] == lots
        assert conn.execute("SELECT count(*) FROM transactions").fetchone()[0] == transactions
        assert conn.execute("SELECT SUM(quantity_open) FROM lots").fetchone()[0] == open_before
    checked = run_cli("check", "--json", env={connection.URL_ENV: url})
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr
    first_schema, first_rows = schema_dump(url), row_hashes(url, REAPPLY_IGNORE)

    MigrationRunner(url, backup=False).rollback(0)
    assert schema_dump(url) == found_schema
    assert row_hashes(url) == found_rows

    MigrationRunner(url, backup=False).apply()
    assert schema_dump(url) == first_schema
    assert row_hashes(url, REAPPLY_IGNORE) == first_rows


def test_plan_says_what_each_step_will_do_on_the_teams_own_refactoring(databases):
    url = databases.real("nov4")
    before = schema_dump(url)
    listed = run_cli("migrate", "plan", env={connection.URL_ENV: url})
    assert listed.returncode == 0, listed.stderr
    assert schema_dump(url) == before  # plan changes nothing
    plans = {p.version: p for p in MigrationRunner(url, backup=False).plan()}
    steps = {v: {s.step: (s.action, s.reason) for s in p.steps} for v, p in plans.items()}
    assert steps[14]["rename lots.qty_open"][0] == "adopt"  # the team renamed it on 2025-11-04
    assert steps[14]["open_positions_index_on_new_columns"][0] == "create"
    assert steps[16]["fk_lots_security"] == ("skip", "lots.security_id already has a foreign key")
    assert steps[16]["create_audit_log"][0] == "create"  # their root 003 dropped it
    assert steps[17]["create_betas"][0] == "create" and steps[17]["create_shocks"][0] == "create"
    assert plans[18].action == "adopt"  # no legacy ledger here
    assert "adopt" in listed.stdout and "create" in listed.stdout and "skip" in listed.stdout


def test_functions_the_team_wrote_keep_their_signatures_and_keep_working(databases):
    url = databases.real("plan")
    with connection.connect(url) as conn:
        reduce_before = conn.execute("SELECT pg_get_functiondef('reduce_lot'::regproc)").fetchone()[0]
        lot = conn.execute(
            "SELECT id FROM lots WHERE portfolio_id = %s AND qty_open >= 100 ORDER BY id LIMIT 1",
            (ref.DEMO_PORTFOLIO_ID,),
        ).fetchone()[0]
    MigrationRunner(url, backup=False).apply()
    with connection.connect(url) as conn:
        assert conn.execute(
            "SELECT pg_get_function_identity_arguments('reduce_lot'::regproc), "
            "prorettype::regtype::text FROM pg_proc WHERE proname = 'reduce_lot'"
        ).fetchone() == ("p_lot_id uuid, p_qty_to_reduce numeric, p_disposition_date date", "numeric")
        before = conn.execute("SELECT quantity_open FROM lots WHERE id = %s", (lot,)).fetchone()[0]
        assert conn.execute("SELECT reduce_lot(%s, 10, DATE '2025-11-05')", (lot,)).fetchone()[0] == 10
        assert conn.execute("SELECT quantity_open FROM lots WHERE id = %s", (lot,)).fetchone()[0] == before - 10
        # `date` is also a type name: 013's function keeps its text and reads the old names through dawsos_legacy
        assert conn.execute("SELECT proconfig FROM pg_proc WHERE proname = 'compute_derived_indicators'").fetchone()[
            0
        ] == ["search_path=dawsos_legacy, public"]
        conn.execute("SELECT compute_derived_indicators()")
        assert conn.execute("SELECT count(*) FROM macro_indicators WHERE source = 'calculated'").fetchone()[0] > 0
        conn.rollback()
    MigrationRunner(url, backup=False).rollback(0)
    with connection.connect(url) as conn:
        assert conn.execute("SELECT pg_get_functiondef('reduce_lot'::regproc)").fetchone()[0] == reduce_before
        assert (
            conn.execute("SELECT proconfig FROM pg_proc WHERE proname = 'compute_derived_indicators'").fetchone()[0]
            is None
        )


def test_row_level_security_keeps_working_for_the_application_role(databases):
    url = databases.real("plan")
    app = databases.app_url(url)

    def visible(user: str | None, table: str) -> int:
        with connection.connect(app) as conn:
            if user:
                conn.execute("SELECT set_config('app.user_id', %s, false)", (user,))
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    users = (ref.ADMIN_USER_ID, ref.DEMO_USER_ID)
    before = {user: visible(user, "lots") for user in users}
    assert before[ref.ADMIN_USER_ID] == 17 and before[ref.DEMO_USER_ID] > 17  # the team's portfolio; ours
    assert visible(None, "lots") == 0
    MigrationRunner(url, backup=False).apply()
    assert {user: visible(user, "lots") for user in users} == before
    assert {user: visible(user, "dawsos_legacy.lots") for user in users} == before  # views check as the reader
    assert visible(None, "dawsos_legacy.lots") == 0
    assert visible(ref.ADMIN_USER_ID, "position_factor_betas") > 0  # the unified table kept the old grants
    assert visible(ref.ADMIN_USER_ID, "dawsos_legacy.position_factor_betas") > 0


def test_a_trigger_function_follows_its_row_and_one_that_cannot_is_refused_before_any_change(databases):
    url = databases.seeded()
    with connection.connect(url) as conn:  # NEW.date can only mean the triggering row: its text follows the rename
        conn.execute("""CREATE FUNCTION no_future_regimes() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN IF NEW.date > CURRENT_DATE THEN RAISE EXCEPTION 'future'; END IF; RETURN NEW; END $$""")
        conn.execute(
            "CREATE TRIGGER trg_no_future_regimes BEFORE INSERT ON regime_history "
            "FOR EACH ROW EXECUTE FUNCTION no_future_regimes()"
        )
        conn.commit()
    MigrationRunner(url, backup=False).apply(target=15)
    with connection.connect(url) as conn:
        assert (
            "NEW.asof_date"
            in conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'no_future_regimes'").fetchone()[0]
        )
        with pytest.raises(psycopg.errors.RaiseException):
            conn.execute(
                "INSERT INTO regime_history (asof_date, regime, confidence, indicators_json, zscores_json, "
                "regime_scores_json) VALUES (CURRENT_DATE + 1, 'MID_EXPANSION', 0.5, '{}', '{}', '{}')"
            )

    url = databases.seeded()
    with connection.connect(url) as conn:  # a trigger that also reads the table's `date` itself: a human decides
        conn.execute("""CREATE FUNCTION one_regime_a_day() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN IF EXISTS (SELECT 1 FROM regime_history WHERE date = NEW.date) THEN RETURN NULL; END IF;
                        RETURN NEW; END $$""")
        conn.execute(
            "CREATE TRIGGER trg_one_regime_a_day BEFORE INSERT ON regime_history "
            "FOR EACH ROW EXECUTE FUNCTION one_regime_a_day()"
        )
        conn.commit()
    MigrationRunner(url, backup=False).apply(target=14)
    before = schema_dump(url)
    [plan] = MigrationRunner(url, backup=False).plan(target=15)
    assert any(s.action == "manual" and "one_regime_a_day()" in s.step for s in plan.steps)
    refused = run_cli("migrate", "apply", "--no-backup", env={connection.URL_ENV: url})
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error MIGRATION_DEPENDENT_UNSAFE") and "one_regime_a_day()" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert schema_dump(url) == before


AUDIT_TRAP = """CREATE FUNCTION reject_unknown_actions() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'audit action % is not allowed', NEW.action; END $$;
                CREATE TRIGGER trg_reject_unknown_actions BEFORE INSERT ON audit_log
                    FOR EACH ROW EXECUTE FUNCTION reject_unknown_actions()"""


def test_a_server_error_mid_step_is_one_coded_line_and_the_ledger_says_where_it_stopped(databases):
    url = databases.seeded()
    found_schema, found_rows = schema_dump(url), row_hashes(url)
    with connection.connect(url) as conn:  # a trigger the team wrote rejects 016's audit rows
        conn.execute(AUDIT_TRAP)
        conn.commit()
    failed = run_cli("migrate", "apply", "--no-backup", env={connection.URL_ENV: url})
    assert failed.returncode == 2 and "Traceback" not in failed.stderr + failed.stdout
    [line] = failed.stderr.strip().splitlines()
    assert line.startswith(
        "error MIGRATION_STEP_FAILED: 016_add_missing_foreign_keys step audit_orphans_shape_b: `INSERT INTO audit_log"
    )
    assert "audit action dawsos_migration_016 is not allowed" in line
    states = {r["version"]: r["state"] for r in MigrationRunner(url, backup=False).status()}
    assert states == {14: "applied", 15: "applied", 16: "partial", 17: "pending", 18: "pending", 19: "pending"}
    with connection.connect(url) as conn:
        done = [s for (s,) in conn.execute("SELECT step FROM dawsos_migrations.journal WHERE version = 16 ORDER BY id")]
        assert done == ["@policy", "copy_orphaned_lots", "copy_orphaned_transactions", "copy_orphaned_betas"]
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'dawsos_migration_016'").fetchone()[0] == 0

    conflict = run_cli("migrate", "apply", "--no-backup", "--policy", "quarantine", env={connection.URL_ENV: url})
    assert conflict.returncode == 2 and conflict.stderr.startswith("error MIGRATION_POLICY_CONFLICT")

    MigrationRunner(url, backup=False).rollback(0)  # what the partial run did is undone too
    with connection.connect(url) as conn:
        conn.execute("DROP TRIGGER trg_reject_unknown_actions ON audit_log; DROP FUNCTION reject_unknown_actions()")
        conn.commit()
    assert schema_dump(url) == found_schema and row_hashes(url) == found_rows
    MigrationRunner(url, policy="quarantine", backup=False).apply()
    assert scalar(url, "SELECT count(*) FROM lots WHERE security_id = '00000000-0000-0000-0000-000000000000'") == 0


def _wait_for_runner(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dawsos-migrate'"):
            return
        time.sleep(0.02)


def _wait_until_gone(url: str) -> None:
    deadline = time.monotonic() + 30  # the server notices a dead client within client_connection_check_interval
    while (
        scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dawsos-migrate'")
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)


KILL_TARGETS = [
    ("variant", LegacyVariant()),
    ("variant", LegacyVariant(lots_007=False, betas="wide", shocks="jsonb", audit_log="a")),
    ("variant", LegacyVariant(state="nov4")),
    ("variant", LegacyVariant(state="nov8")),
    ("real", "plan"),
    ("real", "nov4"),
    ("real", "nov8"),
]


@pytest.mark.parametrize(
    "kind, target",
    KILL_TARGETS,
    ids=lambda t: getattr(t, "state", t) if not isinstance(t, LegacyVariant) or t.lots_007 else "without-007",
)
def test_a_run_killed_at_random_points_resumes_or_rolls_back(databases, kind, target):
    def clone() -> str:
        return databases.real(target) if kind == "real" else databases.seeded(target)

    reference = clone()
    MigrationRunner(reference, backup=False).apply()
    applied_schema = schema_dump(reference)
    rng = random.Random(f"{kind}:{target}")
    outcomes = []
    for trial in range(KILL_TRIALS):
        url = clone()
        found = schema_dump(url), row_hashes(url)
        env = {**os.environ, connection.URL_ENV: url}
        process = subprocess.Popen(
            [DAWSOS, "migrate", "apply", "--no-backup"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_runner(url, process)
        time.sleep(rng.uniform(0, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        _wait_until_gone(url)
        states = [r["state"] for r in MigrationRunner(url, backup=False).status()]
        outcomes.append(states)
        if trial % 2 == 0:
            MigrationRunner(url, backup=False).apply()
            assert schema_dump(url) == applied_schema, (trial, states)
            assert all(r["state"] in ("applied", "adopted") for r in MigrationRunner(url, backup=False).status())
        else:
            MigrationRunner(url, backup=False).rollback(0)
            assert (schema_dump(url), row_hashes(url)) == found, (trial, states)
    assert outcomes  # the states the kills left behind are in the failure message when an assertion fails


@pytest.mark.parametrize("state", STATES)
def test_every_pattern_runs_for_the_teams_own_portfolio(databases, state):
    """DawsOS's demo portfolio (its own seed_portfolio_data.sql) after the migrations, without provider feeds: every
    pattern answers, with explicit nulls and warnings where the data is absent."""
    from dawsos_assets.patterns.engine import PatternEngine
    from dawsos_assets.patterns.loader import load_all
    from dawsos_assets.patterns.registry import default_registry

    url = databases.real(state)
    MigrationRunner(url, backup=False).apply()
    with connection.connect(url) as conn:
        security = str(
            conn.execute(
                "SELECT security_id FROM lots WHERE portfolio_id = %s ORDER BY symbol LIMIT 1", (ref.DEMO_PORTFOLIO_ID,)
            ).fetchone()[0]
        )
        warned = 0
        for pattern in load_all().values():
            inputs = {"portfolio_id": ref.DEMO_PORTFOLIO_ID, "security_id": security}
            result = PatternEngine(default_registry()).run(
                conn, pattern, {k: v for k, v in inputs.items() if k in pattern.inputs}
            )
            assert result.data, pattern.id
            warned += sum(len(step.warnings) for step in result.trace)
        assert warned > 0  # no fundamentals, news or corporate actions here: said, not invented
