"""End to end through the `dawsos` command: coded errors, psql-compatible URLs, the demo."""

import re
import socket
import subprocess

import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.server import postgres_binary
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.patterns.loader import PATTERNS_DIR

from .conftest import run_cli

ALPHA = ("--portfolio", ref.ALPHA_PORTFOLIO_ID)


def assert_coded_error(result: subprocess.CompletedProcess, code: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error {code}:") and "(suggestion: " in lines[0], lines[0]
    assert len(lines[0]) < 1000  # never an echo of a huge input


def test_db_url_is_accepted_by_psql(seeded_url):
    result = run_cli("db", "url")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    psql = subprocess.run(
        [postgres_binary("psql"), url, "-Atc", "SELECT count(*) FROM lots"], capture_output=True, text=True, timeout=30
    )
    assert psql.returncode == 0, psql.stderr
    assert int(psql.stdout) > 100


@pytest.mark.slow  # each case starts the installed command: a fresh interpreter importing the project
@pytest.mark.parametrize(
    "url, code",
    [
        ("mysql://user@host/db", "DB_URL_INVALID"),
        ("this is not a url", "DB_URL_INVALID"),
        ("postgresql://postgres@127.0.0.1:1/dawsos", "DB_UNREACHABLE"),
        ("postgresql://postgres@127.0.0.1:1/dawsos?sslmode=disable&nonsense=1", "DB_URL_INVALID"),
        ("postgresql://postgres:pass word@127.0.0.1:1/dawsos", "DB_URL_INVALID"),
        ("postgresql://postgres@127.0.0.1:1/daw sos", "DB_URL_INVALID"),
    ],
)
def test_bad_database_urls_give_one_coded_line(url, code):
    assert_coded_error(run_cli("seed", env={connection.URL_ENV: url}), code)


def test_seed_refuses_a_seeded_database_without_fresh(seeded_url):
    assert_coded_error(run_cli("seed"), "DB_ALREADY_SEEDED")


def test_seed_rejects_out_of_range_lots(empty_url):
    assert_coded_error(run_cli("seed", "--lots", "20000000"), "SEED_ARGUMENT_INVALID")


def test_seed_prints_the_manifest_as_json(empty_url):
    import json

    result = run_cli("seed", "--seed", "3", "--json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["seed"] == 3 and manifest["defects"]["orphaned_lots"]["count"] > 0


def test_ui_refuses_an_occupied_port(seeded_url):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_coded_error(run_cli("ui", "--port", str(port)), "PORT_IN_USE")


def test_db_commands_on_an_external_server_say_so(seeded_url):
    assert_coded_error(run_cli("db", "stop"), "EMBEDDED_NOT_USED")
    status = run_cli("db", "status")
    assert status.returncode == 0 and "reachable" in status.stdout


def test_demo_seeds_an_empty_database_then_reuses_it(empty_url):
    first = run_cli("demo")
    assert first.returncode == 0, first.stderr
    for expected in (
        "creating the legacy DawsOS database",
        "qty_open",
        "valuation_date",
        "Missing foreign keys",
        "lots.security_id",
        "No migration ledger",
        "orphaned_lots",
        "lot_count 3, SUM(quantity) 225, SUM(qty_open) 225, SUM(cost_basis) 55000",
    ):
        assert expected in first.stdout, expected
    for expected in (
        "014_standardize_quantity_names",
        "applied",
        "0 unvalidated foreign keys",
        "0 orphans left",
        "SUM(quantity_open) 225",
        "failing: lots.drift_rules (WARN)",
        "Pattern timings across portfolios",
        "Checks on the legacy database",
        "fk_security_id",
        "ERROR failed",
    ):
        assert expected in first.stdout, expected
    printed = " ".join(first.stdout.split())  # the console wraps long lines
    [(checks, passed)] = re.findall(r"(\d+) checks: (\d+) passed; failing:", printed)
    assert int(checks) - int(passed) == 2  # exactly the two WARN checks the README names
    assert "analytics/holdings.every_position_priced (WARN)" in printed
    second = run_cli("demo")
    assert second.returncode == 0 and "reusing the seeded database" in second.stdout
    for run in (first, second):  # no beta, preview or supersession warning (nor any other) in what users read
        assert "Warning" not in run.stdout + run.stderr
    assert "already applied" in second.stdout and "Traceback" not in second.stderr
    assert "reusing the outputs stored for the latest pricing pack" in second.stdout


def test_migrate_commands_report_status_plan_and_coded_errors(seeded_url):
    plan = run_cli("migrate", "plan", "--to", "14")
    assert (
        plan.returncode == 0 and "CREATE INDEX CONCURRENTLY" in plan.stdout and "SHARE UPDATE EXCLUSIVE" in plan.stdout
    )
    assert_coded_error(run_cli("migrate", "apply", "--policy", "fail", "--no-backup"), "MIGRATION_ORPHANS_FOUND")
    status = run_cli("migrate", "status")
    assert "014 standardize_quantity_names: applied" in status.stdout
    assert "016 add_missing_foreign_keys: pending" in status.stdout
    assert_coded_error(run_cli("migrate", "restore", "/nonexistent.dump"), "BACKUP_NOT_FOUND")


def test_patterns_run_and_check_on_an_unseeded_database_say_why(empty_url):
    assert_coded_error(run_cli("patterns", "run", "portfolio_overview", *ALPHA), "DB_NOT_SEEDED")
    assert_coded_error(run_cli("check"), "DB_NOT_SEEDED")


@pytest.mark.parametrize(
    "name",
    [
        "../definitions/portfolio_overview",
        str(PATTERNS_DIR / "portfolio_overview"),
        "portfolio_overview.json",
        "p" * 256,
        "x" * 100_000,
    ],
)
def test_a_pattern_is_named_from_the_pattern_folder_never_by_path(seeded_url, name):
    assert_coded_error(run_cli("patterns", "run", name, *ALPHA), "PATTERN_NOT_FOUND")


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--seed", str(2**64)), ("--portfolios", "1000000000")])
def test_seed_arguments_are_bounded(empty_url, option, value):
    assert_coded_error(run_cli("seed", option, value), "SEED_ARGUMENT_INVALID")


@pytest.mark.parametrize(
    "pattern, value, extra",
    [
        ("portfolio_overview", "lookback_days=-5", ALPHA),
        ("macro_cycles_overview", "asof_date=notadate", ()),
        ("portfolio_macro_overview", "confidence_level=NaN", ALPHA),
    ],
)
def test_typed_pattern_inputs_are_checked_against_their_declaration(seeded_url, pattern, value, extra):
    MigrationRunner(seeded_url, backup=False).apply()  # on the migrated database these ran, with exit 0
    assert_coded_error(run_cli("patterns", "run", pattern, "--input", value, *extra), "PATTERN_INPUT_INVALID")


@pytest.mark.slow  # each case starts the installed command
@pytest.mark.parametrize(
    "args",
    [
        ("seed", "--bogus"),
        ("seed", "--betas", "sideways"),
        ("patterns", "run"),
        ("nosuchcommand",),
        ("migrate", "rollback", "--to", "-3"),
        ("ui", "--port", "0"),
        (),
    ],
)
def test_usage_errors_are_one_coded_line_too(args):
    assert_coded_error(run_cli(*args), "USAGE_ERROR")


@pytest.mark.slow  # ends by starting the installed command
def test_server_errors_and_bugs_are_one_coded_line_and_tracebacks_only_on_request():
    import psycopg

    from dawsos_assets.cli import _as_coded_error

    assert (
        _as_coded_error(psycopg.errors.DiskFull("could not extend file\nDETAIL: …"))
        .one_line()
        .startswith("error DB_SERVER_ERROR: the database server reported (53100): could not extend file (suggestion: ")
    )
    assert _as_coded_error(KeyError("x")).code == "INTERNAL_ERROR"
    shown = run_cli("seed", "--seed", "-1", env={"DAWSOS_TRACEBACK": "1"})
    assert "Traceback" in shown.stderr and "SEED_ARGUMENT_INVALID" in shown.stderr
