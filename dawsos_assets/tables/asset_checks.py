"""The check factory (as PUDL does it): every contract and the foreign-key map become Dagster asset checks.

Integrity checks are blocking with ERROR severity, so nothing downstream of a failing table materializes in
the same run; drift (flag conflicts, freshness, row-count jumps) is WARN and never blocks.
"""

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.checks import ERROR, CheckOutcome, check_names, run_table_checks
from dawsos_assets.tables.contracts import CONTRACTS
from dawsos_assets.tables.table_assets import table_key

ROW_COUNT_CHANGE = "row_count_change"
ROW_COUNT_CHANGE_LIMIT = 0.5  # more than +/-50 % between two materializations is worth a look


def _severity(severity: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if severity == ERROR else dg.AssetCheckSeverity.WARN


def _result(table: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    metadata = {"failing_count": dg.MetadataValue.int(outcome.failing_count),
                "detail": dg.MetadataValue.text(outcome.description)}
    if outcome.sample:
        metadata["sample"] = dg.MetadataValue.json(outcome.sample)
    if outcome.failing_rows_sql:
        metadata["failing_rows_sql"] = dg.MetadataValue.md(f"```sql\n{outcome.failing_rows_sql}\n```")
    if outcome.details:
        metadata["details"] = dg.MetadataValue.json(outcome.details)
    return dg.AssetCheckResult(asset_key=table_key(table), check_name=outcome.check, passed=outcome.passed,
                               severity=_severity(outcome.severity), metadata=metadata,
                               description=outcome.description)


def _row_count_change(instance: dg.DagsterInstance, table: str) -> dg.AssetCheckResult:
    records = instance.fetch_materializations(table_key(table), limit=2).records
    counts = [r.asset_materialization.metadata.get("dagster/row_count") for r in records]
    counts = [c.value for c in counts if c is not None]
    if len(counts) < 2 or counts[1] == 0:
        return dg.AssetCheckResult(asset_key=table_key(table), check_name=ROW_COUNT_CHANGE, passed=True,
                                   severity=dg.AssetCheckSeverity.WARN, description="no earlier row count to compare")
    change = (counts[0] - counts[1]) / counts[1]
    return dg.AssetCheckResult(asset_key=table_key(table), check_name=ROW_COUNT_CHANGE,
                               passed=abs(change) <= ROW_COUNT_CHANGE_LIMIT, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"previous": counts[1], "current": counts[0], "change": round(change, 4)},
                               description=f"row count {counts[1]:,} -> {counts[0]:,} ({change:+.1%})")


def build_table_checks(table: str) -> dg.AssetChecksDefinition:
    names = check_names(table)
    specs = [dg.AssetCheckSpec(name, asset=table_key(table), blocking=severity == ERROR,
                               description=f"{table}: {name} ({severity})") for name, severity in names]
    specs.append(dg.AssetCheckSpec(ROW_COUNT_CHANGE, asset=table_key(table), description=f"{table}: row count change (WARN)"))

    @dg.multi_asset_check(specs=specs, name=f"{table}_contract_checks", pool="portfolio_database")
    def contract_checks(context: dg.AssetCheckExecutionContext, database: PortfolioDatabase):
        with database.connect() as conn:
            outcomes = {o.check: o for o in run_table_checks(conn, table)}
        for name, severity in names:
            outcome = outcomes.get(name) or CheckOutcome(table, name, severity, False, 0, "not evaluated: table missing")
            yield _result(table, outcome)
        yield _row_count_change(context.instance, table)

    return contract_checks


def build_all_table_checks() -> list[dg.AssetChecksDefinition]:
    return [build_table_checks(table) for table in CONTRACTS]
