"""The data-quality report (Great Expectations Data Docs) and the plan's success metrics as assets.

Neither is in the blocking path: the report documents, the table checks gate.
"""

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.checks import run_all_checks
from dawsos_assets.tables.contracts import CONTRACTS
from dawsos_assets.tables.data_docs import data_docs_url
from dawsos_assets.tables.expectations import validate_in_database
from dawsos_assets.tables.inspect_standard import field_name_consistency, foreign_key_coverage
from dawsos_assets.tables.table_assets import table_key

QUALITY_GROUP = "quality"


@dg.asset(
    group_name=QUALITY_GROUP,
    kinds={"great_expectations", "postgres"},
    deps=[table_key(t) for t in CONTRACTS],
    pool="portfolio_database",
)
def data_quality_report(context: dg.AssetExecutionContext, database: PortfolioDatabase) -> dg.MaterializeResult:
    """Every table validated against its Great Expectations suite inside PostgreSQL, with Data Docs to browse
    the results: the weekly report for people who do not read check logs. Every run's results are kept, so the
    Data Docs list the history.
    """
    report = validate_in_database(database.resolved_url())
    suites = report["suites"]
    lines = ["| table | success % | failed expectations |", "|---|---|---|"]
    lines += [f"| {t} | {r['success_percent']:.1f} | {', '.join(r['failed']) or '-'} |" for t, r in suites.items()]
    metadata = {
        "suites": dg.MetadataValue.int(len(suites)),
        "suites_fully_passing": dg.MetadataValue.int(sum(r["success"] for r in suites.values())),
        "results": dg.MetadataValue.md("\n".join(lines)),
    }
    if report["data_docs"]:  # over http from `dawsos ui`; the files themselves for a browser on this machine
        metadata["data_docs"] = dg.MetadataValue.url(data_docs_url())
        metadata["data_docs_files"] = dg.MetadataValue.path(report["data_docs_site"])
    metadata["validation_results_kept"] = dg.MetadataValue.int(report["validation_results_kept"])
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=QUALITY_GROUP, kinds={"postgres"}, deps=[table_key(t) for t in CONTRACTS], pool="portfolio_database"
)
def refactoring_success_metrics(database: PortfolioDatabase) -> dg.MaterializeResult:
    """The plan's success metrics, recorded at every materialization so the UI plots them over time:
    field-name consistency, foreign-key coverage, orphaned rows and the check pass rate.
    """
    with database.connect() as conn:
        outcomes = run_all_checks(conn)
        consistency = field_name_consistency(conn)
        coverage = foreign_key_coverage(conn)
    orphans = sum(o.failing_count for o in outcomes if o.check.startswith("fk_"))
    passed = sum(o.passed for o in outcomes)
    return dg.MaterializeResult(
        metadata={
            "field_name_consistency_pct": dg.MetadataValue.float(round(consistency, 2)),
            "fk_coverage_pct": dg.MetadataValue.float(round(coverage, 2)),
            "orphan_count": dg.MetadataValue.int(orphans),
            "check_pass_rate_pct": dg.MetadataValue.float(round(100 * passed / len(outcomes), 2)),
            "checks": dg.MetadataValue.int(len(outcomes)),
        }
    )
