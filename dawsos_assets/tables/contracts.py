"""Table contracts: one pandera DataFrameModel per standardized DawsOS table, the single source of truth.

The contracts drive the in-database checks (compiled to one aggregate scan per table), the Great Expectations
suites and the column schema shown in the UI. Column names are strict: a legacy name (qty_open, valuation_date,
a bare `date`) fails. `metadata={"pg": …}` names the PostgreSQL type family a column must have.
Table-level rules use the registered checks below; rules listed in `Config.metadata["warn"]` are drift (WARN),
everything else is integrity (ERROR, blocking).
"""

from __future__ import annotations

import pandas as pd  # noqa: E402
import pandera.pandas as pa  # noqa: E402
from pandera.api.extensions import register_check_method  # noqa: E402
from pandera.typing import Series  # noqa: E402

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "CNY", "HKD", "SGD", "SEK"]
REGIMES = ["EARLY_EXPANSION", "MID_EXPANSION", "LATE_EXPANSION", "EARLY_CONTRACTION", "DEEP_CONTRACTION"]


# -- table-level rules, with their SQL meaning in dawsos_assets/tables/checks.py --------------------------------
@register_check_method(statistics=["left", "right"])
def column_le(df: pd.DataFrame, *, left: str, right: str) -> pd.Series:
    """Pandera check: `left` is at most `right` (a NULL on either side passes)."""
    return (df[left] <= df[right]) | df[left].isna() | df[right].isna()  # as SQL: a NULL side fails nothing


@register_check_method(statistics=["earlier", "later"])
def date_not_before(df: pd.DataFrame, *, earlier: str, later: str) -> pd.Series:
    """Pandera check: the `earlier` date is not after the `later` one (a NULL on either side passes)."""
    return (df[earlier] <= df[later]) | df[earlier].isna() | df[later].isna()


@register_check_method(statistics=["flag", "quantity"])
def open_flag_has_open_quantity(df: pd.DataFrame, *, flag: str, quantity: str) -> pd.Series:
    """Pandera check: a row flagged open still holds some quantity."""
    return ~(df[flag].astype(bool) & (df[quantity] == 0))


@register_check_method(statistics=["flag", "quantity"])
def closed_flag_has_no_open_quantity(df: pd.DataFrame, *, flag: str, quantity: str) -> pd.Series:
    """Pandera check: a row flagged closed holds no quantity."""
    return ~(~df[flag].astype(bool) & (df[quantity] > 0))


@register_check_method(statistics=["left", "right"])
def columns_equal(df: pd.DataFrame, *, left: str, right: str) -> pd.Series:
    """Pandera check: two columns hold the same value."""
    return df[left] == df[right]


@register_check_method(statistics=["total", "first", "second"])
def is_sum_of(df: pd.DataFrame, *, total: str, first: str, second: str) -> pd.Series:
    """Pandera check: `total` equals `first` plus `second`, to the cent."""
    return (df[total] - df[first] - df[second]).abs() < 0.005


def col(pg: str, optional: bool = False, **kwargs):
    """A contract column: its PostgreSQL type family plus pandera's checks. An `optional` column may be absent
    (a real history never created it and nothing downstream reads it); where it exists it must hold its rules.
    """
    kwargs.setdefault("nullable", False)
    return pa.Field(metadata={"pg": pg, "optional": optional}, **kwargs)


def maybe(pg: str, **kwargs):
    """A contract column that may be NULL (see `col`)."""
    return col(pg, nullable=True, **kwargs)


def optional_columns(contract: type[pa.DataFrameModel]) -> set[str]:
    """Names of the contract's columns that a table may lack altogether."""
    return {name for name, column in contract.to_schema().columns.items() if column.metadata.get("optional")}


class Contract(pa.DataFrameModel):
    """Base of every table contract: only the listed columns, values coerced to the declared types."""

    class Config:
        strict = True
        coerce = True


