"""Portfolio capabilities computed from the standardized database: positions, valuation at a pack,
performance, sector allocation and NAV history (attribution: attribution.py).

No fabricated defaults: what the data cannot give is an explicit null plus a warning in the trace.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from dawsos_assets.patterns.registry import REGISTRY

TRADING_DAYS = 252


def _f(value) -> float | None:
    return float(value) if isinstance(value, (Decimal, int, float)) and value is not None else None


@REGISTRY.register("ledger.positions", "financial_analyst", reads=("lots", "securities"))
def ledger_positions(conn, ctx, warnings, portfolio_id: str) -> dict:
    """Open positions aggregated per security (DawsOS returned one row per lot)."""
    rows = conn.execute(
        """
        SELECT l.security_id, s.symbol, s.name, s.trading_currency, s.sector, s.security_type, sum(l.quantity_open),
               sum(l.cost_basis * l.quantity_open / l.quantity_original), count(*)
          FROM lots l JOIN securities s ON s.id = l.security_id
         WHERE l.portfolio_id = %s AND l.quantity_open > 0
         GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY s.symbol""",
        (portfolio_id,),
    ).fetchall()
    positions = [
        {
            "security_id": str(r[0]),
            "symbol": r[1],
            "name": r[2],
            "currency": r[3],
            "sector": r[4],
            "asset_class": r[5],
            "quantity": float(r[6]),
            "cost_basis": round(float(r[7]), 2),
            "lots": r[8],
            "base_currency": ctx.base_currency,
        }
        for r in rows
    ]
    return {"portfolio_id": portfolio_id, "positions": positions, "base_currency": ctx.base_currency}


def _pack_rates(conn, pack_id: str) -> dict[tuple[str, str], float]:
    return {
        (base, quote): float(rate)
        for base, quote, rate in conn.execute(
            "SELECT base_ccy, quote_ccy, rate FROM fx_rates WHERE pricing_pack_id = %s AND rate IS NOT NULL", (pack_id,)
        )
    }


def fx_rate(conn, ctx, base: str, quote: str, pack_id: str) -> float | None:
    """Quote units per one base unit in the pack; the reverse pair's reciprocal when only that one exists."""
    if base == quote:
        return 1.0
    rates = ctx.memo.get(("fx rates", pack_id), lambda: _pack_rates(conn, pack_id))
    if (base, quote) in rates:
        return rates[base, quote]
    return 1 / rates[quote, base] if (quote, base) in rates else None


@REGISTRY.register("pricing.apply_pack", "financial_analyst", reads=("fx_rates", "prices"))
def apply_pack(conn, ctx, warnings, positions: list, pack_id: str, portfolio_id: str | None = None) -> dict:
    """Value each position at the pack's close, converted to the portfolio's base currency."""
    closes = dict(
        conn.execute(
            "SELECT security_id::text, close FROM prices WHERE pricing_pack_id = %s AND security_id = ANY(%s::uuid[])",
            (pack_id, [p["security_id"] for p in positions]),
        )
    )
    valued = []
    for position in positions or []:
        price = _f(closes.get(position["security_id"]))
        fx = fx_rate(conn, ctx, position["currency"], ctx.base_currency, pack_id)
        if price is None:
            warnings.append(f"no price for {position['symbol']} in {pack_id}: market value is null")
        if fx is None:
            warnings.append(f"no {position['currency']}/{ctx.base_currency} rate in {pack_id}: market value is null")
        value_local = position["quantity"] * price if price is not None else None
        market_value = value_local * fx if value_local is not None and fx is not None else None
        cost_base = position["cost_basis"] * fx if fx is not None else None
        valued.append(
            {
                **position,
                "price": price,
                "value_local": value_local,
                "fx_rate": fx,
                "market_value": None if market_value is None else round(market_value, 2),
                "unrealized_pnl": None if market_value is None else round(market_value - cost_base, 2),
            }
        )
    total = sum(p["market_value"] for p in valued if p["market_value"] is not None)
    for position in valued:
        position["weight"] = (
            position["market_value"] / total if total and position["market_value"] is not None else None
        )
    return {
        "pricing_pack_id": pack_id,
        "positions": valued,
        "total_value": round(total, 2),
        "currency": ctx.base_currency,
    }


def valued_portfolio(conn, ctx, warnings, portfolio_id: str, pack_id: str) -> dict:
    """ledger.positions valued by pricing.apply_pack: the starting point of most risk capabilities."""
    return apply_pack(conn, ctx, warnings, ledger_positions(conn, ctx, warnings, portfolio_id)["positions"], pack_id)


