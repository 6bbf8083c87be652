"""Schedules and automation: the nightly run in DawsOS's order (facts §11.2) and the weekly data-quality report.

pack and tables with their checks -> holdings -> metrics (one run at 00:05, blocking checks gate what follows) ->
patterns for every portfolio (declarative automation: once a table they read has new data and every blocking check
on their tables passed; one backfill run for all portfolios) -> alerts (after every run). Migrations have no
automation condition and no schedule: nothing but a person applies them."""

import os

import dagster as dg

from dawsos_assets.operations.jobs import data_quality_report_job, tables_and_checks_job
from dawsos_assets.patterns.assets import PATTERNS_GROUP

TIMEZONE_ENV = "DAWSOS_SCHEDULE_TIMEZONE"

nightly = dg.ScheduleDefinition(name="nightly", job=tables_and_checks_job, cron_schedule="5 0 * * *",
                                execution_timezone=os.environ.get(TIMEZONE_ENV, "UTC"),
                                description="00:05 every night, as DawsOS's scheduler did.")
weekly_data_quality = dg.ScheduleDefinition(name="weekly_data_quality", job=data_quality_report_job,
                                            cron_schedule="0 6 * * 1", execution_timezone=os.environ.get(TIMEZONE_ENV, "UTC"),
                                            description="Monday 06:00: Great Expectations report and Data Docs.")
patterns_follow_tables = dg.AutomationConditionSensorDefinition(
    "patterns_follow_tables", target=dg.AssetSelection.groups(PATTERNS_GROUP), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30, emit_backfills=True,
    description="Evaluates the patterns' automation condition: they follow their tables once every blocking check "
                "upstream passed. Several portfolios due at once become one backfill, run as one run.")
