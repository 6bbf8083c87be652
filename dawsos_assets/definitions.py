"""Everything Dagster loads: one place that wires the domains together.

Importing this module reads no environment variable and opens no file or connection. Dagster loads
`load_definitions`, which reads the deployment's settings (Slack, schedule timezone, UI address) at load time;
`defs` is the same graph with the defaults.
"""

import functools
import os
import warnings

import dagster as dg

# Beta features relied on, on purpose (README, "Dagster features in beta"): a backfill of every portfolio as one
# run, one op observing all legacy tables, and links from assets to their source. Their warnings would otherwise
# open every process's output.
warnings.filterwarnings(
    "ignore",
    category=dg.BetaWarning,
    message=r"(Parameter `backfill_policy` of function `asset`"
    r"|Function `multi_observable_source_asset`|Function `with_source_code_references`"
    r"|Class `LocalFileCodeReference`|Class `CodeReferencesMetadataValue`)",
)

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.migrations.assets import build_migration_assets
from dawsos_assets.operations.alerts import WEBHOOK_ENV, validate_webhook_url
from dawsos_assets.operations.executors import forked_steps
from dawsos_assets.operations.jobs import (  # noqa: F401  (names re-exported for callers)
    APPLY_MIGRATIONS_JOB,
    DATA_QUALITY_REPORT_JOB,
    JOBS,
    OBSERVE_LEGACY_JOB,
    PATTERNS_JOB,
    TABLES_AND_CHECKS_JOB,
)
from dawsos_assets.operations.schedules import TIMEZONE_ENV, calendar_schedules, patterns_follow_tables
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

SLACK_BOT_TOKEN_ENV = "DAWSOS_SLACK_BOT_TOKEN"  # noqa: S105 — the name of the environment variable, not a token
SLACK_CHANNEL_ENV = "DAWSOS_SLACK_CHANNEL"
WEBSERVER_URL_ENV = "DAWSOS_WEBSERVER_URL"
DEPLOYMENT_SETTINGS = (WEBHOOK_ENV, SLACK_BOT_TOKEN_ENV, SLACK_CHANNEL_ENV, WEBSERVER_URL_ENV, TIMEZONE_ENV)


def build_defs(resources: dict | None = None, schedule_timezone: str = "UTC") -> dg.Definitions:
    """The pipeline's definitions; `resources` replaces the defaults by key (tests point them at their database and
    Slack stand-in). Building reads no environment and opens only the project's own files (migrations, pattern
    definitions, source for the code links): the defaults are the embedded database and no Slack.
    """
    return dg.Definitions(
        assets=dg.with_source_code_references(
            [
                observe_legacy_tables,
                *build_migration_assets(),
                *build_table_assets(),
                holdings,
                refactoring_success_metrics,
                data_quality_report,
                *build_pattern_assets(),
            ]
        ),
        asset_checks=[*build_all_table_checks(), holdings_checks],
        jobs=JOBS,
        schedules=calendar_schedules(schedule_timezone),
        sensors=[
            portfolio_partitions,
            patterns_follow_tables,
            check_alerts_after_success,
            check_alerts_after_failure,
            slack_alert_retries,
            pending_migrations,
        ],
        resources={"database": PortfolioDatabase(), "slack": SlackAlerts(), **(resources or {})},
        executor=forked_steps,  # the runs Dagster makes itself (backfills, automation, Materialize in the UI)
    )


def _env_var_if_set(name: str) -> dg.EnvVar | None:
    """An EnvVar (resolved only when a step or sensor uses it, so the UI never shows the secret) for a variable that
    is set; None for one that is not, since Slack is optional and an unset EnvVar fails the resource.
    """
    return dg.EnvVar(name) if os.environ.get(name) else None


def slack_from_environment() -> SlackAlerts:
    """Slack as the deployment configures it. A malformed webhook stops the load here with SLACK_CONFIG_INVALID, and
    the resource refuses it again wherever it is used (a run worker's environment may differ).
    """
    if os.environ.get(WEBHOOK_ENV):
        validate_webhook_url(os.environ[WEBHOOK_ENV])
    return SlackAlerts(
        webhook_url=_env_var_if_set(WEBHOOK_ENV),
        bot_token=_env_var_if_set(SLACK_BOT_TOKEN_ENV),
        channel=_env_var_if_set(SLACK_CHANNEL_ENV),
        webserver_url=os.environ.get(WEBSERVER_URL_ENV, "http://127.0.0.1:3000"),
    )


@dg.definitions
def load_definitions() -> dg.Definitions:
    """What Dagster loads (workspace.yaml, the code server): the definitions with the deployment's settings, read
    from the environment when the code location loads, never when this module is imported.
    """
    return _definitions_for(tuple(os.environ.get(name) for name in DEPLOYMENT_SETTINGS))


@functools.lru_cache(maxsize=1)
def _definitions_for(settings: tuple[str | None, ...]) -> dg.Definitions:
    """The definitions for one set of deployment settings (`settings` is the cache key), built once per process:
    run workers forked from the preloaded process (operations/launcher.py) reuse its graph instead of building it
    again (0.35 s per run).
    """
    return build_defs(
        resources={"slack": slack_from_environment()}, schedule_timezone=os.environ.get(TIMEZONE_ENV, "UTC")
    )


def __getattr__(name: str):
    """`defs`: the same graph with the defaults, for tests, the demo and the benchmarks, built on first use. Dagster
    loads `load_definitions`; building `defs` at import would cost every run worker a second build (0.4 s).
    """
    if name == "defs":
        globals()["defs"] = build_defs()
        return globals()["defs"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
