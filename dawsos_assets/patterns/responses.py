"""Response contracts of pattern outputs: every table in an output (a list of rows) is validated with its pandera
model (small frames, in pandas), a table without a contract fails, and no legacy field name may appear anywhere.

An empty table has nothing to validate; whether a panel may be empty is the dataPath rule's business.

The tables of many outputs are validated together, one pandera call per contract and column set: these tables are
a few rows each, and a call costs about 20 ms whatever its size (13 patterns of one portfolio took 0.6 s one table at
a time). Rows are indexed by (table, row), so every failure goes back to the output it came from, and the one rule
over a whole table (weights sum to 1) is computed per table.
"""

from __future__ import annotations

import ast
from collections import defaultdict

import pandas as pd  # noqa: E402
import pandera.pandas as pa  # noqa: E402
from pandera.typing import Series  # noqa: E402

from dawsos_assets.patterns.loader import LEGACY_FIELD_NAMES  # noqa: E402

WEIGHT_TOLERANCE = 1e-9
TABLE_LEVEL = 0
REGIMES = ["EARLY_EXPANSION", "MID_EXPANSION", "LATE_EXPANSION", "EARLY_CONTRACTION", "DEEP_CONTRACTION"]
FACTORS = ["real_rates", "inflation", "credit_spreads", "fx_usd", "equity_market"]


def unit(**kwargs):
    """A share: in [0, 1]."""
    return pa.Field(in_range={"min_value": 0, "max_value": 1}, **kwargs)


class Row(pa.DataFrameModel):
    """Base of the response table contracts: JSON values coerced to the declared types."""

    class Config:
        coerce = True  # JSON numbers and nulls arrive as object columns


class ValuedPosition(Row):
    """A position valued at the pack, as the holding tables show it."""

    security_id: Series[str]
    symbol: Series[str]
    currency: Series[str]
    quantity: Series[float] = pa.Field(gt=0)
    cost_basis: Series[float] = pa.Field(ge=0)
    price: Series[float] = pa.Field(gt=0, nullable=True)
    market_value: Series[float] = pa.Field(ge=0, nullable=True)
    weight: Series[float] = unit(nullable=True)

    @pa.check("weight", error="weights of the valued positions sum to 1")
    def weights_sum_to_one(cls, weight: Series[float]) -> Series[bool]:
        """Pandera check: the weights of each table sum to one."""
        # rows validated together are indexed by (table, row); a frame with a plain index is one table
        table = weight.index.get_level_values(TABLE_LEVEL) if weight.index.nlevels > 1 else [0] * len(weight)
        return (weight.groupby(table).transform("sum") - 1).abs() <= WEIGHT_TOLERANCE


class NavPoint(Row):
    """One point of the NAV history."""

    asof_date: Series[str]
    value: Series[float] = pa.Field(ge=0)


class PositionDelta(Row):
    """One position's value before and after a scenario shock."""

    symbol: Series[str]
    security_id: Series[str]
    base_value: Series[float] = pa.Field(ge=0, nullable=True)
    shocked_value: Series[float] = pa.Field(nullable=True)
    delta_value: Series[float] = pa.Field(nullable=True)
    delta_pct: Series[float] = pa.Field(nullable=True)
    primary_driver: Series[str] = pa.Field(isin=FACTORS, nullable=True)

    @pa.dataframe_check(error="shocked value = base value + delta")
    def shocked_is_base_plus_delta(cls, df: pd.DataFrame) -> pd.Series:
        """Pandera check: the shocked value is the base value plus the delta."""
        return (df["shocked_value"] - df["base_value"] - df["delta_value"]).abs().fillna(0) < 1e-6


