"""Great Expectations 1.x suites generated from the contracts, and the weekly data-quality report.

`expectations/` is the GX file context root; `dawsos expectations build` writes one suite per table there and
the suites are committed (a test fails when they drift from the contracts). Validation runs in-database through
GX's PostgreSQL data source in a file context under DAWSOS_HOME (data_docs.gx_root()), kept between runs so the
validation history stays, and never in the repository.
GX is the report and the Data Docs; the blocking gate is the project's own checks (GX's SQL path is ~6-9x
slower, measured on 1M and 10M rows with the same rules).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from dawsos_assets.tables.checks import TABLE_RULES, WARN, compile_rules
from dawsos_assets.tables.contracts import CONTRACTS
from dawsos_assets.tables.data_docs import gx_root, localize
from dawsos_assets.tables.standards import FOREIGN_KEYS

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
SUITE_PREFIX = "dawsos_"


def _great_expectations():
    """GX with its usage analytics off (they would call GX's servers), unless the environment says otherwise;
    imported on first use, so importing this module changes no environment.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations

    return great_expectations


def suite_name(table: str) -> str:
    """Name of the expectation suite of `table`."""
    return f"{SUITE_PREFIX}{table}"


def _column_expectations(gxe, name: str, column) -> list:
    out = []
    if not column.nullable:
        out.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
    for check in column.checks:
        s = check.statistics
        match check.name:
            case "greater_than" | "greater_than_or_equal_to":
                out.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=name, min_value=s["min_value"], strict_min=check.name == "greater_than"
                    )
                )
            case "less_than" | "less_than_or_equal_to":
                out.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=name, max_value=s["max_value"], strict_max=check.name == "less_than"
                    )
                )
            case "in_range":
                out.append(
                    gxe.ExpectColumnValuesToBeBetween(column=name, min_value=s["min_value"], max_value=s["max_value"])
                )
            case "isin":
                out.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=list(s["allowed_values"])))
            case "str_length":
                out.append(
                    gxe.ExpectColumnValueLengthsToBeBetween(
                        column=name, min_value=s.get("min_value"), max_value=s.get("max_value")
                    )
                )
            case "str_matches":
                pattern = s["pattern"].pattern if hasattr(s["pattern"], "pattern") else s["pattern"]
                out.append(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=pattern))
    return out


def suite_for(table: str):
    """The contract of `table` as a GX ExpectationSuite (same rules, same severities)."""
    gx = _great_expectations()
    import great_expectations.expectations as gxe

    schema = CONTRACTS[table].to_schema()
    expectations = [gxe.ExpectTableColumnsToMatchSet(column_set=list(schema.columns), exact_match=True)]
    for name, column in schema.columns.items():
        expectations += _column_expectations(gxe, name, column)
    rules = compile_rules(CONTRACTS[table], table, list(schema.columns))
    for rule in rules:
        if rule.label.split("(")[0] in TABLE_RULES:
            expectation = gxe.UnexpectedRowsExpectation(
                unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE {rule.violation}",  # noqa: S608 — predicates compiled from the contract registry
                description=rule.label,
            )
            if rule.severity == WARN:
                expectation.severity = "warning"
            expectations.append(expectation)
    if schema.unique:
        expectations.append(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(schema.unique))
            if len(schema.unique) > 1
            else gxe.ExpectColumnValuesToBeUnique(column=schema.unique[0])
        )
    for fk in (fk for fk in FOREIGN_KEYS if fk.table == table):
        # GX puts its own alias after {batch}, so the anti-join is written without one (NOT IN is exact here:
        # the parent key is never NULL).
        expectations.append(
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query=f'SELECT * FROM {{batch}} WHERE "{fk.column}" IS NOT NULL '  # noqa: S608 — table and key columns come from the contract registry
                f'AND "{fk.column}" NOT IN '
                f'(SELECT "{fk.parent_column}" FROM public."{fk.parent}")',
                description=f"{fk.column} references {fk.parent}.{fk.parent_column}",
            )
        )
    return gx.ExpectationSuite(
        name=suite_name(table),
        expectations=expectations,
        meta={"generated_from": f"dawsos_assets.tables.contracts.{CONTRACTS[table].__name__}"},
    )