class Users(Contract):
    """Application users and their roles."""

    id: Series[str] = col("uuid")
    email: Series[str] = col("text")
    password_hash: Series[str] = col("text")
    role: Series[str] = col("text", isin=["VIEWER", "USER", "MANAGER", "ADMIN"])
    created_at: Series[pd.Timestamp] = col("timestamp")
    updated_at: Series[pd.Timestamp] = col("timestamp")
    last_login_at: Series[pd.Timestamp] = maybe("timestamp")
    is_active: Series[bool] = col("boolean")
    # 009_jwt_auth's columns: it ran before the users table existed in DawsOS's own install, so they are often absent.
    failed_login_attempts: Series[float] = maybe("integer", ge=0, optional=True)
    locked_until: Series[pd.Timestamp] = maybe("timestamp", optional=True)

    class Config:
        unique = ["id"]


class Portfolios(Contract):
    """Portfolios, each owned by a user, with its base currency and benchmark."""

    id: Series[str] = col("uuid")
    user_id: Series[str] = col("uuid")
    name: Series[str] = col("text")
    description: Series[str] = maybe("text")
    base_currency: Series[str] = col("text", isin=CURRENCIES)
    benchmark_id: Series[str] = maybe("text")
    is_active: Series[bool] = maybe("boolean")
    created_at: Series[pd.Timestamp] = col("timestamp")
    updated_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["id"]


class Securities(Contract):
    """The securities the portfolios hold or may hold."""

    id: Series[str] = col("uuid")
    symbol: Series[str] = col("text", str_length={"max_value": 12})
    name: Series[str] = maybe("text")
    security_type: Series[str] = col("text", isin=["equity", "etf", "bond", "fund", "cash"])
    exchange: Series[str] = maybe("text")
    trading_currency: Series[str] = col("text", isin=CURRENCIES)
    dividend_currency: Series[str] = maybe("text", isin=CURRENCIES)
    domicile_country: Series[str] = maybe("text")
    active: Series[bool] = maybe("boolean")
    created_at: Series[pd.Timestamp] = col("timestamp")
    updated_at: Series[pd.Timestamp] = col("timestamp")
    sector: Series[str] = maybe("text")

    class Config:
        unique = ["id"]


class PricingPacks(Contract):
    """Pricing packs: one consistent set of prices and FX rates per day."""

    id: Series[str] = col("text", str_matches=r"^PP_\d{4}-\d{2}-\d{2}(_[A-Z0-9_]+)?$")
    asof_date: Series[pd.Timestamp] = col("date")
    policy: Series[str] = col("text")
    hash: Series[str] = col("text")
    superseded_by: Series[str] = maybe("text")
    sources_json: Series[object] = col("json")
    status: Series[str] = col("text", isin=["warming", "fresh", "error", "stale"])
    is_fresh: Series[bool] = col("boolean")
    prewarm_done: Series[bool] = col("boolean")
    reconciliation_passed: Series[bool] = col("boolean")
    reconciliation_failed: Series[bool] = col("boolean")
    reconciliation_error_bps: Series[float] = maybe("numeric", ge=0)
    error_message: Series[str] = maybe("text")
    created_at: Series[pd.Timestamp] = col("timestamp")
    updated_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["id"]


class Prices(Contract):
    """Daily prices of each security within a pricing pack."""

    id: Series[str] = col("uuid")
    security_id: Series[str] = col("uuid")
    pricing_pack_id: Series[str] = col("text")
    asof_date: Series[pd.Timestamp] = col("date")
    close: Series[float] = col("numeric", gt=0)
    open: Series[float] = maybe("numeric", gt=0)
    high: Series[float] = maybe("numeric", gt=0)
    low: Series[float] = maybe("numeric", gt=0)
    volume: Series[float] = maybe("integer", ge=0)
    currency: Series[str] = col("text", isin=CURRENCIES)
    source: Series[str] = col("text")
    adjusted_for_splits: Series[bool] = maybe("boolean")
    adjusted_for_dividends: Series[bool] = maybe("boolean")
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["security_id", "pricing_pack_id"]
        column_le = {"left": "low", "right": "high"}
        metadata = {"freshness": "asof_date"}


