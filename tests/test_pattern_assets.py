"""Pattern assets in Dagster: partitions follow the portfolios table, outputs are stored, checks pass."""

import json

import dagster as dg

from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.definitions import PATTERNS_JOB, defs
from dawsos_assets.patterns.assets import PORTFOLIOS, build_pattern_asset, portfolio_partitions
from dawsos_assets.patterns.conventions import CONVENTIONS
from dawsos_assets.patterns.loader import PATTERNS_DIR, load, parse

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def test_sensor_keeps_partitions_in_step_with_portfolios(seeded_url):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, ["00000000-dead-beef-0000-000000000000"])
        context = dg.build_sensor_context(instance=instance, resources={"database": PortfolioDatabase(url=seeded_url)})
        result = portfolio_partitions(context)
        added = [r for r in result.dynamic_partitions_requests if isinstance(r, dg.AddDynamicPartitionsRequest)]
        deleted = [r for r in result.dynamic_partitions_requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)]
        assert ref.ALPHA_PORTFOLIO_ID in added[0].partition_keys and len(added[0].partition_keys) == 8
        assert deleted[0].partition_keys == ["00000000-dead-beef-0000-000000000000"]


def test_patterns_materialize_for_a_portfolio_and_are_stored(migrated_url):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, [ref.DEMO_PORTFOLIO_ID])
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, partition_key=ref.DEMO_PORTFOLIO_ID, run_config=QUIET)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 13 * 3 and all(c.passed for c in checks)
    with connection.connect(migrated_url) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT pattern) FROM analytics.pattern_outputs "
                              "WHERE portfolio_id = %s AND run_id = %s", (ref.DEMO_PORTFOLIO_ID, result.run_id)).fetchone()
    assert stored == (13, 13)
    metadata = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert set(metadata["portfolio_overview"]["conventions"].value) == set(CONVENTIONS)
    assert set(metadata["holding_deep_dive"]["conventions"].value) == set(CONVENTIONS)
    assert metadata["macro_cycles_overview"]["conventions"].value == {}
    readme = (PATTERNS_DIR.parents[2] / "README.md").read_text()
    assert all(text in readme for text in CONVENTIONS.values())  # the README states the same conventions


def test_a_bad_partition_fails_with_a_coded_error_and_stores_nothing(migrated_url):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, ["not-a-uuid"])
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, partition_key="not-a-uuid", run_config=QUIET, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any("INVALID_PORTFOLIO_ID" in str(e.event_specific_data.error) for e in failures)
    with connection.connect(migrated_url) as conn:
        exists = conn.execute("SELECT to_regclass('analytics.pattern_outputs') IS NOT NULL").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM analytics.pattern_outputs").fetchone()[0] if exists else 0
    assert rows == 0


def test_the_export_pattern_links_its_report_file(migrated_url):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, [ref.ALPHA_PORTFOLIO_ID])
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, partition_key=ref.ALPHA_PORTFOLIO_ID, run_config=QUIET)
    export = next(e for e in result.get_asset_materialization_events()
                  if e.asset_key.to_user_string() == "patterns/export_portfolio_report")
    path = export.materialization.metadata["report_path"].value
    assert path.endswith(".html") and "AAPL" in open(path).read()


def materialize_pattern(url, pattern, portfolio_id, instance):
    instance.add_dynamic_partitions(PORTFOLIOS.name, [portfolio_id])
    return dg.materialize([build_pattern_asset(pattern)], partition_key=portfolio_id, instance=instance,
                          resources={"database": PortfolioDatabase(url=url)}, raise_on_error=False)


def check_results(result) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_a_result_failing_its_contract_is_kept_aside_and_never_published(migrated_url):
    """Write-audit-publish: a corrupt price gives a negative market value; the UI keeps reading the last good
    output, and the rejected one waits in analytics.pattern_rejects with its failures."""
    with dg.instance_for_test() as instance:
        good = materialize_pattern(migrated_url, load("portfolio_overview"), ref.ALPHA_PORTFOLIO_ID, instance)
        assert good.success
        with connection.connect(migrated_url) as conn:
            conn.execute("UPDATE prices SET close = -close WHERE security_id = (SELECT id FROM securities "
                         "WHERE symbol = 'AAPL') AND pricing_pack_id = (SELECT max(id) FROM pricing_packs)")
            conn.commit()
        bad = materialize_pattern(migrated_url, load("portfolio_overview"), ref.ALPHA_PORTFOLIO_ID, instance)
    assert not bad.success
    checks = check_results(bad)
    assert not checks["response_contract"].passed and checks["capability_routing"].passed
    assert any("market_value" in f for f in checks["response_contract"].metadata["failures"].value)
    with connection.connect(migrated_url) as conn:
        published = conn.execute("SELECT run_id, result #> '{valued_positions,total_value}' FROM analytics.pattern_outputs "
                                 "WHERE pattern = 'portfolio_overview'").fetchall()
        rejected = conn.execute("SELECT run_id, failures, p->'market_value' FROM analytics.pattern_rejects, "
                                "jsonb_array_elements(result #> '{valued_positions,positions}') p "
                                "WHERE p->>'symbol' = 'AAPL'").fetchall()
    assert [run for run, _ in published] == [good.run_id] and float(published[0][1]) > 0
    assert len(rejected) == 1 and rejected[0][0] == bad.run_id and float(rejected[0][2]) < 0
    assert any("market_value" in f for f in rejected[0][1]["response_contract"])


def test_capability_routing_reports_what_the_engine_refused(migrated_url, tmp_path):
    document = json.loads((PATTERNS_DIR / "portfolio_overview.json").read_text())
    document["steps"][2]["capability"] = "metrics.compute_nothing"
    (tmp_path / "portfolio_overview.json").write_text(json.dumps(document))
    with dg.instance_for_test() as instance:
        result = materialize_pattern(migrated_url, parse(tmp_path / "portfolio_overview.json"), ref.ALPHA_PORTFOLIO_ID,
                                     instance)
    assert not result.success
    routing = check_results(result)["capability_routing"]
    assert not routing.passed
    assert routing.metadata["refused"].value == ["metrics.compute_nothing"]
    with connection.connect(migrated_url) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.pattern_outputs").fetchone()[0] == 0
        refused = conn.execute("SELECT result, failures FROM analytics.pattern_rejects").fetchone()
    assert refused[0] is None and refused[1]["capability_routing"] == ["metrics.compute_nothing"]
