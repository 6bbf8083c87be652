"""Everything Dagster loads: one place that wires the domains together."""

import os
import warnings

import dagster as dg

# Beta features relied on, on purpose: a backfill of every portfolio as one
# run, and one op observing all legacy tables. Their warnings would otherwise open every process's output.
warnings.filterwarnings("ignore", category=dg.BetaWarning,
                        message=r"(Parameter `backfill_policy` of function `asset`|Function `multi_observable_source_asset`)")

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.migrations.assets import build_migration_assets
from dawsos_assets.operations.alerts import WEBHOOK_ENV, validate_webhook_url
from dawsos_assets.operations.jobs import (  # noqa: F401  (names re-exported for callers)
    APPLY_MIGRATIONS_JOB,
    DATA_QUALITY_REPORT_JOB,
    JOBS,
    OBSERVE_LEGACY_JOB,
    PATTERNS_JOB,
    TABLES_AND_CHECKS_JOB,
)
from dawsos_assets.operations.schedules import nightly, patterns_follow_tables, weekly_data_quality
from dawsos_assets.operations.sensors import (
    SlackAlerts,
    check_alerts_after_failure,
    check_alerts_after_success,
    pending_migrations,
    slack_alert_retries,
)
from dawsos_assets.patterns.assets import build_pattern_assets, portfolio_partitions
from dawsos_assets.tables.asset_checks import build_all_table_checks
from dawsos_assets.tables.holdings import holdings, holdings_checks
from dawsos_assets.tables.legacy_assets import observe_legacy_tables
from dawsos_assets.tables.quality import data_quality_report, refactoring_success_metrics
from dawsos_assets.tables.table_assets import build_table_assets


def _env(name: str):
    """An EnvVar when the variable is set (secrets stay unresolved in the UI), else None: Slack is optional."""
    return dg.EnvVar(name) if os.environ.get(name) else None


if os.environ.get(WEBHOOK_ENV):
    validate_webhook_url(os.environ[WEBHOOK_ENV])  # at load: a bad URL never reaches a sensor tick's error text


defs = dg.Definitions(
    assets=[observe_legacy_tables, *build_migration_assets(), *build_table_assets(), holdings,
            refactoring_success_metrics, data_quality_report, *build_pattern_assets()],
    asset_checks=[*build_all_table_checks(), holdings_checks],
    jobs=JOBS,
    schedules=[nightly, weekly_data_quality],
    sensors=[portfolio_partitions, patterns_follow_tables, check_alerts_after_success, check_alerts_after_failure,
             slack_alert_retries, pending_migrations],
    resources={
        "database": PortfolioDatabase(),
        "slack": SlackAlerts(webhook_url=_env(WEBHOOK_ENV), bot_token=_env("DAWSOS_SLACK_BOT_TOKEN"),
                             channel=_env("DAWSOS_SLACK_CHANNEL"),
                             webserver_url=os.environ.get("DAWSOS_WEBSERVER_URL", "http://127.0.0.1:3000")),
    },
)