class FxRates(Contract):
    """FX rates between currencies within a pricing pack."""

    id: Series[str] = col("uuid")
    pricing_pack_id: Series[str] = col("text")
    base_ccy: Series[str] = col("text", isin=CURRENCIES)
    quote_ccy: Series[str] = col("text", isin=CURRENCIES)
    asof_ts: Series[pd.Timestamp] = col("timestamp")
    rate: Series[float] = col("numeric", gt=0)
    source: Series[str] = col("text")
    policy: Series[str] = maybe("text")
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["base_ccy", "quote_ccy", "pricing_pack_id"]


class Lots(Contract):
    """Tax lots: each purchase of a security in a portfolio and how much of it is still held."""

    id: Series[str] = col("uuid")
    portfolio_id: Series[str] = col("uuid")
    security_id: Series[str] = col("uuid")
    symbol: Series[str] = col("text", str_length={"max_value": 12})
    acquisition_date: Series[pd.Timestamp] = col("date")
    quantity: Series[float] = col("numeric", gt=0, description="DEPRECATED since migration 014")
    cost_basis: Series[float] = col("numeric", ge=0)
    cost_basis_per_share: Series[float] = col("numeric", ge=0)
    currency: Series[str] = col("text", isin=CURRENCIES)
    is_open: Series[bool] = col("boolean")
    created_at: Series[pd.Timestamp] = col("timestamp")
    updated_at: Series[pd.Timestamp] = col("timestamp")
    quantity_original: Series[float] = col("numeric", gt=0, description="Shares bought in the lot")
    quantity_open: Series[float] = col("numeric", ge=0, description="Shares of the lot still held")
    closed_date: Series[pd.Timestamp] = maybe("date")

    class Config:
        unique = ["id"]
        column_le = {"left": "quantity_open", "right": "quantity_original"}
        date_not_before = {"earlier": "acquisition_date", "later": "closed_date"}
        open_flag_has_open_quantity = {"flag": "is_open", "quantity": "quantity_open"}
        closed_flag_has_no_open_quantity = {"flag": "is_open", "quantity": "quantity_open"}
        columns_equal = {"left": "quantity", "right": "quantity_original"}
        metadata = {"warn": ["open_flag_has_open_quantity", "closed_flag_has_no_open_quantity", "columns_equal"]}


class Transactions(Contract):
    """Portfolio transactions: buys, sells, dividends, splits, transfers and fees."""

    id: Series[str] = col("uuid")
    portfolio_id: Series[str] = col("uuid")
    transaction_type: Series[str] = col(
        "text", isin=["BUY", "SELL", "DIVIDEND", "SPLIT", "TRANSFER_IN", "TRANSFER_OUT", "FEE"]
    )
    security_id: Series[str] = maybe("uuid")
    symbol: Series[str] = maybe("text")
    transaction_date: Series[pd.Timestamp] = col("date")
    settlement_date: Series[pd.Timestamp] = maybe("date")
    quantity: Series[float] = maybe("numeric", gt=0)
    price: Series[float] = maybe("numeric", ge=0)
    amount: Series[float] = col("numeric")
    currency: Series[str] = col("text", isin=CURRENCIES)
    fee: Series[float] = maybe("numeric", ge=0)
    commission: Series[float] = maybe("numeric", ge=0)
    lot_id: Series[str] = maybe("uuid")
    narration: Series[str] = maybe("text")
    source: Series[str] = maybe("text", isin=["ledger", "manual", "import"])
    ledger_commit_hash: Series[str] = maybe("text")
    created_at: Series[pd.Timestamp] = col("timestamp")
    updated_at: Series[pd.Timestamp] = col("timestamp")
    pay_date: Series[pd.Timestamp] = maybe("date")
    ex_date: Series[pd.Timestamp] = maybe("date")
    pay_fx_rate_id: Series[str] = maybe("uuid")
    trade_fx_rate_id: Series[str] = maybe("uuid")

    class Config:
        unique = ["id"]
        date_not_before = {"earlier": "transaction_date", "later": "settlement_date"}


