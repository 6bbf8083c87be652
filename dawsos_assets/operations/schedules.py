"""Schedules: the nightly run in DawsOS's order (facts §11.2) and the weekly data-quality report.

pack and tables with their checks -> holdings -> metrics (one run, blocking checks gate what follows) -> patterns
for every portfolio (started by a sensor when that run succeeds) -> alerts (after every run). Migrations are never
scheduled."""

import os

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.operations.jobs import data_quality_report_job, patterns_job, tables_and_checks_job

TIMEZONE_ENV = "DAWSOS_SCHEDULE_TIMEZONE"

nightly = dg.ScheduleDefinition(name="nightly", job=tables_and_checks_job, cron_schedule="5 0 * * *",
                                execution_timezone=os.environ.get(TIMEZONE_ENV, "UTC"),
                                description="00:05 every night, as DawsOS's scheduler did.")
weekly_data_quality = dg.ScheduleDefinition(name="weekly_data_quality", job=data_quality_report_job,
                                            cron_schedule="0 6 * * 1", execution_timezone=os.environ.get(TIMEZONE_ENV, "UTC"),
                                            description="Monday 06:00: Great Expectations report and Data Docs.")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[tables_and_checks_job],
                      request_job=patterns_job, name="patterns_after_tables", default_status=dg.DefaultSensorStatus.RUNNING)
def patterns_after_tables(context: dg.RunStatusSensorContext, database: PortfolioDatabase):
    """Once the tables passed their blocking checks, every portfolio's patterns run (one run per partition)."""
    from dawsos_assets.patterns.assets import PORTFOLIOS

    with database.connect() as conn:
        portfolios = [str(r[0]) for r in conn.execute("SELECT id FROM portfolios ORDER BY id")]
    known = set(context.instance.get_dynamic_partitions(PORTFOLIOS.name))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"{context.dagster_run.run_id}-{p}", partition_key=p) for p in portfolios],
        dynamic_partitions_requests=[PORTFOLIOS.build_add_request([p for p in portfolios if p not in known])]
        if set(portfolios) - known else [])
