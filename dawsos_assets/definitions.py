"""Everything Dagster loads: one place that wires the domains together."""

from __future__ import annotations

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.legacy_assets import observe_legacy_tables

defs = dg.Definitions(
    assets=[observe_legacy_tables],
    resources={"database": PortfolioDatabase()},
)