class PortfolioDailyValues(Contract):
    """Daily net asset value of each portfolio, split into positions and cash."""

    portfolio_id: Series[str] = col("uuid")
    asof_date: Series[pd.Timestamp] = col("date")
    total_value: Series[float] = col("numeric")
    cash_balance: Series[float] = col("numeric")
    positions_value: Series[float] = col("numeric", ge=0)
    cash_flows: Series[float] = col("numeric")
    currency: Series[str] = col("text", isin=CURRENCIES)
    computed_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["portfolio_id", "asof_date"]
        is_sum_of = {"total": "total_value", "first": "positions_value", "second": "cash_balance"}
        metadata = {"freshness": "asof_date"}


class PortfolioCashFlows(Contract):
    """Deposits, withdrawals, dividends, interest and fees per portfolio and day."""

    id: Series[str] = col("uuid")
    portfolio_id: Series[str] = col("uuid")
    asof_date: Series[pd.Timestamp] = col("date")
    flow_type: Series[str] = col("text", isin=["DEPOSIT", "WITHDRAWAL", "DIVIDEND", "INTEREST", "FEE"])
    amount: Series[float] = col("numeric")
    currency: Series[str] = col("text", isin=CURRENCIES)
    transaction_id: Series[str] = maybe("uuid")
    description: Series[str] = maybe("text")
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["id"]


class PortfolioMetrics(Contract):
    """Performance and risk figures per portfolio, day and pricing pack."""

    portfolio_id: Series[str] = col("uuid")
    asof_date: Series[pd.Timestamp] = col("date")
    pricing_pack_id: Series[str] = col("text")
    twr_1d: Series[float] = maybe("numeric")
    twr_1d_base: Series[float] = maybe("numeric")
    twr_mtd: Series[float] = maybe("numeric")
    twr_qtd: Series[float] = maybe("numeric")
    twr_ytd: Series[float] = maybe("numeric")
    twr_1y: Series[float] = maybe("numeric")
    twr_3y_ann: Series[float] = maybe("numeric")
    twr_5y_ann: Series[float] = maybe("numeric")
    twr_inception_ann: Series[float] = maybe("numeric")
    mwr_ytd: Series[float] = maybe("numeric")
    mwr_1y: Series[float] = maybe("numeric")
    mwr_3y_ann: Series[float] = maybe("numeric")
    mwr_inception_ann: Series[float] = maybe("numeric")
    volatility_30d: Series[float] = maybe("numeric", ge=0)
    volatility_60d: Series[float] = maybe("numeric", ge=0)
    volatility_90d: Series[float] = maybe("numeric", ge=0)
    volatility_1y: Series[float] = maybe("numeric", ge=0)
    sharpe_30d: Series[float] = maybe("numeric")
    sharpe_60d: Series[float] = maybe("numeric")
    sharpe_90d: Series[float] = maybe("numeric")
    sharpe_1y: Series[float] = maybe("numeric")
    max_drawdown_1y: Series[float] = maybe("numeric", le=0)
    max_drawdown_3y: Series[float] = maybe("numeric", le=0)
    current_drawdown: Series[float] = maybe("numeric", le=0)
    alpha_1y: Series[float] = maybe("numeric")
    alpha_3y_ann: Series[float] = maybe("numeric")
    beta_1y: Series[float] = maybe("numeric")
    beta_3y: Series[float] = maybe("numeric")
    tracking_error_1y: Series[float] = maybe("numeric", ge=0)
    information_ratio_1y: Series[float] = maybe("numeric")
    win_rate_1y: Series[float] = maybe("numeric", in_range={"min_value": 0, "max_value": 1})
    avg_win: Series[float] = maybe("numeric")
    avg_loss: Series[float] = maybe("numeric")
    portfolio_value_base: Series[float] = maybe("numeric", ge=0)
    portfolio_value_local: Series[float] = maybe("numeric", ge=0)
    cash_balance: Series[float] = maybe("numeric")
    base_currency: Series[str] = col("text", isin=CURRENCIES)
    benchmark_id: Series[str] = maybe("text")
    reconciliation_error_bps: Series[float] = maybe("numeric", ge=0)
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["portfolio_id", "asof_date", "pricing_pack_id"]