class Hedge(Row):
    """A hedge suggestion: the instrument, the strategy and the trade."""

    instrument: Series[str]
    strategy: Series[str]
    instruments: Series[object]
    action: Series[str] = pa.Field(isin=["BUY", "SELL"])
    notional: Series[float] = pa.Field(gt=0)
    cost: Series[float] = pa.Field(ge=0)
    cost_bps: Series[float] = pa.Field(gt=0)
    cost_source: Series[str] = pa.Field(isin=["configured"])
    effectiveness: Series[float] = unit()
    size: Series[float] = pa.Field(gt=0)


class AmplifiedFactor(Row):
    """A factor with its cycle amplification."""

    factor: Series[str]
    amplification_factor: Series[float] = pa.Field(gt=0)


class HeatmapCell(Row):
    """A cell of the factor heatmap: the current and the amplified beta."""

    factor: Series[str]
    current: Series[float]
    amplified: Series[float]


class ScenarioOutcome(Row):
    """The drawdown of one scenario."""

    scenario: Series[str]
    drawdown: Series[float]


class FactorPositioning(Row):
    """A factor's beta and share of the portfolio's variance."""

    factor: Series[str]
    beta: Series[float]
    variance_share: Series[float] = unit(nullable=True)


class RegimeHistoryPoint(Row):
    """One date of the regime history with its confidence and probabilities."""

    asof_date: Series[str]
    regime: Series[str] = pa.Field(isin=REGIMES)
    confidence: Series[float] = unit()
    probabilities: Series[object]


class FactorHistoryPoint(Row):
    """The portfolio's factor betas on one date."""

    asof_date: Series[str]
    betas: Series[object]


class RegimeShift(Row):
    """How much a regime's probability moved."""

    regime: Series[str] = pa.Field(isin=REGIMES)
    change: Series[float] = pa.Field(in_range={"min_value": -1, "max_value": 1})


class AlertSuggestion(Row):
    """An alert preset suggested from a regime trend."""

    alert_type: Series[str]
    trigger_description: Series[str]
    reason: Series[str]
    current_value: Series[float] = unit(nullable=True)
    trend: Series[str] = pa.Field(isin=["up", "down"])
    alert_payload: Series[object]


class NewsImpact(Row):
    """A news item with its sentiment and weighted impact on the portfolio."""

    id: Series[str]
    headline: Series[str]
    source: Series[str]
    published_at: Series[str]
    entities: Series[object]
    sentiment: Series[float] = pa.Field(in_range={"min_value": -1, "max_value": 1})
    impact_score: Series[float] = pa.Field(ge=0)
    weight_affected: Series[float] = pa.Field(gt=0, le=1 + WEIGHT_TOLERANCE)
    weighted_impact: Series[float] = pa.Field(ge=0)


class EntityMention(Row):
    """How many news items mention an entity."""

    entity: Series[str]
    mention_count: Series[int] = pa.Field(ge=1)


class Trade(Row):
    """A proposed trade in whole shares."""

    symbol: Series[str]
    security_id: Series[str]
    action: Series[str] = pa.Field(isin=["BUY", "SELL"])
    quantity: Series[int] = pa.Field(ne=0)
    price: Series[float] = pa.Field(gt=0)
    currency: Series[str]
    fx_rate: Series[float] = pa.Field(gt=0)
    trade_value: Series[float] = pa.Field(gt=0)
    reason: Series[str]
    weight_before: Series[float] = unit()
    weight_after: Series[float] = unit()
    estimated_cost: Series[float] = pa.Field(gt=0)

    @pa.dataframe_check(error="BUY has a positive quantity, SELL a negative one")
    def action_matches_sign(cls, df: pd.DataFrame) -> pd.Series:
        """Pandera check: BUY trades have positive quantities, SELL trades negative ones."""
        return (df["action"] == "BUY") == (df["quantity"] > 0)


class Breach(Row):
    """A position over the single-position weight cap."""

    symbol: Series[str]
    weight: Series[float] = unit()


class ScenarioComparison(Row):
    """One metric of the base portfolio and of each deleveraging scenario."""

    metric: Series[str]
    base: Series[float] = pa.Field(nullable=True)
    money_printing: Series[float] = pa.Field(nullable=True)
    austerity: Series[float] = pa.Field(nullable=True)
    default: Series[float] = pa.Field(nullable=True)


