"""The legacy DawsOS tables as observable source assets: where every lineage edge of the refactor starts."""

from __future__ import annotations

import hashlib

import dagster as dg
from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition
from psycopg import sql

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.catalog import TABLE_DESCRIPTIONS

LEGACY_GROUP = "legacy"
LEGACY_TABLES = [
    "portfolios",
    "securities",
    "pricing_packs",
    "prices",
    "fx_rates",
    "lots",
    "transactions",
    "portfolio_daily_values",
    "portfolio_cash_flows",
    "portfolio_metrics",
    "macro_indicators",
    "regime_history",
    "cycle_phases",
    "position_factor_betas",
    "scenario_shocks",
    "audit_log",
    "rating_rubrics",
    "migration_history",
]
COMPATIBILITY_SCHEMA = "dawsos_legacy"  # views with the old column names, created by migrations 014 and 015
DATABASE_POOL = "portfolio_database"


def legacy_key(table: str) -> dg.AssetKey:
    """Asset key of a table as the legacy application left it (`legacy/<table>`)."""
    return dg.AssetKey(["legacy", table])


def observed_schema(conn, table: str, schema: str = "public") -> dg.TableSchema:
    """The table's columns as the database has them now, as a Dagster table schema."""
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, data_type, constraints=dg.TableColumnConstraints(nullable=nullable == "YES"))
            for name, data_type, nullable in rows
        ]
    )


def table_fingerprint(conn, table: str, schema: dg.TableSchema) -> tuple[int, dg.DataVersion]:
    """Row count and a data version of public.`table` that changes with every committed write and stays put
    otherwise, from the one scan that counts its rows.

    Every INSERT or UPDATE leaves a row version stamped with its transaction id (xmin), so the sum of xmin over
    the rows moves with any insert or update, and the count with any delete; the column list covers renames and
    type changes, which write no rows. VACUUM and freezing keep xmin, so maintenance leaves the version alone.
    pg_stat_user_tables' n_tup_ins/upd/del would save the scan, but each server process reports them up to
    seconds after its commit: a table materialized right after a write would keep its old version and the
    patterns reading it would wrongly look up to date.
    """
    rows, xmin_sum = conn.execute(
        sql.SQL("SELECT count(*), coalesce(sum(xmin::text::bigint), 0) FROM {}").format(sql.Identifier("public", table))
    ).fetchone()
    columns = ",".join(f"{c.name}:{c.type}" for c in schema.columns)
    digest = hashlib.sha256(f"{rows}|{xmin_sum}|{columns}".encode()).hexdigest()[:24]
    return rows, dg.DataVersion(digest)


def in_pool(observation: AssetsDefinition, pool: str) -> AssetsDefinition:
    """The same observation with its op in `pool`: multi_observable_source_asset takes no pool argument
    (dagster 1.13), and an observation that queries the database must count against the pool's limit.
    """
    op = observation.op
    pooled = dg.OpDefinition.dagster_internal_init(
        compute_fn=op.compute_fn,
        name=op.name,
        ins={i.name: dg.In.from_definition(i) for i in op.input_defs},
        outs={o.name: dg.Out.from_definition(o) for o in op.output_defs},
        description=op.description,
        config_schema=op.config_schema,
        required_resource_keys=op.required_resource_keys,
        tags=op.tags,
        version=None,
        retry_policy=op.retry_policy,
        code_version=op.version,
        pool=pool,
    )
    return AssetsDefinition.dagster_internal_init(**{**observation.get_attributes_dict(), "node_def": pooled})


@dg.multi_observable_source_asset(
    specs=[
        dg.AssetSpec(
            legacy_key(table),
            group_name=LEGACY_GROUP,
            kinds={"postgres"},
            skippable=True,
            description=f"Legacy `{table}` as DawsOS left it. {TABLE_DESCRIPTIONS.get(table, '')}",
            metadata={"dagster/table_name": f"public.{table}"},
        )
        for table in LEGACY_TABLES
    ],
    name="observe_legacy_tables",
)
def _observe_legacy_tables(database: PortfolioDatabase):
    """Row counts and column schemas of the legacy tables. Once a migration has renamed a table's columns, the
    legacy names live on in the dawsos_legacy compatibility view, which is what is observed then. A table this
    database's history never had (or dropped) is not observed.
    """
    with database.connect() as conn:
        relations = {
            (schema, name)
            for schema, name in conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('public', %s)",
                (COMPATIBILITY_SCHEMA,),
            )
        }
        for table in LEGACY_TABLES:
            schema = COMPATIBILITY_SCHEMA if (COMPATIBILITY_SCHEMA, table) in relations else "public"
            if (schema, table) not in relations:
                continue
            columns = observed_schema(conn, table, schema)
            # a compatibility view holds no rows of its own: its data is public.<table>'s
            count, version = table_fingerprint(conn, table, columns)
            yield dg.ObserveResult(
                asset_key=legacy_key(table),
                data_version=version,
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(count),
                    "dagster/column_schema": columns,
                    "observed_relation": f"{schema}.{table}",
                },
            )


observe_legacy_tables = in_pool(_observe_legacy_tables, DATABASE_POOL)
