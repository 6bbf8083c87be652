"""One asset per pattern (group `patterns`), partitioned by portfolio, published by write-audit-publish.

Each materialization computes the result, audits it with three blocking checks (the response contract, the UI's
dataPaths, capability routing) and only then publishes it to analytics.pattern_outputs, the table the UI reads.
A result that fails a check, or a pattern the engine refuses to run, goes to analytics.pattern_rejects instead,
with the failures, for inspection. The partitions follow the portfolios table through a sensor.
"""

import json
from dataclasses import dataclass

import dagster as dg

from dawsos_assets.database.legacy import SQL_DIR
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.patterns.conventions import conventions_for
from dawsos_assets.patterns.engine import PatternEngine, PatternResult
from dawsos_assets.patterns.loader import Pattern, load_all
from dawsos_assets.patterns.registry import default_registry
from dawsos_assets.patterns.responses import response_failures
from dawsos_assets.patterns.ui_registry import data_path_failures
from dawsos_assets.tables.table_assets import table_key

PATTERNS_GROUP = "patterns"
PORTFOLIOS = dg.DynamicPartitionsDefinition(name="portfolios")
RESPONSE_CONTRACT, UI_DATA_PATHS, CAPABILITY_ROUTING = "response_contract", "ui_data_paths", "capability_routing"
# What the capabilities read; a failing blocking check on any of these stops the patterns.
INPUT_TABLES = ["lots", "transactions", "portfolios", "securities", "prices", "fx_rates", "pricing_packs",
                "portfolio_daily_values", "position_factor_betas", "scenario_shocks", "macro_indicators",
                "regime_history", "cycle_phases", "fundamentals", "news_items", "corporate_actions"]
PUBLISH_SQL = """
INSERT INTO analytics.pattern_outputs (pattern, portfolio_id, pricing_pack_id, asof_date, result, trace, run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (pattern, portfolio_id, pricing_pack_id)
DO UPDATE SET result = EXCLUDED.result, trace = EXCLUDED.trace, run_id = EXCLUDED.run_id, computed_at = NOW()
"""
REJECT_SQL = """
INSERT INTO analytics.pattern_rejects (pattern, portfolio_id, pricing_pack_id, asof_date, result, trace, failures, run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
"""
NOT_EVALUATED = "not evaluated: the engine refused to run the pattern"


@dataclass(frozen=True)
class Audit:
    """The three blocking checks of one result: check name -> failures (an empty list passes)."""

    failures: dict[str, list[str]]

    @property
    def passed(self) -> bool:
        return not any(self.failures.values())

    def check_results(self) -> list[dg.AssetCheckResult]:
        return [dg.AssetCheckResult(check_name=name, passed=not failures,
                                    metadata={"refused" if name == CAPABILITY_ROUTING else "failures":
                                              dg.MetadataValue.json(failures)})
                for name, failures in self.failures.items()]


def audit(pattern: Pattern, result: PatternResult | None, refused: list[str]) -> Audit:
    if result is None:
        return Audit({RESPONSE_CONTRACT: [NOT_EVALUATED], UI_DATA_PATHS: [NOT_EVALUATED], CAPABILITY_ROUTING: refused})
    return Audit({RESPONSE_CONTRACT: response_failures(pattern.id, result.data),
                  UI_DATA_PATHS: data_path_failures(pattern.id, result.data, result.explained_steps),
                  CAPABILITY_ROUTING: refused})


def _store(conn, pattern: Pattern, portfolio_id: str, result: PatternResult | None, checks: Audit, run_id: str) -> str:
    """Publish a result that passed every check; keep anything else aside. Returns where it went."""
    context = result.context if result else None
    row = (pattern.id, portfolio_id, context and context.pricing_pack_id, context and context.asof_date,
           result and json.dumps(result.data, default=str),
           result and json.dumps([vars(t) for t in result.trace], default=str))
    if checks.passed:
        conn.execute(PUBLISH_SQL, (*row, run_id))
        return "analytics.pattern_outputs"
    rejected = conn.execute(REJECT_SQL, (*row, json.dumps(checks.failures), run_id)).fetchone()[0]
    return f"analytics.pattern_rejects id {rejected}"


def _metadata(result: PatternResult | None, stored_in: str, conventions: dict[str, str]) -> dict:
    metadata = {"published": stored_in == "analytics.pattern_outputs", "stored_in": stored_in,
                "conventions": dg.MetadataValue.json(conventions)}
    if result is None:
        return metadata
    preview = json.dumps(result.data, default=str, indent=1)
    report = (result.data.get("pdf_result") or {}).get("path")
    return {**metadata, **({"report_path": dg.MetadataValue.path(report)} if report else {}),
            "pricing_pack_id": result.context.pricing_pack_id, "duration_ms": round(result.duration_ms, 1),
            "warnings": dg.MetadataValue.json(result.warnings),
            "trace": dg.MetadataValue.json([{"step": t.step, "ms": round(t.duration_ms, 2), "skipped": t.skipped}
                                            for t in result.trace]),
            "preview": dg.MetadataValue.md(f"```json\n{preview[:4000]}\n```")}


def pattern_key(pattern_id: str) -> dg.AssetKey:
    return dg.AssetKey(["patterns", pattern_id])


def build_pattern_asset(pattern: Pattern) -> dg.AssetsDefinition:
    key = pattern_key(pattern.id)
    specs = [dg.AssetCheckSpec(name, asset=key, blocking=True) for name in (RESPONSE_CONTRACT, UI_DATA_PATHS, CAPABILITY_ROUTING)]

    @dg.asset(key=key, group_name=PATTERNS_GROUP, partitions_def=PORTFOLIOS, kinds={"python", "postgres"},
              deps=[table_key(t) for t in INPUT_TABLES], check_specs=specs, pool="portfolio_database",
              description=f"{pattern.name} (v{pattern.version}, {pattern.category}): "
                          f"{', '.join(s['capability'] for s in pattern.steps)}.")
    def pattern_output(context: dg.AssetExecutionContext, database: PortfolioDatabase) -> dg.MaterializeResult:
        engine = PatternEngine(default_registry())
        refused = engine.refused(pattern)
        inputs = {"portfolio_id": context.partition_key} if "portfolio_id" in pattern.inputs else {}
        with database.connect() as conn:
            conn.execute((SQL_DIR / "analytics" / "pattern_outputs.sql").read_text())
            result = None if refused else engine.run(conn, pattern, inputs)
            checks = audit(pattern, result, refused)
            stored_in = _store(conn, pattern, context.partition_key, result, checks, context.run_id)
            conn.commit()
        return dg.MaterializeResult(metadata=_metadata(result, stored_in, conventions_for(pattern, engine.registry)),
                                    check_results=checks.check_results())

    return pattern_output


def build_pattern_assets() -> list[dg.AssetsDefinition]:
    return [build_pattern_asset(p) for p in load_all().values()]


@dg.sensor(name="portfolio_partitions", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def portfolio_partitions(context: dg.SensorEvaluationContext, database: PortfolioDatabase) -> dg.SensorResult:
    """Keeps the pattern partitions in step with the portfolios table."""
    with database.connect() as conn:
        current = {str(r[0]) for r in conn.execute("SELECT id FROM portfolios")}
    known = set(context.instance.get_dynamic_partitions(PORTFOLIOS.name))
    requests = []
    if current - known:
        requests.append(PORTFOLIOS.build_add_request(sorted(current - known)))
    if known - current:
        requests.append(PORTFOLIOS.build_delete_request(sorted(known - current)))
    return dg.SensorResult(dynamic_partitions_requests=requests)
