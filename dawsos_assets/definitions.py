"""Everything Dagster loads: one place that wires the domains together."""

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.migrations.assets import MIGRATIONS_GROUP, build_migration_assets
from dawsos_assets.patterns.assets import PATTERNS_GROUP, build_pattern_assets, portfolio_partitions
from dawsos_assets.tables.asset_checks import build_all_table_checks
from dawsos_assets.tables.holdings import holdings
from dawsos_assets.tables.legacy_assets import observe_legacy_tables
from dawsos_assets.tables.quality import data_quality_report, refactoring_success_metrics
from dawsos_assets.tables.table_assets import TABLES_GROUP, build_table_assets

OBSERVE_LEGACY_JOB = "observe_legacy"
APPLY_MIGRATIONS_JOB = "apply_migrations"
TABLES_AND_CHECKS_JOB = "tables_and_checks"
DATA_QUALITY_REPORT_JOB = "weekly_data_quality_report"
PATTERNS_JOB = "patterns"

migration_assets = build_migration_assets()
table_assets = build_table_assets()

defs = dg.Definitions(
    assets=[observe_legacy_tables, *migration_assets, *table_assets, holdings, refactoring_success_metrics,
            data_quality_report, *build_pattern_assets()],
    sensors=[portfolio_partitions],
    asset_checks=build_all_table_checks(),
    jobs=[
        # Group selections skip observable source assets, so the legacy tables are selected by key.
        dg.define_asset_job(OBSERVE_LEGACY_JOB, selection=dg.AssetSelection.assets(*observe_legacy_tables.keys),
                            description="Record row counts and column schemas of the legacy tables."),
        dg.define_asset_job(APPLY_MIGRATIONS_JOB, selection=dg.AssetSelection.groups(MIGRATIONS_GROUP, TABLES_GROUP),
                            description="Apply pending migrations in order (each is a no-op once applied), then "
                                        "record the standardized tables with their lineage and checks. Never scheduled."),
        dg.define_asset_job(TABLES_AND_CHECKS_JOB, selection=dg.AssetSelection.groups(TABLES_GROUP, "analytics")
                            | dg.AssetSelection.assets(refactoring_success_metrics),
                            description="Record every table, run its contract checks, refresh holdings and the "
                                        "refactoring metrics."),
        dg.define_asset_job(PATTERNS_JOB, selection=dg.AssetSelection.groups(PATTERNS_GROUP),
                            description="Every pattern for one portfolio partition."),
        dg.define_asset_job(DATA_QUALITY_REPORT_JOB, selection=dg.AssetSelection.assets(data_quality_report),
                            description="Great Expectations validation of every table and its Data Docs."),
    ],
    resources={"database": PortfolioDatabase()},
)