def comparable(suite_json: dict) -> list[dict]:
    """A suite's expectations without the ids GX assigns, for drift comparison."""
    return [{k: v for k, v in e.items() if k not in ("id", "rendered_content")} for e in suite_json["expectations"]]


def build_suites(root: Path = EXPECTATIONS_DIR) -> list[Path]:
    """(Re)write every suite into the GX file context at `root`."""
    gx = _great_expectations()

    context = gx.get_context(mode="file", context_root_dir=str(root))
    written = []
    for table in CONTRACTS:
        context.suites.add_or_update(suite_for(table))
        written.append(root / "expectations" / f"{suite_name(table)}.json")
    return written


def committed_suite(table: str, root: Path = EXPECTATIONS_DIR) -> dict:
    """The suite of `table` as committed under expectations/."""
    return json.loads((root / "expectations" / f"{suite_name(table)}.json").read_text())


def _forget_configuration(root: Path) -> None:
    """Drop the previous run's suites, validation definitions and checkpoint (rebuilt below from the committed
    suites, which may have changed); the validation results and their Data Docs stay.
    """
    for folder in ("checkpoints", "validation_definitions", "expectations"):
        shutil.rmtree(root / "gx" / folder, ignore_errors=True)


def validate_in_database(url: str, tables: list[str] | None = None) -> dict:
    """Run the committed suites against PostgreSQL in the kept context and add this run to its Data Docs."""
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from sqlalchemy.engine import make_url

    root = gx_root()
    root.mkdir(parents=True, exist_ok=True)
    _forget_configuration(root)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    os.environ["DAWSOS_GX_CONNECTION"] = (
        make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    )
    source = context.data_sources.add_or_update_postgres(name="dawsos", connection_string="${DAWSOS_GX_CONNECTION}")
    results = {}
    definitions = []
    for table in tables or list(CONTRACTS):
        suite = context.suites.add(_suite_from_json(committed_suite(table)))
        batch = source.add_table_asset(
            name=table, table_name=table, schema_name="public"
        ).add_batch_definition_whole_table("all")
        definitions.append(
            context.validation_definitions.add(gx.ValidationDefinition(name=table, data=batch, suite=suite))
        )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="dawsos_weekly",
            validation_definitions=definitions,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "SUMMARY"},
        )
    )
    run = checkpoint.run()
    for result in run.run_results.values():
        table = result.suite_name.removeprefix(SUITE_PREFIX)
        failed = [
            r.expectation_config.type + (f" {r.expectation_config.kwargs.get('column', '')}" or "")
            for r in result.results
            if not r.success
        ]
        results[table] = {
            "success": result.success,
            "success_percent": result.statistics["success_percent"],
            "evaluated": result.statistics["evaluated_expectations"],
            "failed": failed,
        }
    docs = context.get_docs_sites_urls()
    site = Path(docs[0]["site_url"].removeprefix("file://")).parent if docs else None
    if site:
        localize(site)
    stored = len(list((Path(context.root_directory) / "uncommitted" / "validations").rglob("*.json")))
    return {
        "suites": results,
        "data_docs": docs[0]["site_url"] if docs else None,
        "data_docs_site": str(site) if site else None,
        "validation_results_kept": stored,
    }


def _suite_from_json(data: dict):
    gx = _great_expectations()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    configurations = [
        ExpectationConfiguration(
            type=e["type"],
            kwargs=e["kwargs"],
            meta=e.get("meta"),
            description=e.get("description"),
            severity=e.get("severity", "critical"),
        )
        for e in data["expectations"]
    ]
    return gx.ExpectationSuite(
        name=data["name"], expectations=[c.to_domain_obj() for c in configurations], meta=data.get("meta")
    )