class Recommendation(Row):
    """A recommended strategy and the instruments it trades."""

    strategy_name: Series[str]
    instruments: Series[object]
    change: Series[str]


class Transaction(Row):
    """A transaction of the position's history."""

    transaction_date: Series[str]
    transaction_type: Series[str] = pa.Field(
        isin=["BUY", "SELL", "DIVIDEND", "SPLIT", "TRANSFER_IN", "TRANSFER_OUT", "FEE"]
    )
    quantity: Series[float] = pa.Field(gt=0, nullable=True)
    price: Series[float] = pa.Field(ge=0, nullable=True)
    total_value: Series[float]
    fee: Series[float] = pa.Field(ge=0)
    commission: Series[float] = pa.Field(ge=0)
    currency: Series[str]


class Comparable(Row):
    """A comparable security of the same sector with its valuation figures."""

    security_id: Series[str]
    symbol: Series[str]
    market_cap: Series[float] = pa.Field(ge=0, nullable=True)
    pe_ratio: Series[float] = pa.Field(nullable=True)
    dividend_yield: Series[float] = pa.Field(ge=0, nullable=True)
    price: Series[float] = pa.Field(gt=0, nullable=True)
    currency: Series[str]


class CorporateAction(Row):
    """An upcoming corporate action of a held security."""

    security_id: Series[str]
    symbol: Series[str]
    type: Series[str] = pa.Field(isin=["dividend", "split", "earnings"])
    date: Series[str]
    amount: Series[float] = pa.Field(ge=0, nullable=True)
    split_ratio: Series[float] = pa.Field(gt=0, nullable=True)
    currency: Series[str]


class ActionImpact(CorporateAction):
    """A corporate action with its impact on the portfolio's position."""

    portfolio_quantity: Series[float] = pa.Field(ge=0)
    portfolio_impact: Series[float] = pa.Field(ge=0, nullable=True)
    portfolio_impact_base: Series[float] = pa.Field(ge=0, nullable=True)


SCENARIO_TABLES = ("positions", "position_deltas", "winners", "losers")  # the tables of one stress result
# pattern -> {dotted path of a table in its output: the contract of its rows}
TABLES: dict[str, dict[str, type[Row]]] = {
    "portfolio_overview": {"valued_positions.positions": ValuedPosition, "historical_nav.data": NavPoint},
    "portfolio_scenario_analysis": {
        **{f"scenario_result.{table}": PositionDelta for table in SCENARIO_TABLES},
        "charts.position_deltas": PositionDelta,
        "hedge_suggestions.hedges": Hedge,
        "hedge_suggestions.suggestions": Hedge,
    },
    "portfolio_cycle_risk": {
        "cycle_risk_map.amplified_factors": AmplifiedFactor,
        "cycle_risk_map.heatmap_data": HeatmapCell,
        "dar.scenario_distribution": ScenarioOutcome,
    },
    "portfolio_macro_overview": {"positioning.rows": FactorPositioning, "dar.scenario_distribution": ScenarioOutcome},
    "macro_trend_monitor": {
        "regime_history.history": RegimeHistoryPoint,
        "factor_history.history": FactorHistoryPoint,
        "trend_analysis.shifts": RegimeShift,
        "alert_suggestions.suggestions": AlertSuggestion,
    },
    "news_impact_analysis": {
        "impact_analysis.news_with_impact": NewsImpact,
        "impact_analysis.entity_mentions": EntityMention,
    },
    "policy_rebalance": {"rebalance_result.trades": Trade, "rebalance_result.breaches_left": Breach},
    "cycle_deleveraging_scenarios": {
        **{
            f"{scenario}.{table}": PositionDelta
            for scenario in ("money_printing", "austerity", "default")
            for table in SCENARIO_TABLES
        },
        "impact.rows": ScenarioComparison,
        "options.recommendations": Recommendation,
    },
    "holding_deep_dive": {"transactions.transactions": Transaction, "comparables.comparables": Comparable},
    "corporate_actions_upcoming": {
        "actions.actions": CorporateAction,
        "actions_with_impact.actions": ActionImpact,
        "actions_with_impact.notifications.urgent": ActionImpact,
        "actions_with_impact.notifications.informational": ActionImpact,
    },
}


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def tables(value, path: str = "") -> dict[str, list[dict]]:
    """Every non-empty list of rows in an output, by dotted path."""
    if isinstance(value, dict):
        return {p: rows for k, v in value.items() for p, rows in tables(v, f"{path}.{k}" if path else k).items()}
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        return {path: value}
    return {}


