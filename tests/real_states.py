"""Real DawsOS databases for tests: built from DawsOS's own SQL files the way a real install was.

The repository's files at the plan's commit (../shared/dawsos_repo_plan, not part of this project) are replayed
with psql carrying on past errors, as the team's install did: no TimescaleDB (its statements fail and are
skipped), the schema files first, the RLS migration, then the root `seed_portfolio_data.sql` (which needs the
portfolio row the application made, and BRK.B, which already existed), then the remaining migrations in file
order. Everything runs as the non-superuser role that owns the tables, as on a managed server. The two later real
states are the team's own refactoring applied on top (sql/legacy/states/), and the demo data and its defects go
on top of whichever state, as `dawsos seed --state` does.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dawsos_assets.database import connection
from dawsos_assets.database.legacy import LegacyVariant, apply_history
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.loader import SeedOptions, load_demo_data
from dawsos_assets.database.server import postgres_binary

REPO_PLAN_ENV = "DAWSOS_REPO_PLAN_DIR"
SCHEMA_FILES = [
    "000_roles",
    "001_portfolios_lots_transactions",
    "pricing_packs",
    "rating_rubrics",
    "portfolio_metrics",
    "macro_indicators",
    "alerts_notifications",
    "portfolio_daily_values",
    "portfolio_cash_flows",
    "scenario_factor_tables",
]
MIGRATIONS_AFTER_SEED = [
    "007_add_lot_qty_tracking",
    "008_add_corporate_actions_support",
    "009_add_scenario_dar_tables",
    "009_jwt_auth",
    "010_add_users_and_audit_log",
    "010_fix_audit_log_schema",
    "011_alert_delivery_system",
    "012_add_alert_channels",
    "013_add_derived_indicators",
]
APP_ROLE, APP_PASSWORD = "dawsos_app", "dawsos_app_pass"  # 000_roles.sql's own role and password
BRK_B = "0b225e3f-5c2c-4dc6-8d3c-2bcf9700c32c"


def repo_plan_dir() -> Path:
    """Where DawsOS's files are; a missing copy fails the test that needs it (never a silent skip)."""
    candidates = [
        os.environ.get(REPO_PLAN_ENV),
        Path(__file__).resolve().parents[2] / "shared" / "dawsos_repo_plan",
        "/work/shared/dawsos_repo_plan",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "seed_portfolio_data.sql").exists():
            return Path(candidate)
    raise FileNotFoundError(f"DawsOS's SQL files were not found (looked in {candidates}); set {REPO_PLAN_ENV}")


def _psql(url: str, path: Path) -> list[str]:
    """psql -f without ON_ERROR_STOP: every statement runs, failures are reported and skipped."""
    target, environment = connection.client_arguments(url)
    done = subprocess.run(
        [postgres_binary("psql"), "--no-psqlrc", "-q", "-f", str(path), target],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment | {"PGOPTIONS": "-c client_min_messages=error"},
    )
    return [line for line in done.stderr.splitlines() if "ERROR" in line]


def replay_repo_plan(url: str) -> list[str]:
    """The plan-date database built from DawsOS's own files, connected as the owner; returns the errors psql saw."""
    repo = repo_plan_dir()
    db = repo / "backend" / "db"
    errors = []
    for name in SCHEMA_FILES:
        errors += _psql(url, db / "schema" / f"{name}.sql")
    errors += _psql(url, db / "seeds" / "001_rating_rubrics.sql")
    errors += _psql(url, db / "migrations" / "005_create_rls_policies.sql")
    with connection.connect(url) as conn:  # what the application had made before the seed script ran
        conn.execute(
            "INSERT INTO portfolios (id, user_id, name, base_currency) VALUES (%s, %s, 'Main Portfolio', 'USD')",
            (ref.DEMO_PORTFOLIO_ID, ref.ADMIN_USER_ID),
        )
        conn.execute(
            "INSERT INTO securities (id, symbol, name) VALUES (%s, 'BRK.B', 'Berkshire Hathaway Inc. Class B')",
            (BRK_B,),
        )
        conn.commit()
    errors += _psql(url, repo / "seed_portfolio_data.sql")
    for name in MIGRATIONS_AFTER_SEED:
        errors += _psql(url, db / "migrations" / f"{name}.sql")
    return errors


def build_real_state(url: str, state: str) -> dict:
    """A real DawsOS database in `state` (plan, nov4, nov8) with the demo data on top; returns the seed manifest."""
    errors = replay_repo_plan(url)
    with connection.connect(url) as conn:
        with conn.transaction():
            history = apply_history(conn, state)
            manifest = load_demo_data(
                conn, SeedOptions(variant=LegacyVariant(state=state), progress=False), errors + history
            )
    return manifest
