"""One asset per pattern (group `patterns`), partitioned by portfolio, published by write-audit-publish.

A run covers any number of portfolio partitions (BackfillPolicy.single_run: a backfill of every portfolio is one
run, and each pattern's step loops the engine over them on one connection). For each portfolio the result is
computed, audited with three blocking checks (the response contract, the UI's dataPaths, capability routing) and
only then published to analytics.pattern_outputs, the table the UI reads. A result that fails a check, or that the
engine could not compute for that portfolio, goes to analytics.pattern_rejects instead, with the failures. The
step commits once, after every portfolio: a batch is published whole or not at all.
"""

import contextlib
import hashlib
import json
from dataclasses import dataclass, field

import dagster as dg

from dawsos_assets import errors
from dawsos_assets.database.legacy import SQL_DIR
from dawsos_assets.database.resource import DATABASE_RETRY, PortfolioDatabase, retry_only_transient
from dawsos_assets.errors import DawsosError
from dawsos_assets.patterns import portfolios
from dawsos_assets.patterns.conventions import conventions_for
from dawsos_assets.patterns.engine import BatchMemo, PatternEngine, PatternResult
from dawsos_assets.patterns.loader import Pattern, load_all
from dawsos_assets.patterns.portfolios import PORTFOLIOS
from dawsos_assets.patterns.registry import default_registry
from dawsos_assets.patterns.responses import responses_failures
from dawsos_assets.patterns.ui_registry import data_path_failures
from dawsos_assets.tables.table_assets import table_key

PATTERNS_GROUP = "patterns"
OWNERS = ["team:portfolio-analytics"]
RESPONSE_CONTRACT, UI_DATA_PATHS, CAPABILITY_ROUTING = "response_contract", "ui_data_paths", "capability_routing"
CHECK_RULES = {
    RESPONSE_CONTRACT: "Every table (list of rows) in the output has a contract in patterns/responses.py and meets it "
    "(types, ranges, allowed values, weights summing to 1); no legacy field name appears anywhere.",
    UI_DATA_PATHS: "Each dataPath a DawsOS panel reads resolves to the JSON type it renders, with the fields it reads; "
    "it is empty only where the registry calls that normal or the trace explains it.",
    CAPABILITY_ROUTING: "Every capability of the pattern is registered by an agent (directly or through the plan's "
    "consolidation map); a pattern with a refused capability is not run.",
}
SAMPLE_PORTFOLIOS = 20  # failing portfolios listed in a check's metadata
PREVIEW_CHARS, PREVIEW_ITEMS, PREVIEW_LEVELS = 4000, 3, 4  # a partition's result preview: size, items per list, depth
PUBLISH_SQL = """
INSERT INTO analytics.pattern_outputs (pattern, portfolio_id, pricing_pack_id, asof_date, result, trace, run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (pattern, portfolio_id, pricing_pack_id)
DO UPDATE SET result = EXCLUDED.result, trace = EXCLUDED.trace, run_id = EXCLUDED.run_id, computed_at = NOW()
"""
REJECT_SQL = """
INSERT INTO analytics.pattern_rejects
       (pattern, portfolio_id, pricing_pack_id, asof_date, result, trace, failures, run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
"""
NOT_EVALUATED = "not evaluated: the engine refused to run the pattern"


@dataclass
class Outcome:
    """One portfolio's result and its audit: check name -> failures (an empty list passes)."""

    portfolio_id: str
    result: PatternResult | None
    failures: dict[str, list[str]] = field(default_factory=dict)
    stored_in: str = ""

    @property
    def passed(self) -> bool:
        """True when no audit found a failure."""
        return not any(self.failures.values())


def audit(pattern: Pattern, outcomes: list[Outcome], refused: list[str]) -> None:
    """Fill in each outcome's failures; the response contracts are validated for all outcomes at once."""
    computed = [o for o in outcomes if o.result is not None]
    contracts = responses_failures(pattern.id, [o.result.data for o in computed])
    for outcome, contract_failures in zip(computed, contracts, strict=True):
        outcome.failures = {
            RESPONSE_CONTRACT: contract_failures,
            UI_DATA_PATHS: data_path_failures(pattern.id, outcome.result.data, outcome.result.explained_steps),
            CAPABILITY_ROUTING: refused,
        }
    for outcome in (o for o in outcomes if o.result is None):
        reason = outcome.failures.pop("engine", [NOT_EVALUATED])
        outcome.failures = {RESPONSE_CONTRACT: reason, UI_DATA_PATHS: reason, CAPABILITY_ROUTING: refused}


