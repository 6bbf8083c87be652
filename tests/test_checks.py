"""Table contracts and their checks, in PostgreSQL and through Dagster."""

import json

import dagster as dg
import pandas as pd
import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.seed.loader import read_manifest
from dawsos_assets.definitions import TABLES_AND_CHECKS_JOB, defs
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.tables.checks import compile_rules, run_all_checks, run_table_checks
from dawsos_assets.tables.contracts import Lots, Prices

from .conftest import run_cli
from .test_seed import VARIANTS, variant_id

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# seed manifest defect -> (table, check, rule or None for the whole check)
MANIFEST_TO_CHECK = {
    "orphaned_lots": ("lots", "fk_security_id", None),
    "orphaned_transactions": ("transactions", "fk_security_id", None),
    "orphaned_betas_security": ("position_factor_betas", "fk_security_id", None),
    "orphaned_betas_portfolio": ("position_factor_betas", "fk_portfolio_id", None),
    "open_lots_with_zero_qty_open": ("lots", "drift_rules", "open_flag_has_open_quantity(is_open, quantity_open)"),
    "closed_lots_with_positive_qty_open": (
        "lots",
        "drift_rules",
        "closed_flag_has_no_open_quantity(is_open, quantity_open)",
    ),
    "quantity_differs_from_qty_original": ("lots", "drift_rules", "columns_equal(quantity, quantity_original)"),
}


def by_check(outcomes):
    return {(o.table, o.check): o for o in outcomes}


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_on_the_legacy_database_findings_match_the_seed_manifest(databases, variant):
    url = databases.seeded(variant)
    with connection.connect(url) as conn:
        outcomes = by_check(run_all_checks(conn))  # never crashes on a missing column
        manifest = read_manifest(conn)
    for defect, item in manifest["defects"].items():
        table, check, rule = MANIFEST_TO_CHECK[defect]
        if not item["applicable"]:
            continue
        outcome = outcomes[(table, check)]
        found = outcome.details["failing_by_rule"].get(rule, 0) if rule else outcome.failing_count
        assert found == item["count"], defect
    names = outcomes[("lots", "column_names")]
    if variant.lots_007 and variant.state == "plan":  # the team renamed these columns on 2025-11-04
        assert {"column": "qty_open", "problem": "unexpected column (legacy name of quantity_open)"} in names.sample
    elif variant.state != "plan":
        assert names.passed
    assert not outcomes[("portfolio_daily_values", "column_names")].passed  # valuation_date
    assert not outcomes[("macro_indicators", "column_names")].passed  # a bare `date`


def test_dawsos_check_fails_on_legacy_and_passes_after_migration(seeded_url):
    legacy = run_cli("check", "--json")
    assert legacy.returncode == 1
    results = json.loads(legacy.stdout)
    assert set(results[0]) == {"asset", "check", "passed", "severity", "failing_count"}
    assert {(r["asset"], r["check"]) for r in results if not r["passed"] and r["severity"] == "ERROR"} >= {
        ("lots", "column_names"),
        ("lots", "fk_security_id"),
        ("transactions", "fk_security_id"),
    }
    MigrationRunner(seeded_url, backup=False).apply()
    migrated = run_cli("check")
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    assert "0 ERROR failed" in migrated.stdout


def test_rules_compile_to_one_scan_with_legacy_names_resolved():
    legacy_columns = [
        "id",
        "portfolio_id",
        "security_id",
        "symbol",
        "acquisition_date",
        "quantity",
        "cost_basis",
        "cost_basis_per_share",
        "currency",
        "is_open",
        "created_at",
        "updated_at",
        "qty_original",
        "qty_open",
        "closed_date",
    ]
    rules = {r.label: r for r in compile_rules(Lots, "lots", legacy_columns)}
    assert rules["quantity_open greater_than_or_equal_to 0"].violation == '"qty_open" < 0'
    assert rules["column_le(quantity_open, quantity_original)"].violation == '"qty_open" > "qty_original"'
    assert rules["open_flag_has_open_quantity(is_open, quantity_open)"].severity == "WARN"
    without_007 = {r.label: r for r in compile_rules(Lots, "lots", legacy_columns[:12])}
    assert without_007["quantity_open is not null"].violation is None
    assert without_007["quantity_open is not null"].missing == ["quantity_open"]


