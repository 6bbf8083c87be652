"""The check factory (as PUDL does it): every contract and the foreign-key map become Dagster asset checks.

Integrity checks are blocking with ERROR severity, so nothing downstream of a failing table materializes in
the same run; drift (flag conflicts, freshness, row-count jumps) is WARN and never blocks.
"""

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.checks import ERROR, CheckOutcome, check_descriptions, check_names, run_table_checks
from dawsos_assets.tables.contracts import CONTRACTS
from dawsos_assets.tables.standards import RENAMES
from dawsos_assets.tables.table_assets import contract_schema, table_key

ROW_COUNT_CHANGE = "row_count_change"
ROW_COUNT_CHANGE_LIMIT = 0.5  # more than +/-50 % between two materializations is worth a look


def _severity(severity: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if severity == ERROR else dg.AssetCheckSeverity.WARN


def _value_type(value) -> str:
    return {bool: "boolean", int: "integer", float: "numeric"}.get(type(value), "text")


def rows_table(rows: list[dict], known: dict[str, dg.TableColumn]) -> dg.TableMetadataValue:
    """Rows as a table the UI lays out in columns, each column typed and described by `known`, else by the type
    of its values.
    """
    columns = [
        known.get(name)
        or dg.TableColumn(name, next((_value_type(r[name]) for r in rows if r[name] is not None), "text"))
        for name in rows[0]
    ]
    return dg.MetadataValue.table(records=[dg.TableRecord(row) for row in rows], schema=dg.TableSchema(columns=columns))


def sample_table(table: str, rows: list[dict]) -> dg.TableMetadataValue:
    """Failing rows of `table`, each column typed and described as its contract says (a legacy column name takes
    its standard column's entry).
    """
    contract = {column.name: column for column in contract_schema(table).columns}
    standard = {r.legacy: r.standard for r in RENAMES if r.table == table}
    known = {name: contract.get(name) or contract.get(standard.get(name, "")) for name in rows[0]}
    return rows_table(
        rows, {name: dg.TableColumn(name, c.type, description=c.description) for name, c in known.items() if c}
    )


def _result(table: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    metadata = {
        "failing_count": dg.MetadataValue.int(outcome.failing_count),
        "detail": dg.MetadataValue.text(outcome.description),
    }
    if outcome.sample:
        metadata["sample"] = sample_table(table, outcome.sample)
    if outcome.failing_rows_sql:
        metadata["failing_rows_sql"] = dg.MetadataValue.md(f"```sql\n{outcome.failing_rows_sql}\n```")
    if outcome.details:
        metadata["details"] = dg.MetadataValue.json(outcome.details)
    return dg.AssetCheckResult(
        asset_key=table_key(table),
        check_name=outcome.check,
        passed=outcome.passed,
        severity=_severity(outcome.severity),
        metadata=metadata,
        description=outcome.description,
    )


def _row_count_change(instance: dg.DagsterInstance, table: str) -> dg.AssetCheckResult:
    records = instance.fetch_materializations(table_key(table), limit=2).records
    counts = [r.asset_materialization.metadata.get("dagster/row_count") for r in records]
    counts = [c.value for c in counts if c is not None]
    if len(counts) < 2 or counts[1] == 0:
        return dg.AssetCheckResult(
            asset_key=table_key(table),
            check_name=ROW_COUNT_CHANGE,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="no earlier row count to compare",
        )
    change = (counts[0] - counts[1]) / counts[1]
    return dg.AssetCheckResult(
        asset_key=table_key(table),
        check_name=ROW_COUNT_CHANGE,
        passed=abs(change) <= ROW_COUNT_CHANGE_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"previous": counts[1], "current": counts[0], "change": round(change, 4)},
        description=f"row count {counts[1]:,} -> {counts[0]:,} ({change:+.1%})",
    )


def build_table_checks(table: str) -> dg.AssetChecksDefinition:
    """The checks of one table, each runnable on its own (can_subset): "Execute" on one check in the UI, or a
    selection of checks only, queries just what those checks need and never materializes the table.
    """
    names = check_names(table)
    described = check_descriptions(table)
    specs = [
        dg.AssetCheckSpec(name, asset=table_key(table), blocking=severity == ERROR, description=described[name])
        for name, severity in names
    ]
    specs.append(
        dg.AssetCheckSpec(
            ROW_COUNT_CHANGE,
            asset=table_key(table),
            description=f"Warning only. The row count changes by at most "
            f"{ROW_COUNT_CHANGE_LIMIT:.0%} between two materializations.",
        )
    )

    @dg.multi_asset_check(specs=specs, name=f"{table}_contract_checks", pool="portfolio_database", can_subset=True)
    def contract_checks(context: dg.AssetCheckExecutionContext, database: PortfolioDatabase):
        selected = {key.name for key in context.selected_asset_check_keys}
        contract = selected - {ROW_COUNT_CHANGE}
        if contract:
            with database.connect() as conn:
                outcomes = {o.check: o for o in run_table_checks(conn, table, contract)}
        for name, severity in names:
            if name in contract:
                yield _result(
                    table,
                    outcomes.get(name) or CheckOutcome(table, name, severity, False, 0, "not evaluated: table missing"),
                )
        if ROW_COUNT_CHANGE in selected:
            yield _row_count_change(context.instance, table)

    return contract_checks


def build_all_table_checks() -> list[dg.AssetChecksDefinition]:
    """The asset checks of every table that has a contract."""
    return [build_table_checks(table) for table in CONTRACTS]