class MacroIndicators(Contract):
    """Macro indicator series (FRED) by date."""

    id: Series[str] = col("uuid")
    indicator_id: Series[str] = col("text")
    indicator_name: Series[str] = col("text")
    asof_date: Series[pd.Timestamp] = col("date")
    value: Series[float] = col("numeric")
    units: Series[str] = maybe("text")
    frequency: Series[str] = maybe("text", isin=["Daily", "Weekly", "Monthly", "Quarterly", "Annual"])
    source: Series[str] = maybe("text")
    last_updated: Series[pd.Timestamp] = maybe("timestamp")
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["indicator_id", "asof_date"]


class RegimeHistory(Contract):
    """The detected macro regime by date, with its confidence and scores."""

    id: Series[str] = col("uuid")
    asof_date: Series[pd.Timestamp] = col("date")
    regime: Series[str] = col("text", isin=REGIMES)
    confidence: Series[float] = col("numeric", in_range={"min_value": 0, "max_value": 1})
    indicators_json: Series[object] = col("json")
    zscores_json: Series[object] = col("json")
    regime_scores_json: Series[object] = col("json")
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["asof_date"]


class CyclePhases(Contract):
    """The phase of each economic cycle (short-term debt, long-term debt, empire) by date."""

    id: Series[str] = col("uuid")
    cycle_type: Series[str] = col("text", isin=["STDC", "LTDC", "EMPIRE"])
    asof_date: Series[pd.Timestamp] = col("date")
    phase: Series[str] = col("text")
    phase_number: Series[int] = col("integer", ge=1)
    composite_score: Series[float] = col("numeric", in_range={"min_value": 0, "max_value": 1})
    indicators_json: Series[object] = col("json")
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["cycle_type", "asof_date"]


class PositionFactorBetas(Contract):
    """Each position's sensitivity (beta) to the macro factors."""

    id: Series[str] = col("uuid")
    portfolio_id: Series[str] = col("uuid")
    security_id: Series[str] = col("uuid")
    symbol: Series[str] = maybe("text")
    asof_date: Series[pd.Timestamp] = col("date")
    factor_name: Series[str] = col(
        "text",
        isin=[
            "real_rates",
            "inflation",
            "credit_spreads",
            "fx_usd",
            "equity_market",
            "size",
            "value",
            "momentum",
            "volatility",
            "liquidity",
            "commodity",
            "duration",
            "convexity",
            "carry",
            "term_structure",
        ],
    )
    beta: Series[float] = col("numeric")
    methodology: Series[str] = maybe("text")
    r_squared: Series[float] = maybe("numeric", in_range={"min_value": 0, "max_value": 1})
    created_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["portfolio_id", "security_id", "factor_name", "asof_date"]


class ScenarioShocks(Contract):
    """Scenario shocks: how each scenario moves rates, inflation, spreads, the dollar and equities."""

    id: Series[str] = col("uuid")
    shock_type: Series[str] = col("text")
    shock_name: Series[str] = col("text")
    shock_description: Series[str] = maybe("text")
    category: Series[str] = maybe("text")
    real_rates_bps: Series[float] = col("numeric")
    inflation_bps: Series[float] = col("numeric")
    credit_spread_bps: Series[float] = col("numeric")
    usd_pct: Series[float] = col("numeric", in_range={"min_value": -1, "max_value": 1})
    equity_pct: Series[float] = col("numeric", in_range={"min_value": -1, "max_value": 1})
    commodity_pct: Series[float] = col("numeric")
    volatility_pct: Series[float] = col("numeric")
    extra_shocks: Series[object] = col("json")
    probability: Series[float] = maybe("numeric", in_range={"min_value": 0, "max_value": 1})
    severity: Series[str] = maybe("text", isin=["low", "moderate", "high", "extreme"])
    is_custom: Series[bool] = col("boolean")
    created_by: Series[str] = maybe("uuid")
    created_at: Series[pd.Timestamp] = col("timestamp")
    updated_at: Series[pd.Timestamp] = col("timestamp")

    class Config:
        unique = ["shock_type"]