def test_sql_checks_agree_with_pandera_on_the_same_rows(seeded_url):
    """The contract means the same thing in both engines: validate prices in pandas and in PostgreSQL."""
    MigrationRunner(seeded_url, backup=False).apply()
    with connection.connect(seeded_url) as conn:
        conn.execute("UPDATE prices SET low = high + 1 WHERE ctid IN (SELECT ctid FROM prices LIMIT 3)")
        conn.commit()
        sql_failures = by_check(run_table_checks(conn, "prices"))[("prices", "row_rules")]
        frame = pd.read_sql("SELECT * FROM prices", connection.engine(seeded_url))
    assert sql_failures.details["failing_by_rule"] == {"column_le(low, high)": 3}
    with pytest.raises(Exception) as raised:
        Prices.validate(frame, lazy=True)
    failures = raised.value.failure_cases
    assert set(failures["check"]) == {"column_le(left=low, right=high)"}
    assert failures["index"].nunique() == 3


def test_a_failing_blocking_check_stops_everything_downstream(seeded_url):
    MigrationRunner(seeded_url, backup=False).apply()
    with connection.connect(seeded_url) as conn:
        conn.execute("UPDATE lots SET cost_basis = -1 WHERE id = (SELECT id FROM lots ORDER BY id LIMIT 1)")
        conn.commit()
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "lots" in materialized and "analytics/holdings" not in materialized
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    row_rules = next(e for e in failed if e.asset_key == dg.AssetKey("lots") and e.check_name == "row_rules")
    assert row_rules.blocking and row_rules.severity == dg.AssetCheckSeverity.ERROR
    metadata = row_rules.metadata
    assert metadata["failing_count"].value == 1
    assert metadata["sample"].records[0].data["cost_basis"] == -1
    assert '"cost_basis" < 0' in metadata["failing_rows_sql"].value


def test_holdings_view_values_positions_at_the_latest_pack(seeded_url):
    MigrationRunner(seeded_url, backup=False).apply()
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(instance=instance, run_config=QUIET)
        assert result.success
        again = defs.resolve_job_def(TABLES_AND_CHECKS_JOB).execute_in_process(instance=instance, run_config=QUIET)
    refresh = [
        e.materialization.metadata["refresh"].value
        for e in again.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "analytics/holdings"
    ]
    assert refresh == ["refreshed concurrently"]
    with connection.connect(seeded_url) as conn:
        alpha = conn.execute("""
            SELECT h.symbol, h.quantity, round(h.market_value, 2), round(sum(h.weight) OVER (), 9)
              FROM analytics.holdings h JOIN portfolios p ON p.id = h.portfolio_id
             WHERE p.name = 'Test Portfolio Alpha' ORDER BY h.symbol""").fetchall()
        closes = dict(
            conn.execute(
                "SELECT s.symbol, pr.close FROM prices pr JOIN securities s ON s.id = pr.security_id "
                "WHERE pr.pricing_pack_id = 'PP_2025-11-04' AND s.symbol IN ('AAPL', 'GOOGL', 'MSFT')"
            )
        )
    assert [(s, float(q)) for s, q, _, _ in alpha] == [("AAPL", 100), ("GOOGL", 75), ("MSFT", 50)]
    for symbol, quantity, value, weight_sum in alpha:
        assert float(value) == pytest.approx(float(quantity) * float(closes[symbol]), abs=0.01)
        assert float(weight_sum) == pytest.approx(1.0, abs=1e-9)


def test_failing_count_is_distinct_rows_with_a_count_per_rule(seeded_url):
    """One lot breaking two ERROR rules is one failing row; each rule still says how many rows break it."""
    MigrationRunner(seeded_url, backup=False).apply()
    with connection.connect(seeded_url) as conn:
        conn.execute(
            "UPDATE lots SET cost_basis = -1, cost_basis_per_share = -1 "
            "WHERE id = (SELECT id FROM lots ORDER BY id LIMIT 1)"
        )
        conn.execute("UPDATE lots SET cost_basis = -2 WHERE id = (SELECT id FROM lots ORDER BY id OFFSET 1 LIMIT 1)")
        conn.commit()
        row_rules = by_check(run_table_checks(conn, "lots"))[("lots", "row_rules")]
    assert row_rules.failing_count == 2
    assert row_rules.details["failing_by_rule"] == {
        "cost_basis greater_than_or_equal_to 0": 2,
        "cost_basis_per_share greater_than_or_equal_to 0": 1,
    }