def daily_values(conn, ctx, portfolio_id: str, end, lookback_days: int | None) -> pd.DataFrame:
    """The portfolio's daily values up to `end` (the last lookback_days + 1 of them when given); read once per
    portfolio, since performance, NAV history and position risk all start from them.
    """
    frame = ctx.run_memo.get(("daily values", portfolio_id, end), lambda: _read_daily_values(conn, portfolio_id, end))
    return frame.tail(lookback_days + 1) if lookback_days else frame


def _read_daily_values(conn, portfolio_id: str, end) -> pd.DataFrame:
    rows = conn.execute(
        "SELECT asof_date, total_value, cash_flows FROM portfolio_daily_values "
        "WHERE portfolio_id = %s AND asof_date <= %s ORDER BY asof_date",
        (portfolio_id, end),
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["asof_date", "total_value", "cash_flows"]).astype(
        {"total_value": float, "cash_flows": float}
    )
    return frame.set_index(pd.to_datetime(frame["asof_date"]))


def daily_returns(frame: pd.DataFrame) -> pd.Series:
    """Time-weighted daily returns with flows at the end of the day: (V_t - CF_t - V_{t-1}) / V_{t-1}."""
    value, flow = frame["total_value"], frame["cash_flows"]
    returns = (value - flow - value.shift(1)) / value.shift(1)
    return returns.iloc[1:][value.shift(1).iloc[1:] > 0]


def performance(returns: pd.Series, risk_free_annual: float = 0.04) -> dict:
    """TWR, volatility, Sharpe ratio and max drawdown of daily returns (empty with fewer than two returns)."""
    import empyrical  # with scipy under it, a second of a new interpreter's start-up: only where returns are computed
    # (the preloaded process that forks runs imports it once: operations/run_forks.py)

    rf_daily = (1 + risk_free_annual) ** (1 / TRADING_DAYS) - 1
    if len(returns) < 2:
        return {}
    cumulative = (1 + returns).cumprod()
    return {
        "twr": float(empyrical.cum_returns_final(returns)),
        "twr_annualized": float(empyrical.annual_return(returns, annualization=TRADING_DAYS)),
        "volatility": float(empyrical.annual_volatility(returns, annualization=TRADING_DAYS)),
        "sharpe_ratio": float(empyrical.sharpe_ratio(returns, risk_free=rf_daily, annualization=TRADING_DAYS)),
        "sortino_ratio": float(empyrical.sortino_ratio(returns, required_return=rf_daily, annualization=TRADING_DAYS)),
        "max_drawdown": float(empyrical.max_drawdown(returns)),
        "current_drawdown": float(cumulative.iloc[-1] / cumulative.max() - 1),
    }


PERFORMANCE_KEYS = [
    "twr_1d",
    "twr_mtd",
    "twr_ytd",
    "twr_1y",
    "twr_1y_annualized",
    "volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "current_drawdown",
    "alpha",
    "beta",
]


@REGISTRY.register(
    "metrics.compute_twr", "financial_analyst", reads=("portfolio_daily_values", "portfolios", "prices", "securities")
)
def compute_twr(conn, ctx, warnings, portfolio_id: str, pack_id: str, lookback_days: int = TRADING_DAYS) -> dict:
    """Time-weighted return, volatility, Sharpe, Sortino and drawdowns from daily values (DawsOS only read a
    nightly row and filled gaps with 0.15 / 0.5 / -0.25). The window is the last `lookback_days` daily returns.
    """
    frame = daily_values(conn, ctx, portfolio_id, ctx.asof_date, None)
    returns = daily_returns(frame)
    window = returns.tail(lookback_days)
    result = {
        "portfolio_id": portfolio_id,
        "pricing_pack_id": pack_id,
        "asof_date": ctx.asof_date.isoformat(),
        "lookback_days": lookback_days,
        "observations": len(window),
        **dict.fromkeys(PERFORMANCE_KEYS),
        "benchmark_id": None,
        "risk_free_rate": 0.04,
        "method": "daily TWR, flows at end of day; empyrical statistics over the last lookback_days returns",
    }
    if len(window) < 2:
        warnings.append("fewer than two daily values: performance is null")
        return result
    import empyrical

    stats = performance(window)
    alpha, beta, benchmark = benchmark_alpha_beta(conn, ctx, portfolio_id, window, warnings)
    year = returns[returns.index.year == ctx.asof_date.year]
    month = year[year.index.month == ctx.asof_date.month]
    return {
        **result,
        "twr_1d": float(returns.iloc[-1]),
        "twr_mtd": float(empyrical.cum_returns_final(month)) if len(month) else None,
        "twr_ytd": float(empyrical.cum_returns_final(year)) if len(year) else None,
        "twr_1y": stats["twr"],
        "twr_1y_annualized": stats["twr_annualized"],
        "volatility": stats["volatility"],
        "sharpe_ratio": stats["sharpe_ratio"],
        "sortino_ratio": stats["sortino_ratio"],
        "max_drawdown": stats["max_drawdown"],
        "current_drawdown": stats["current_drawdown"],
        "alpha": alpha,
        "beta": beta,
        "benchmark_id": benchmark,
    }