def _message(path: str, failure) -> str:
    if failure.check == "column_in_dataframe":
        return f"{path}: {failure.failure_case}: missing"
    return f"{path}: {failure.column or 'table'}: {failure.check} failed for {failure.failure_case}"


def _row_index(index) -> tuple | None:
    """The (table, row) of a failing row; None for a failure of the whole frame (a missing column). pandera
    reports a MultiIndex entry as a tuple or as its text, "(0, 3)", depending on the check.
    """
    if isinstance(index, str) and index.startswith("("):
        index = ast.literal_eval(index)
    return index if isinstance(index, tuple) else None


def _frame(tables: list[list[dict]]) -> pd.DataFrame:
    """The rows of several tables in one frame, indexed by (table number, row number)."""
    frame = pd.DataFrame([row for rows in tables for row in rows])
    frame.index = pd.MultiIndex.from_tuples(
        [(number, i) for number, rows in enumerate(tables) for i in range(len(rows))]
    )
    return frame


def tables_failures(path: str, tables: list[list[dict]], contract: type[Row]) -> list[list[str]]:
    """The failures of each table (in order) under one contract. Tables with the same columns are validated in one
    call; a column missing from a group is missing from each of its tables.
    """
    failures: list[list[str]] = [[] for _ in tables]
    groups: dict[frozenset, list[int]] = defaultdict(list)
    for number, rows in enumerate(tables):
        groups[frozenset(key for row in rows for key in row)].append(number)
    for numbers in groups.values():
        try:
            contract.validate(_frame([tables[n] for n in numbers]), lazy=True)
        except pa.errors.SchemaErrors as err:
            for failure in err.failure_cases.itertuples():
                row = _row_index(failure.index)
                owners = [numbers[row[TABLE_LEVEL]]] if row else numbers
                for owner in owners:
                    failures[owner].append(_message(path, failure))
    return failures


def table_failures(path: str, rows: list[dict], contract: type[Row]) -> list[str]:
    """The failures of one table under its contract."""
    return tables_failures(path, [rows], contract)[0]


def responses_failures(pattern: str, outputs: list[dict]) -> list[list[str]]:
    """The failures of each output of `pattern` (in order): legacy names, tables without a contract, and every
    table's contract, validated across the outputs at once.
    """
    failures = [
        [f"legacy field name '{k}' in the output" for k in sorted(_keys(data) & LEGACY_FIELD_NAMES)] for data in outputs
    ]
    contracts = TABLES.get(pattern, {})
    found: dict[str, list[tuple[int, list[dict]]]] = defaultdict(list)
    for number, data in enumerate(outputs):
        for path, rows in tables(data).items():
            if path in contracts:
                found[path].append((number, rows))
            else:
                failures[number].append(f"{path}: a table without a contract (add one to responses.TABLES)")
    for path, owned in found.items():
        for (number, _rows), table_failures_ in zip(
            owned, tables_failures(path, [rows for _, rows in owned], contracts[path]), strict=True
        ):
            failures[number] += table_failures_
    return failures


def response_failures(pattern: str, data: dict) -> list[str]:
    """The failures of one output of `pattern`."""
    return responses_failures(pattern, [data])[0]
