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
