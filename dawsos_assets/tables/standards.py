"""The standard the refactor moves DawsOS to: one name per concept and a foreign key for every reference.

This module is the single source of these facts; the legacy inspection, the migrations and the checks read them.
"""

from __future__ import annotations

from typing import NamedTuple

from dawsos_assets.migrations.files import load_all


class Rename(NamedTuple):
    """A column renamed from its legacy name to the standard one."""

    table: str
    legacy: str
    standard: str


class ForeignKey(NamedTuple):
    """A foreign key the standard schema requires: `table.column` references `parent.parent_column`."""

    table: str
    column: str
    parent: str
    parent_column: str = "id"
    nullable: bool = False  # NULL allowed and legal (fee transactions carry no security)


# Legacy column -> standard column, as the migrations declare them (`-- @rename`, migrations 014 and 015).
RENAMES = [Rename(r.table, r.legacy, r.standard) for m in load_all() for r in m.renames]

# Every reference the standardized database enforces. The first four are missing in the legacy database.
FOREIGN_KEYS = [
    ForeignKey("lots", "security_id", "securities"),
    ForeignKey("transactions", "security_id", "securities", nullable=True),
    ForeignKey("position_factor_betas", "security_id", "securities"),
    ForeignKey("position_factor_betas", "portfolio_id", "portfolios"),
    ForeignKey("lots", "portfolio_id", "portfolios"),
    ForeignKey("transactions", "portfolio_id", "portfolios"),
    ForeignKey("transactions", "lot_id", "lots", nullable=True),
    ForeignKey("prices", "security_id", "securities"),
    ForeignKey("prices", "pricing_pack_id", "pricing_packs"),
    ForeignKey("fx_rates", "pricing_pack_id", "pricing_packs"),
    ForeignKey("portfolio_daily_values", "portfolio_id", "portfolios"),
    ForeignKey("portfolio_cash_flows", "portfolio_id", "portfolios"),
    ForeignKey("portfolios", "user_id", "users"),
]
