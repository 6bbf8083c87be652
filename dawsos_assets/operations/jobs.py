"""The jobs people run from the UI, schedules and sensors."""

import dagster as dg

from dawsos_assets.migrations.assets import APPLY_MIGRATIONS_JOB, build_apply_migrations_job  # noqa: F401 — APPLY_MIGRATIONS_JOB is re-exported with the other job names
from dawsos_assets.operations.executors import forked_steps
from dawsos_assets.patterns.assets import PATTERNS_GROUP
from dawsos_assets.tables.holdings import holdings
from dawsos_assets.tables.legacy_assets import observe_legacy_tables
from dawsos_assets.tables.quality import data_quality_report, refactoring_success_metrics
from dawsos_assets.tables.table_assets import TABLES_GROUP

OBSERVE_LEGACY_JOB = "observe_legacy"
TABLES_AND_CHECKS_JOB = "tables_and_checks"
PATTERNS_JOB = "patterns"
DATA_QUALITY_REPORT_JOB = "weekly_data_quality_report"

# Every step of these jobs is a short SQL statement: one process per step would cost a Python start-up (about 2.6 s
# of imports) per step, several times the work. The steps run in the run worker's own process instead.
LIGHT_STEPS = dg.in_process_executor

# Group selections skip observable source assets, so the legacy tables are selected by key.
observe_legacy_job = dg.define_asset_job(
    OBSERVE_LEGACY_JOB,
    selection=dg.AssetSelection.assets(*observe_legacy_tables.keys),
    description="Record row counts and column schemas of the legacy tables.",
    executor_def=LIGHT_STEPS,
)
apply_migrations_job = build_apply_migrations_job()  # ops, not assets: see migrations/assets.py
tables_and_checks_job = dg.define_asset_job(
    TABLES_AND_CHECKS_JOB,
    selection=dg.AssetSelection.groups(TABLES_GROUP) | dg.AssetSelection.assets(holdings, refactoring_success_metrics),
    description="The nightly order's first part: pricing pack and every table with its checks, then holdings and "
    "the refactoring metrics (patterns follow through a sensor, alerts after every run).",
    executor_def=LIGHT_STEPS,
)
patterns_job = dg.define_asset_job(
    PATTERNS_JOB,
    selection=dg.AssetSelection.groups(PATTERNS_GROUP),
    description="Every pattern for the portfolio partitions of the run, the patterns side by side.",
    executor_def=forked_steps,
)
data_quality_report_job = dg.define_asset_job(
    DATA_QUALITY_REPORT_JOB,
    selection=dg.AssetSelection.assets(data_quality_report),
    description="Great Expectations validation of every table and its Data Docs.",
)
JOBS = [observe_legacy_job, apply_migrations_job, tables_and_checks_job, patterns_job, data_quality_report_job]
