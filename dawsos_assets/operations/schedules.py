"""Schedules and automation: the nightly run in DawsOS's order (its scheduler.py) and the weekly data-quality report.

pack and tables with their checks -> holdings -> metrics (one run at 00:05, blocking checks gate what follows) ->
patterns for every portfolio (declarative automation: once a table they read has new data and every blocking check
on their tables passed; one backfill run for all portfolios) -> alerts (after every run). Migrations have no
automation condition and no schedule: nothing but a person applies them.
"""

import dagster as dg

from dawsos_assets.operations.jobs import data_quality_report_job, tables_and_checks_job
from dawsos_assets.patterns.assets import PATTERNS_GROUP

TIMEZONE_ENV = "DAWSOS_SCHEDULE_TIMEZONE"


def calendar_schedules(timezone: str = "UTC") -> list[dg.ScheduleDefinition]:
    """The nightly run and the weekly report, in the deployment's timezone (DAWSOS_SCHEDULE_TIMEZONE when Dagster
    loads the definitions; this module reads no environment).
    """
    nightly = dg.ScheduleDefinition(
        name="nightly",
        job=tables_and_checks_job,
        cron_schedule="5 0 * * *",
        execution_timezone=timezone,
        description="00:05 every night, as DawsOS's scheduler did.",
    )
    weekly_data_quality = dg.ScheduleDefinition(
        name="weekly_data_quality",
        job=data_quality_report_job,
        cron_schedule="0 6 * * 1",
        execution_timezone=timezone,
        description="Monday 06:00: Great Expectations report and Data Docs.",
    )
    return [nightly, weekly_data_quality]


nightly, weekly_data_quality = calendar_schedules()  # in UTC, as `build_defs()` has them by default
patterns_follow_tables = dg.AutomationConditionSensorDefinition(
    "patterns_follow_tables",
    target=dg.AssetSelection.groups(PATTERNS_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    emit_backfills=True,
    description="Evaluates the patterns' automation condition: they follow their tables once every blocking check "
    "upstream passed. Several portfolios due at once become one backfill, run as one run.",
)
