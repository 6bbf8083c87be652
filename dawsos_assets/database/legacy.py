"""Build the legacy DawsOS schema (sql/legacy/) in one of the variants the facts describe."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import psycopg

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
LEGACY_DIR = SQL_DIR / "legacy"


@dataclass(frozen=True)
class LegacyVariant:
    """Which of the legacy database's incompatible histories this database follows (facts §2.2, §2.13–2.16).

    The default follows the code that read the tables at the plan's date: PLAN code reads the long form of
    position_factor_betas, and seed_loader loads the scenario library into the flat (mig 009) scenario_shocks.
    """

    lots_007: bool = True
    betas: Literal["long", "wide"] = "long"
    shocks: Literal["flat", "jsonb"] = "flat"
    audit_log: Literal["a", "b"] = "b"

    def files(self) -> list[Path]:
        names = ["00_base.sql"]
        if self.lots_007:
            names.append("10_lots_qty_tracking_007.sql")
        names += [f"20_betas_{self.betas}.sql", f"30_shocks_{self.shocks}.sql", f"40_audit_log_{self.audit_log}.sql"]
        return [LEGACY_DIR / name for name in names]

    def as_dict(self) -> dict:
        return asdict(self)


def legacy_ledger_rows(variant: LegacyVariant) -> list[tuple[int, str, str]]:
    """The legacy migrations recorded as run, with the colliding numbers (two 009s, two 010s)."""
    rows = [
        (5, "005_create_rls_policies", "row-level security policies"),
        (7, "007_add_lot_qty_tracking", "lots.qty_open / qty_original / closed_date"),
        (8, "008_add_corporate_actions_support", "transactions pay_date / ex_date / FX rate ids"),
        (9, "009_add_scenario_dar_tables", "scenario_shocks, position_factor_betas, dar_history, scenario_results"),
        (9, "009_jwt_auth", "token tables, login lockout, audit_log shape a"),
        (10, "010_add_users_and_audit_log", "users, audit_log shape b"),
        (10, "010_fix_audit_log_schema", "audit_log details as JSONB"),
        (11, "011_alert_delivery_system", "alert deliveries, DLQ, retries"),
        (12, "012_add_alert_channels", "alerts.channels"),
        (13, "013_add_derived_indicators", "compute_derived_indicators()"),
    ]
    return [row for row in rows if variant.lots_007 or row[0] != 7]


def create_legacy_schema(conn: psycopg.Connection, variant: LegacyVariant) -> None:
    """Create every legacy table in `public` (which must be empty) inside the caller's transaction."""
    for path in variant.files():
        conn.execute(path.read_text())
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO migration_history (migration_name, migration_number, executed_at, executed_by, description)"
            " VALUES (%s, %s, TIMESTAMPTZ '2025-10-23 12:00+00' + make_interval(mins => %s), 'init_database.sh', %s)",
            [(name, number, i, description) for i, (number, name, description) in enumerate(legacy_ledger_rows(variant))],
        )
