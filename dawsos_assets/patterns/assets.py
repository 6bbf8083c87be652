"""One asset per pattern (group `patterns`), partitioned by portfolio; outputs stored in analytics.pattern_outputs.

Each materialization carries three blocking checks: the response contract, the UI's dataPaths, and capability
routing. The partitions follow the portfolios table through a sensor.
"""

import json

import dagster as dg

from dawsos_assets.database.legacy import SQL_DIR
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.patterns.engine import PatternEngine
from dawsos_assets.patterns.loader import Pattern, load_all
from dawsos_assets.patterns.registry import default_registry
from dawsos_assets.patterns.responses import response_failures
from dawsos_assets.patterns.ui_registry import unresolved
from dawsos_assets.tables.table_assets import table_key

PATTERNS_GROUP = "patterns"
PORTFOLIOS = dg.DynamicPartitionsDefinition(name="portfolios")
RESPONSE_CONTRACT, UI_DATA_PATHS, CAPABILITY_ROUTING = "response_contract", "ui_data_paths", "capability_routing"
# What the capabilities read; a failing blocking check on any of these stops the patterns.
INPUT_TABLES = ["lots", "transactions", "portfolios", "securities", "prices", "fx_rates", "pricing_packs",
                "portfolio_daily_values", "position_factor_betas", "scenario_shocks", "macro_indicators",
                "regime_history", "cycle_phases", "fundamentals", "news_items", "corporate_actions"]
STORE_SQL = """
INSERT INTO analytics.pattern_outputs (pattern, portfolio_id, pricing_pack_id, asof_date, result, trace, run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (pattern, portfolio_id, pricing_pack_id)
DO UPDATE SET result = EXCLUDED.result, trace = EXCLUDED.trace, run_id = EXCLUDED.run_id, computed_at = NOW()
"""


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
        registry = default_registry()
        unrouted = []
        for step in pattern.steps:
            try:
                registry.resolve(step["capability"])
            except Exception:
                unrouted.append(step["capability"])
        inputs = {"portfolio_id": context.partition_key} if "portfolio_id" in pattern.inputs else {}
        with database.connect() as conn:
            conn.execute((SQL_DIR / "analytics" / "pattern_outputs.sql").read_text())
            result = PatternEngine(registry).run(conn, pattern, inputs)
            trace = [vars(t) for t in result.trace]
            conn.execute(STORE_SQL, (pattern.id, context.partition_key, result.context.pricing_pack_id,
                                     result.context.asof_date, json.dumps(result.data, default=str),
                                     json.dumps(trace, default=str), context.run_id))
            conn.commit()
        contract, paths = response_failures(pattern.id, result.data), unresolved(pattern.id, result.data)
        preview = json.dumps(result.data, default=str, indent=1)
        report = (result.data.get("pdf_result") or {}).get("path")
        return dg.MaterializeResult(
            metadata={**({"report_path": dg.MetadataValue.path(report)} if report else {}),
                      "pricing_pack_id": result.context.pricing_pack_id, "duration_ms": round(result.duration_ms, 1),
                      "warnings": dg.MetadataValue.json(result.warnings),
                      "trace": dg.MetadataValue.json([{"step": t["step"], "ms": round(t["duration_ms"], 2),
                                                       "skipped": t["skipped"]} for t in trace]),
                      "preview": dg.MetadataValue.md(f"```json\n{preview[:4000]}\n```")},
            check_results=[
                dg.AssetCheckResult(check_name=RESPONSE_CONTRACT, passed=not contract,
                                    metadata={"failures": dg.MetadataValue.json(contract)}),
                dg.AssetCheckResult(check_name=UI_DATA_PATHS, passed=not paths,
                                    metadata={"unresolved": dg.MetadataValue.json(paths)}),
                dg.AssetCheckResult(check_name=CAPABILITY_ROUTING, passed=not unrouted,
                                    metadata={"unrouted": dg.MetadataValue.json(unrouted)})])

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
