"""The legacy DawsOS tables as observable source assets: where every lineage edge of the refactor starts."""

from __future__ import annotations

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.catalog import TABLE_DESCRIPTIONS

LEGACY_GROUP = "legacy"
LEGACY_TABLES = [
    "portfolios", "securities", "pricing_packs", "prices", "fx_rates", "lots", "transactions",
    "portfolio_daily_values", "portfolio_cash_flows", "portfolio_metrics", "macro_indicators", "regime_history",
    "cycle_phases", "position_factor_betas", "scenario_shocks", "audit_log", "migration_history",
]


def legacy_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["legacy", table])


def observed_schema(conn, table: str) -> dg.TableSchema:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
    return dg.TableSchema(columns=[
        dg.TableColumn(name, data_type, constraints=dg.TableColumnConstraints(nullable=nullable == "YES"))
        for name, data_type, nullable in rows])


@dg.multi_observable_source_asset(
    specs=[dg.AssetSpec(legacy_key(table), group_name=LEGACY_GROUP, kinds={"postgres"},
                        description=f"Legacy `{table}` as DawsOS left it. {TABLE_DESCRIPTIONS.get(table, '')}",
                        metadata={"dagster/table_name": f"public.{table}"})
           for table in LEGACY_TABLES],
    name="observe_legacy_tables",
)
def observe_legacy_tables(database: PortfolioDatabase):
    """Row counts and the physical column schema of every legacy table, as the database reports them now."""
    with database.connect() as conn:
        present = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        for table in LEGACY_TABLES:
            if table not in present:
                continue
            count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            yield dg.ObserveResult(asset_key=legacy_key(table), metadata={
                "dagster/row_count": dg.MetadataValue.int(count),
                "dagster/column_schema": observed_schema(conn, table)})