def _benchmark_closes(conn, symbol: str | None) -> pd.Series:
    rows = (
        conn.execute(
            "SELECT p.asof_date, p.close FROM prices p JOIN securities s ON s.id = p.security_id "
            "WHERE s.symbol = %s ORDER BY p.asof_date",
            (symbol,),
        ).fetchall()
        if symbol
        else []
    )
    return pd.Series([float(c) for _, c in rows], index=pd.to_datetime([d for d, _ in rows]), dtype=float)


def benchmark_alpha_beta(conn, ctx, portfolio_id: str, returns: pd.Series, warnings: list) -> tuple:
    """Annualized alpha and beta against the portfolio's benchmark security (its daily close returns)."""
    benchmark = conn.execute("SELECT benchmark_id FROM portfolios WHERE id = %s", (portfolio_id,)).fetchone()[0]
    closes = ctx.memo.get(("benchmark closes", benchmark), lambda: _benchmark_closes(conn, benchmark))
    if len(closes) < 3:
        warnings.append(f"no price history for benchmark {benchmark!r}: alpha and beta are null")
        return None, None, benchmark
    aligned = pd.concat([returns.rename("p"), closes.pct_change().rename("b")], axis=1).dropna()
    if len(aligned) < 2:
        warnings.append(f"benchmark {benchmark!r} has no prices on the portfolio's days: alpha and beta are null")
        return None, None, benchmark
    import empyrical

    alpha, beta = empyrical.alpha_beta(aligned["p"], aligned["b"], annualization=TRADING_DAYS)
    return float(alpha), float(beta), benchmark


@REGISTRY.register("portfolio.sector_allocation", "financial_analyst")
def sector_allocation(conn, ctx, warnings, valued_positions: dict) -> dict:
    """Share of market value per sector, from the security master (DawsOS used a 38-ticker map)."""
    totals: dict[str, float] = {}
    for p in valued_positions["positions"]:
        if p["market_value"] is not None:
            totals[p.get("sector") or "Unclassified"] = (
                totals.get(p.get("sector") or "Unclassified", 0.0) + p["market_value"]
            )
    total = sum(totals.values())
    sectors = {s: round(100 * v / total, 2) for s, v in sorted(totals.items(), key=lambda kv: -kv[1])} if total else {}
    return {
        "sectors": sectors,
        "total_sectors": len(sectors),
        "total_value": round(total, 2),
        "currency": valued_positions["currency"],
    }


@REGISTRY.register("portfolio.historical_nav", "financial_analyst", reads=("portfolio_daily_values",))
def historical_nav(conn, ctx, warnings, portfolio_id: str, pack_id: str, lookback_days: int = TRADING_DAYS) -> dict:
    """The portfolio's net asset value by day over the lookback, with its first and last values."""
    frame = daily_values(conn, ctx, portfolio_id, ctx.asof_date, lookback_days)
    if frame.empty:
        warnings.append("no daily values for this portfolio: the NAV history is empty")
    values = [round(v, 2) for v in frame["total_value"]]
    labels = [d.isoformat() for d in frame["asof_date"]]
    first, last = (values[0], values[-1]) if values else (None, None)
    return {
        "data": [{"asof_date": d, "value": v} for d, v in zip(labels, values, strict=True)],
        "labels": labels,
        "values": values,
        "start_date": labels[0] if labels else None,
        "end_date": labels[-1] if labels else None,
        "total_return_pct": round((last - first) / first * 100, 4) if first else None,
        "data_points": len(values),
        "note": "NAV change includes external flows; see perf_metrics for TWR",
    }