def check_results(outcomes: dict[str, Outcome]) -> list[dg.AssetCheckResult]:
    """One result per check for the whole batch: it passes when every portfolio passed it."""
    results = []
    for name in (RESPONSE_CONTRACT, UI_DATA_PATHS, CAPABILITY_ROUTING):
        failing = {key: o.failures[name] for key, o in outcomes.items() if o.failures[name]}
        metadata = {
            "portfolios": dg.MetadataValue.int(len(outcomes)),
            "failing_portfolios": dg.MetadataValue.int(len(failing)),
        }
        if name == CAPABILITY_ROUTING:
            metadata["refused"] = dg.MetadataValue.json(next(iter(failing.values()), []))
        else:
            metadata["failures"] = dg.MetadataValue.json(dict(list(failing.items())[:SAMPLE_PORTFOLIOS]))
        results.append(
            dg.AssetCheckResult(
                check_name=name,
                passed=not failing,
                metadata=metadata,
                description=f"{len(failing)} of {len(outcomes)} portfolio(s) failing",
            )
        )
    return results


def _store(conn, pattern: Pattern, outcome: Outcome, run_id: str) -> str:
    """Publish a result that passed every check; keep anything else aside. Returns where it went."""
    result = outcome.result
    context = result.context if result else None
    row = (
        pattern.id,
        outcome.portfolio_id,
        context and context.pricing_pack_id,
        context and context.asof_date,
        result and json.dumps(result.data, default=str),
        result and json.dumps([vars(t) for t in result.trace], default=str),
    )
    if outcome.passed:
        conn.execute(PUBLISH_SQL, (*row, run_id))
        return "analytics.pattern_outputs"
    rejected = conn.execute(REJECT_SQL, (*row, json.dumps(outcome.failures), run_id)).fetchone()[0]
    return f"analytics.pattern_rejects id {rejected}"


def _abridged(value, levels: int):
    """The value's shape: lists cut to their first PREVIEW_ITEMS items, dicts below `levels` levels summarized."""
    if isinstance(value, dict):
        return {k: _abridged(v, levels - 1) for k, v in value.items()} if levels > 0 else f"{{{len(value)} keys}}"
    if isinstance(value, list):
        shown = [_abridged(v, levels - 1) for v in value[:PREVIEW_ITEMS]]
        return shown + [f"… {len(value) - PREVIEW_ITEMS} more"] if len(value) > PREVIEW_ITEMS else shown
    return value


def _preview(data: dict) -> str:
    """The result's shape as JSON of at most PREVIEW_CHARS, nested as deep as fits. Dumping whole results (NAV
    histories, return series) for each portfolio only to show a few thousand characters cost more than computing
    them, and a cut-off dump is not JSON any more.
    """
    for levels in range(PREVIEW_LEVELS, 0, -1):
        text = json.dumps(_abridged(data, levels), default=str, indent=1, ensure_ascii=False)
        if len(text) <= PREVIEW_CHARS:
            return text
    return json.dumps({key: type(value).__name__ for key, value in data.items()}, indent=1)


def _metadata(outcome: Outcome) -> dict:
    result = outcome.result
    metadata = {
        "portfolio_id": outcome.portfolio_id,
        "published": outcome.stored_in == "analytics.pattern_outputs",
        "stored_in": outcome.stored_in,
    }
    if result is None:
        return metadata
    report = (result.data.get("pdf_result") or {}).get("path")
    return {
        **metadata,
        **({"report_path": dg.MetadataValue.path(report)} if report else {}),
        "pricing_pack_id": result.context.pricing_pack_id,
        "duration_ms": round(result.duration_ms, 1),
        "warnings": dg.MetadataValue.json(result.warnings),
        "trace": dg.MetadataValue.json(
            [{"step": t.step, "ms": round(t.duration_ms, 2), "skipped": t.skipped} for t in result.trace]
        ),
        "preview": dg.MetadataValue.md(f"```json\n{_preview(result.data)}\n```"),
    }


def _compute(
    conn, engine: PatternEngine, pattern: Pattern, portfolio_id: str, refused: list[str], memo: BatchMemo
) -> Outcome:
    """One portfolio's result. A step failing for this portfolio (its data) rejects this result only; an error
    that concerns the whole database (not migrated, no pricing pack) stops the batch.
    """
    if refused:
        return Outcome(portfolio_id, None)
    inputs = {"portfolio_id": portfolio_id} if "portfolio_id" in pattern.inputs else {}
    try:
        return Outcome(portfolio_id, engine.run(conn, pattern, inputs, memo))
    except DawsosError as exc:
        if exc.code != errors.PATTERN_EXECUTION_FAILED:
            raise
        return Outcome(portfolio_id, None, {"engine": [exc.one_line()]})


def ensure_output_tables(conn) -> None:
    """Create the output tables if missing. Two runs doing it at once would collide in PostgreSQL's catalog (CREATE
    TABLE IF NOT EXISTS is not safe concurrently: the second fails on pg_type's unique index), so the first creator
    holds a transaction lock and the others find the tables once it commits.
    """
    if conn.execute("SELECT to_regclass('analytics.pattern_rejects')").fetchone()[0] is None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('dawsos:pattern_outputs'))")
        conn.execute((SQL_DIR / "analytics" / "pattern_outputs.sql").read_text())


