"""The standard the refactor moves DawsOS to: one name per concept and a foreign key for every reference.

This module is the single source of these facts; the legacy inspection, the migrations and the checks read them.
"""

from __future__ import annotations

from typing import NamedTuple


class Rename(NamedTuple):
    table: str
    legacy: str
    standard: str


class ForeignKey(NamedTuple):
    table: str
    column: str
    parent: str
    parent_column: str = "id"
    nullable: bool = False  # NULL allowed and legal (fee transactions carry no security)


# Legacy column -> standard column (plan migrations 014 and 015; dawsos_legacy_facts.md §3 rows 1 and 3).
RENAMES = [
    Rename("lots", "qty_open", "quantity_open"),
    Rename("lots", "qty_original", "quantity_original"),
    Rename("portfolio_daily_values", "valuation_date", "asof_date"),
    Rename("portfolio_cash_flows", "flow_date", "asof_date"),
    Rename("macro_indicators", "date", "asof_date"),
    Rename("regime_history", "date", "asof_date"),
    Rename("cycle_phases", "date", "asof_date"),
    Rename("pricing_packs", "date", "asof_date"),
]

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