class Fundamentals(Contract):
    """Company fundamentals (valuation, profitability, dividends) by security and date."""

    security_id: Series[str] = col("uuid")
    asof_date: Series[pd.Timestamp] = col("date")
    market_cap: Series[float] = maybe("numeric", ge=0)
    pe_ratio: Series[float] = maybe("numeric")
    dividend_yield: Series[float] = maybe("numeric", ge=0)
    roe: Series[float] = maybe("numeric")
    roe_5y_avg: Series[float] = maybe("numeric")
    gross_margin_5y_avg: Series[float] = maybe("numeric", in_range={"min_value": -1, "max_value": 1})
    operating_margin: Series[float] = maybe("numeric", in_range={"min_value": -1, "max_value": 1})
    operating_margin_std_dev: Series[float] = maybe("numeric", ge=0)
    fcf_to_revenue: Series[float] = maybe("numeric")
    revenue_growth_cv: Series[float] = maybe("numeric", ge=0)
    intangible_assets_ratio: Series[float] = maybe("numeric", in_range={"min_value": 0, "max_value": 1})
    switching_cost_score: Series[float] = maybe("numeric", in_range={"min_value": 0, "max_value": 10})
    payout_ratio_5y_avg: Series[float] = maybe("numeric", ge=0)
    fcf_dividend_coverage: Series[float] = maybe("numeric")
    dividend_growth_streak_years: Series[float] = maybe("integer", ge=0)
    net_cash_position: Series[float] = maybe("numeric")
    debt_equity_ratio: Series[float] = maybe("numeric", ge=0)
    interest_coverage: Series[float] = maybe("numeric")
    current_ratio: Series[float] = maybe("numeric", ge=0)
    cash_pct_assets: Series[float] = maybe("numeric", in_range={"min_value": 0, "max_value": 1})
    source: Series[str] = col("text")

    class Config:
        unique = ["security_id", "asof_date"]


class NewsItems(Contract):
    """News items with the securities they mention, their sentiment and expected impact."""

    id: Series[str] = col("uuid")
    published_at: Series[pd.Timestamp] = col("timestamp")
    headline: Series[str] = col("text")
    source: Series[str] = col("text")
    summary: Series[str] = maybe("text")
    symbols: Series[object] = col("array")
    sentiment: Series[float] = col("numeric", in_range={"min_value": -1, "max_value": 1})
    impact_score: Series[float] = col("numeric", in_range={"min_value": 0, "max_value": 1})

    class Config:
        unique = ["id"]


class CorporateActions(Contract):
    """Corporate actions (dividends, splits, earnings dates) per security."""

    id: Series[str] = col("uuid")
    security_id: Series[str] = col("uuid")
    symbol: Series[str] = col("text")
    action_type: Series[str] = col("text", isin=["dividend", "split", "earnings"])
    action_date: Series[pd.Timestamp] = col("date")
    amount: Series[float] = maybe("numeric", ge=0)
    split_ratio: Series[float] = maybe("numeric", gt=0)
    currency: Series[str] = col("text", isin=CURRENCIES)

    class Config:
        unique = ["id"]


CONTRACTS: dict[str, type[Contract]] = {
    "users": Users,
    "portfolios": Portfolios,
    "securities": Securities,
    "pricing_packs": PricingPacks,
    "prices": Prices,
    "fx_rates": FxRates,
    "lots": Lots,
    "transactions": Transactions,
    "portfolio_daily_values": PortfolioDailyValues,
    "portfolio_cash_flows": PortfolioCashFlows,
    "portfolio_metrics": PortfolioMetrics,
    "macro_indicators": MacroIndicators,
    "regime_history": RegimeHistory,
    "cycle_phases": CyclePhases,
    "position_factor_betas": PositionFactorBetas,
    "scenario_shocks": ScenarioShocks,
    "fundamentals": Fundamentals,
    "news_items": NewsItems,
    "corporate_actions": CorporateActions,
}