def run_batch(
    conn, engine: PatternEngine, pattern: Pattern, portfolio_ids: dict[str, str], run_id: str
) -> dict[str, Outcome]:
    """Compute, audit and store the pattern for every portfolio (partition key -> id); commit once."""
    ensure_output_tables(conn)
    refused = engine.refused(pattern)
    memo = BatchMemo()
    outcomes = {key: _compute(conn, engine, pattern, pid, refused, memo) for key, pid in portfolio_ids.items()}
    audit(pattern, list(outcomes.values()), refused)
    for outcome in outcomes.values():
        outcome.stored_in = _store(conn, pattern, outcome, run_id)
    conn.commit()
    return outcomes


def partition_keys_read_once(instance: dg.DagsterInstance):
    """The project's storage (operations/storage.py) can pin the portfolio keys while a step adds each partition's
    metadata; any other storage is asked each time, as Dagster does.
    """
    pin = getattr(instance.event_log_storage, "dynamic_partitions_pinned", None)
    return pin() if pin else contextlib.nullcontext()


def pattern_key(pattern_id: str) -> dg.AssetKey:
    """Asset key of a pattern's stored output (`patterns/<id>`)."""
    return dg.AssetKey(["patterns", pattern_id])


def code_version(pattern: Pattern) -> str:
    """The pattern file is the pattern's code: a changed file marks every partition as needing a new run."""
    return hashlib.sha256(pattern.path.read_bytes()).hexdigest()[:16]


# Patterns follow their tables: when a table they read has new data (a new data version, not merely a new
# materialization) or a portfolio is new, once every blocking check on those tables passed. Never while a table
# is missing or being written.
FOLLOW_TABLES = (
    (
        dg.AutomationCondition.newly_missing()
        | dg.AutomationCondition.any_deps_match(dg.AutomationCondition.data_version_changed())
        | dg.AutomationCondition.code_version_changed()
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("follow tables once their blocking checks passed")


def build_pattern_asset(pattern: Pattern, engine: PatternEngine | None = None) -> dg.AssetsDefinition:
    """The partitioned asset that runs one pattern per portfolio, stores its output and audits it."""
    engine = engine or PatternEngine(default_registry())
    key = pattern_key(pattern.id)
    specs = [
        dg.AssetCheckSpec(name, asset=key, blocking=True, description=rules) for name, rules in CHECK_RULES.items()
    ]

    @dg.asset(
        key=key,
        group_name=PATTERNS_GROUP,
        partitions_def=PORTFOLIOS,
        kinds={"python", "postgres"},
        deps=[table_key(t) for t in engine.reads(pattern)],
        check_specs=specs,
        pool="portfolio_database",
        backfill_policy=dg.BackfillPolicy.single_run(),
        code_version=code_version(pattern),
        owners=OWNERS,
        tags={"domain": "patterns", "category": pattern.category},
        retry_policy=DATABASE_RETRY,
        automation_condition=FOLLOW_TABLES,
        metadata={"pattern_file": dg.MetadataValue.path(f"dawsos_assets/patterns/definitions/{pattern.path.name}")},
        description=f"{pattern.name} (v{pattern.version}, {pattern.category}): "
        f"{', '.join(s['capability'] for s in pattern.steps)}.",
    )
    @retry_only_transient
    def pattern_output(context: dg.AssetExecutionContext, database: PortfolioDatabase) -> dg.MaterializeResult:
        with database.connect() as conn:
            outcomes = run_batch(
                conn, engine, pattern, portfolios.resolve(conn, context.partition_keys), context.run_id
            )
        with partition_keys_read_once(context.instance):
            for partition, outcome in outcomes.items():
                context.add_asset_metadata(_metadata(outcome), partition_key=partition)
        published = sum(o.passed for o in outcomes.values())
        context.log.info(f"{pattern.id}: {published} of {len(outcomes)} portfolio(s) published")
        return dg.MaterializeResult(
            metadata={"conventions": dg.MetadataValue.json(conventions_for(pattern, engine.registry))},
            check_results=check_results(outcomes),
        )

    return pattern_output


def build_pattern_assets() -> list[dg.AssetsDefinition]:
    """The assets of every pattern file, sharing one engine."""
    engine = PatternEngine(default_registry())
    return [build_pattern_asset(p, engine) for p in load_all().values()]


@dg.sensor(name="portfolio_partitions", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def portfolio_partitions(context: dg.SensorEvaluationContext, database: PortfolioDatabase) -> dg.SensorResult:
    """Keeps the pattern partitions in step with the portfolios table: one partition per portfolio, named after it."""
    with database.connect() as conn:
        current = set(portfolios.portfolio_keys(conn))
    known = set(context.instance.get_dynamic_partitions(PORTFOLIOS.name))
    requests = []
    if current - known:
        requests.append(PORTFOLIOS.build_add_request(sorted(current - known)))
    if known - current:
        requests.append(PORTFOLIOS.build_delete_request(sorted(known - current)))
    return dg.SensorResult(dynamic_partitions_requests=requests)
