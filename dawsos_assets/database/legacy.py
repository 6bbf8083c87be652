"""Build a legacy DawsOS database: the schema at the plan's date (sql/legacy/), in one of the variants the facts
describe, and the two later states the team's own refactoring left (sql/legacy/states/).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import psycopg

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
LEGACY_DIR = SQL_DIR / "legacy"
STATES = ("plan", "nov4", "nov8")
STATE_HISTORY = {"plan": [], "nov4": ["nov4"], "nov8": ["nov4", "nov8"]}


@dataclass(frozen=True)
class LegacyVariant:
    """Which of the legacy database's histories this database follows.

    `state`: plan (2025-11-04 morning, the plan's commit), nov4 (the team's root migrations 001-003 that evening:
    quantity columns renamed, keys added, betas/shocks/audit_log/rating_rubrics dropped) or nov8 (root 009/010:
    wide betas, flat shocks and audit_log back). The other fields choose between the incompatible definitions that
    coexisted at the plan's date; the default follows the code that read the tables then (long betas, and the
    flat scenario_shocks that seed_loader fills).
    """

    lots_007: bool = True
    betas: Literal["long", "wide"] = "long"
    shocks: Literal["flat", "jsonb"] = "flat"
    audit_log: Literal["a", "b"] = "b"
    state: Literal["plan", "nov4", "nov8"] = "plan"

    def files(self) -> list[Path]:
        """The legacy SQL files that build this variant's schema, in order."""
        names = ["00_base.sql"]
        if self.lots_007:
            names.append("10_lots_qty_tracking_007.sql")
        names += [
            f"20_betas_{self.betas}.sql",
            f"30_shocks_{self.shocks}.sql",
            f"40_audit_log_{self.audit_log}.sql",
            "50_rls_policies.sql",
        ]
        return [LEGACY_DIR / name for name in names]

    def as_dict(self) -> dict:
        """The variant as a plain dict."""
        return asdict(self)


def create_legacy_schema(conn: psycopg.Connection, variant: LegacyVariant) -> None:
    """Create every table of the plan's date in `public` (which must be empty) inside the caller's transaction."""
    for path in variant.files():
        conn.execute(path.read_text())


def run_continuing(conn: psycopg.Connection, script: str) -> list[str]:
    """Run a script statement by statement, carrying on past errors as `psql -f` does; each statement in its own
    savepoint inside the caller's transaction. Returns one line per statement that failed.
    """
    from dawsos_assets.migrations.files import split_statements

    failures = []
    for statement in split_statements(script):
        try:
            with conn.transaction():
                conn.execute(statement)
        except psycopg.Error as exc:
            failures.append(f"{' '.join(statement.split())[:80]}: {exc.diag.message_primary or exc}")
    return failures


def apply_history(conn: psycopg.Connection, state: str) -> list[str]:
    """Carry a database at the plan's date forward to `state` the way the team did; returns what failed on the way."""
    failures = []
    for step in STATE_HISTORY[state]:
        failures += run_continuing(conn, (LEGACY_DIR / "states" / f"{step}.sql").read_text())
    return failures
