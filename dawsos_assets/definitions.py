"""Everything Dagster loads: one place that wires the domains together."""

from __future__ import annotations

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.legacy_assets import observe_legacy_tables

OBSERVE_LEGACY_JOB = "observe_legacy"

defs = dg.Definitions(
    assets=[observe_legacy_tables],
    # Group selections skip observable source assets, so the legacy tables are selected by key.
    jobs=[dg.define_asset_job(OBSERVE_LEGACY_JOB, selection=dg.AssetSelection.assets(*observe_legacy_tables.keys),
                              description="Record row counts and column schemas of the legacy tables.")],
    resources={"database": PortfolioDatabase()},
)
