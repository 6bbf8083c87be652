"""Pattern assets in Dagster: partitions follow the portfolios table, outputs are stored, checks pass."""

import dagster as dg

from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.definitions import PATTERNS_JOB, defs
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.patterns.assets import PORTFOLIOS, portfolio_partitions

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


def test_patterns_materialize_for_a_portfolio_and_are_stored(seeded_url):
    MigrationRunner(seeded_url, backup=False).apply()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, [ref.DEMO_PORTFOLIO_ID])
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, partition_key=ref.DEMO_PORTFOLIO_ID, run_config=QUIET)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 13 * 3 and all(c.passed for c in checks)
    with connection.connect(seeded_url) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT pattern) FROM analytics.pattern_outputs "
                              "WHERE portfolio_id = %s AND run_id = %s", (ref.DEMO_PORTFOLIO_ID, result.run_id)).fetchone()
    assert stored == (13, 13)


def test_a_bad_partition_fails_with_a_coded_error_and_stores_nothing(seeded_url):
    MigrationRunner(seeded_url, backup=False).apply()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, ["not-a-uuid"])
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, partition_key="not-a-uuid", run_config=QUIET, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any("INVALID_PORTFOLIO_ID" in str(e.event_specific_data.error) for e in failures)
    with connection.connect(seeded_url) as conn:
        exists = conn.execute("SELECT to_regclass('analytics.pattern_outputs') IS NOT NULL").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM analytics.pattern_outputs").fetchone()[0] if exists else 0
    assert rows == 0


def test_the_export_pattern_links_its_report_file(seeded_url):
    MigrationRunner(seeded_url, backup=False).apply()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, [ref.ALPHA_PORTFOLIO_ID])
        result = defs.resolve_job_def(PATTERNS_JOB).execute_in_process(
            instance=instance, partition_key=ref.ALPHA_PORTFOLIO_ID, run_config=QUIET)
    export = next(e for e in result.get_asset_materialization_events()
                  if e.asset_key.to_user_string() == "patterns/export_portfolio_report")
    path = export.materialization.metadata["report_path"].value
    assert path.endswith(".html") and "AAPL" in open(path).read()
