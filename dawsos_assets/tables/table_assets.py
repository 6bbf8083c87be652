"""The standardized DawsOS tables (group `tables`): each depends on the migrations that change it and carries
its column schema and the lineage of every column back to its legacy name.
"""

from __future__ import annotations

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.migrations.assets import migration_key, migrations_touching
from dawsos_assets.migrations.files import load_all
from dawsos_assets.tables.catalog import TABLE_DESCRIPTIONS
from dawsos_assets.tables.contracts import CONTRACTS
from dawsos_assets.tables.legacy_assets import (
    DATABASE_POOL,
    LEGACY_TABLES,
    legacy_key,
    observed_schema,
    table_fingerprint,
)
from dawsos_assets.tables.standards import RENAMES

TABLES_GROUP = "tables"
MIGRATED_TABLES = {table for migration in load_all() for table in migration.touches}
STANDARD_TABLES = sorted(MIGRATED_TABLES | set(CONTRACTS))
LEGACY_NAME = {(r.table, r.standard): r.legacy for r in RENAMES}


def table_key(table: str) -> dg.AssetKey:
    """Asset key of a standard table."""
    return dg.AssetKey(table)


def column_lineage(table: str, columns: list[str]) -> dg.TableColumnLineage:
    """Each standardized column comes from its legacy name (or the same name) in the legacy table."""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(asset_key=legacy_key(table), column_name=LEGACY_NAME.get((table, column), column))
            ]
            for column in columns
        }
    )


def contract_schema(table: str) -> dg.TableSchema:
    """The contract as the UI shows it: type family, description, nullability, uniqueness and each rule."""
    schema = CONTRACTS[table].to_schema()
    unique = set(schema.unique or []) if len(schema.unique or []) == 1 else set()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                column.metadata["pg"],
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable,
                    unique=name in unique,
                    other=[f"{c.name} {c.statistics}" for c in column.checks],
                ),
            )
            for name, column in schema.columns.items()
        ],
        constraints=dg.TableConstraints(
            other=[f"{c.name} {c.statistics}" for c in schema.checks]
            + ([f"unique ({', '.join(schema.unique)})"] if schema.unique else [])
        ),
    )


def build_table_asset(table: str) -> dg.AssetsDefinition:
    """The asset of one standard table: its contract schema, the migrations that change it and its lineage."""
    migrations = migrations_touching(table)
    legacy = table in LEGACY_TABLES
    metadata = {
        "dagster/table_name": f"public.{table}",
        "changed_by_migrations": dg.MetadataValue.json([m.label for m in migrations]),
    }
    if table in CONTRACTS:
        metadata["dagster/column_schema"] = contract_schema(table)

    @dg.asset(
        key=table_key(table),
        group_name=TABLES_GROUP,
        kinds={"postgres"},
        deps=([legacy_key(table)] if legacy else []) + [migration_key(m) for m in migrations],
        description=TABLE_DESCRIPTIONS.get(table, table),
        metadata=metadata,
        pool=DATABASE_POOL,
    )
    def standardized_table(database: PortfolioDatabase) -> dg.MaterializeResult:
        with database.connect() as conn:
            if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)).fetchone()[0]:
                # e.g. migration_history: only where someone applied DawsOS's orphaned migration 019
                return dg.MaterializeResult(
                    metadata={"dagster/row_count": dg.MetadataValue.int(0), "present": dg.MetadataValue.bool(False)}
                )
            schema = observed_schema(conn, table, "public")
            rows, version = table_fingerprint(conn, table, schema)
        result = {
            "dagster/row_count": dg.MetadataValue.int(rows),
            "observed_column_schema": schema,
            "present": dg.MetadataValue.bool(True),
        }
        if legacy:
            result["dagster/column_lineage"] = column_lineage(table, [c.name for c in schema.columns])
        return dg.MaterializeResult(metadata=result, data_version=version)

    return standardized_table


def build_table_assets() -> list[dg.AssetsDefinition]:
    """The assets of every standard table."""
    return [build_table_asset(table) for table in STANDARD_TABLES]
