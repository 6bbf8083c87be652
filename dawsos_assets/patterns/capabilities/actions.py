"""Action capabilities: holding drill-down, alerts, charts and the report export (rebalancing: rebalance.py)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from dawsos_assets.database.server import home_dir
from dawsos_assets.patterns.capabilities.portfolio import daily_returns, daily_values, performance, valued_portfolio
from dawsos_assets.patterns.capabilities.risk import delta_row
from dawsos_assets.patterns.registry import REGISTRY


def _position(conn, ctx, warnings, portfolio_id: str, security_id: str | None) -> dict | None:
    valued = valued_portfolio(conn, ctx, warnings, portfolio_id, ctx.pricing_pack_id)
    positions = [p for p in valued["positions"] if security_id in (None, p["security_id"])]
    if not positions:
        return None
    return max(positions, key=lambda p: p["market_value"] or 0)  # no security given: the largest holding


@REGISTRY.register("get_position_details", "financial_analyst", reads=("fx_rates", "lots", "prices", "securities"))
def position_details(conn, ctx, warnings, portfolio_id: str, security_id: str | None, pack_id: str) -> dict:
    """One open position valued at the pack: quantity, cost, market value, weight and gain."""
    position = _position(conn, ctx, warnings, portfolio_id, security_id)
    if position is None:
        raise ValueError(f"portfolio {portfolio_id} holds no open position in {security_id}")
    cost_base = position["cost_basis"] * position["fx_rate"] if position["fx_rate"] is not None else None
    pnl = position["unrealized_pnl"]
    return {
        **position,
        "current_price": position["price"],
        "avg_cost": position["cost_basis"] / position["quantity"],
        "unrealized_pnl_pct": pnl / cost_base if pnl is not None and cost_base else None,
    }


def _price_returns(conn, ctx, security_id: str, end, lookback_days: int) -> pd.Series:
    """Daily close returns of a security (shared by every portfolio holding it in a batch)."""
    return ctx.memo.get(
        ("price returns", security_id, end, lookback_days),
        lambda: _read_price_returns(conn, security_id, end, lookback_days),
    )


def _read_price_returns(conn, security_id: str, end, lookback_days: int) -> pd.Series:
    rows = conn.execute(
        "SELECT asof_date, close FROM prices WHERE security_id = %s AND asof_date <= %s "
        "ORDER BY asof_date DESC LIMIT %s",
        (security_id, end, lookback_days + 1),
    ).fetchall()
    closes = pd.Series([float(c) for _, c in rows][::-1], index=pd.to_datetime([d for d, _ in rows][::-1]))
    return closes.pct_change().dropna()


@REGISTRY.register("compute_position_return", "financial_analyst", reads=("prices",))
def position_return(
    conn, ctx, warnings, portfolio_id: str, security_id: str, pack_id: str, lookback_days: int = 252
) -> dict:
    """Return statistics of a security from its daily prices over the lookback (TWR, volatility, Sharpe, drawdown)."""
    returns = _price_returns(conn, ctx, security_id, ctx.asof_date, lookback_days)
    stats = performance(returns)
    if not stats:
        warnings.append("fewer than two daily price returns: return statistics are null")
    return {
        "security_id": security_id,
        "total_return": stats.get("twr"),
        "volatility": stats.get("volatility"),
        "sharpe_ratio": stats.get("sharpe_ratio"),
        "max_drawdown": stats.get("max_drawdown"),
        "daily_returns": [round(r, 8) for r in returns.tolist()],
        "labels": [d.date().isoformat() for d in returns.index],
    }


@REGISTRY.register(
    "compute_position_risk",
    "financial_analyst",
    reads=("fx_rates", "lots", "portfolio_daily_values", "prices", "securities"),
)
def position_risk(
    conn, ctx, warnings, portfolio_id: str, security_id: str, pack_id: str, lookback_days: int = 252
) -> dict:
    """The position's beta and correlation to its portfolio and its one-day 95 % VaR."""
    position_returns = _price_returns(conn, ctx, security_id, ctx.asof_date, lookback_days)
    portfolio_returns = daily_returns(daily_values(conn, ctx, portfolio_id, ctx.asof_date, lookback_days))
    joined = pd.concat([position_returns.rename("p"), portfolio_returns.rename("q")], axis=1).dropna()
    if len(joined) < 30:
        warnings.append("fewer than 30 common days: beta and correlation are null")
        return {"beta_to_portfolio": None, "correlation": None, "var_1d": None}
    beta = float(np.cov(joined["p"], joined["q"], ddof=1)[0, 1] / joined["q"].var(ddof=1))
    value = _position(conn, ctx, warnings, portfolio_id, security_id)["market_value"]
    if value is None:
        warnings.append("the position has no market value at the pack: VaR is null")
    sigma = float(joined["p"].std(ddof=1))
    return {
        "beta_to_portfolio": beta,
        "correlation": float(joined["p"].corr(joined["q"])),
        "var_1d": 1.645 * sigma * value if value is not None else None,
        "volatility_daily": sigma,
        "observations": len(joined),
    }


@REGISTRY.register("get_transaction_history", "financial_analyst", reads=("transactions",))
def transaction_history(conn, ctx, warnings, portfolio_id: str, security_id: str, limit: int = 50) -> dict:
    """The latest transactions of a portfolio in one security, newest first."""
    rows = conn.execute(
        "SELECT transaction_date, transaction_type, quantity, price, amount, fee, commission, currency "
        "FROM transactions WHERE portfolio_id = %s AND security_id = %s ORDER BY transaction_date DESC LIMIT %s",
        (portfolio_id, security_id, limit),
    ).fetchall()
    return {
        "transactions": [
            {
                "transaction_date": r[0].isoformat(),
                "transaction_type": r[1],
                "quantity": float(r[2]) if r[2] is not None else None,
                "price": float(r[3]) if r[3] is not None else None,
                "total_value": float(r[4]),
                "fee": float(r[5] or 0),
                "commission": float(r[6] or 0),
                "currency": r[7],
            }
            for r in rows
        ]
    }


@REGISTRY.register("get_security_fundamentals", "financial_analyst", reads=("fundamentals", "securities"))
def security_fundamentals(conn, ctx, warnings, security_id: str) -> dict:
    """The latest fundamentals of a security (market cap, P/E, dividend yield, ROE)."""
    row = conn.execute(
        "SELECT s.symbol, s.sector, f.market_cap, f.pe_ratio, f.dividend_yield, f.roe FROM securities s "
        "LEFT JOIN fundamentals f ON f.security_id = s.id WHERE s.id = %s ORDER BY f.asof_date DESC LIMIT 1",
        (security_id,),
    ).fetchone()
    if row is None or row[2] is None:
        warnings.append("no fundamentals for this security")
    values = [float(v) if v is not None and not isinstance(v, str) else v for v in (row or [None] * 6)]
    return dict(zip(["symbol", "sector", "market_cap", "pe_ratio", "dividend_yield", "roe"], values, strict=True))


@REGISTRY.register("get_comparable_positions", "financial_analyst", reads=("fundamentals", "prices", "securities"))
def comparable_positions(conn, ctx, warnings, security_id: str, sector: str | None, limit: int = 5) -> dict:
    """Other securities of the same sector with their latest fundamentals and pack price, largest first."""
    if not sector:
        warnings.append("the security has no sector: no comparables")
        return {"sector": None, "comparables": [], "count": 0}
    rows = conn.execute(
        """
        SELECT s.id::text, s.symbol, s.name, f.market_cap, f.pe_ratio, f.dividend_yield, f.roe, p.close,
               s.trading_currency
          FROM securities s
          LEFT JOIN LATERAL (SELECT * FROM fundamentals f WHERE f.security_id = s.id AND f.asof_date <= %s
                              ORDER BY f.asof_date DESC LIMIT 1) f ON TRUE
          LEFT JOIN prices p ON p.security_id = s.id AND p.pricing_pack_id = %s
         WHERE s.sector = %s AND s.id <> %s
         ORDER BY f.market_cap DESC NULLS LAST, s.symbol LIMIT %s""",
        (ctx.asof_date, ctx.pricing_pack_id, sector, security_id, limit),
    ).fetchall()
    names = ["security_id", "symbol", "name", "market_cap", "pe_ratio", "dividend_yield", "roe", "price", "currency"]
    comparables = [
        {
            n: (float(v) if n in ("market_cap", "pe_ratio", "dividend_yield", "roe", "price") and v is not None else v)
            for n, v in zip(names, row, strict=True)
        }
        for row in rows
    ]
    unknown = [c["symbol"] for c in comparables if c["market_cap"] is None]
    if unknown:
        warnings.append(f"no fundamentals for comparables {', '.join(unknown)}: their metrics are null")
    return {"sector": sector, "comparables": comparables, "count": len(comparables)}


@REGISTRY.register("financial_analyst.scenario_charts", "financial_analyst")
def scenario_charts(conn, ctx, warnings, base: dict, shocked: dict) -> dict:
    """The per-position delta table: base positions joined to the shocked ones by security_id (a position the
    scenario could not value keeps its base value and null deltas).
    """
    deltas = {r["security_id"]: r for r in shocked["position_deltas"]}
    rows = []
    for p in base["positions"]:
        shock = deltas.get(p["security_id"]) or {}
        delta = shock.get("delta_value")
        rows.append(delta_row(p, delta, shock.get("primary_driver")))
    ranked = sorted((r for r in rows if r["delta_value"] is not None), key=lambda r: r["delta_value"])
    return {
        "scenario_id": shocked["scenario_id"],
        "position_deltas": rows,
        "bar_chart": {"labels": [r["symbol"] for r in ranked], "values": [r["delta_value"] for r in ranked]},
    }


@REGISTRY.register("macro_hound.suggest_alert_presets", "macro_hound")
def suggest_alert_presets(conn, ctx, warnings, trend_analysis: dict, portfolio_id: str) -> dict:
    """Alert presets for the regime probabilities that moved most (up to three)."""
    suggestions = [
        {
            "alert_type": "regime_shift",
            "trigger_description": f"{s['regime']} probability moves 10 pts",
            "reason": f"moved {100 * s['change']:+.1f} pts",
            "current_value": s["to"],
            "trend": "up" if s["change"] > 0 else "down",
            "alert_payload": {
                "metric": f"{s['regime'].lower()}_probability",
                "operator": ">" if s["change"] > 0 else "<",
                "threshold": round((s["to"] or 0) + (0.1 if s["change"] > 0 else -0.1), 4),
            },
        }
        for s in trend_analysis.get("shifts", [])[:3]
        if s["change"]
    ]
    return {"suggestions": suggestions, "count": len(suggestions)}


@REGISTRY.register("macro_hound.create_alert_if_threshold", "macro_hound")
def create_alert_if_threshold(
    conn, ctx, warnings, portfolio_id: str, news_impact: dict, threshold: float = 0.7, create: bool = False
) -> dict:
    """Reports whether an alert is due; creating alerts is left to DawsOS's alert service (not run here)."""
    due = (news_impact.get("weighted_impact") or 0) >= threshold
    status = "not requested" if not create else "due" if due else "below_threshold"
    return {
        "status": status,
        "weighted_impact": news_impact.get("weighted_impact"),
        "threshold": threshold,
        "alert_id": None,
        "created_at": None,
    }


@REGISTRY.register("financial_analyst.macro_overview_charts", "financial_analyst")
def macro_overview(conn, ctx, warnings, regime: dict, indicators: dict, dar: dict) -> dict:
    """The regime, its indicators and scores and the drawdown-at-risk, as the macro overview charts need them."""
    return {
        "regime_name": regime["regime_name"],
        "confidence": regime["confidence"],
        "date": regime["asof_date"],
        "indicators": {k: v["value"] for k, v in indicators["indicators"].items()},
        "zscores": regime["zscores"],
        "regime_scores": regime["regime_scores"],
        "dar_value": dar.get("dar_value"),
    }


@REGISTRY.register("portfolio.factor_positioning", "financial_analyst")
def factor_positioning(conn, ctx, warnings, factor_exposures: dict) -> dict:
    """The factor exposures as rows, largest beta first, with each factor's share of variance."""
    if not factor_exposures["betas"]:
        warnings.append("no factor exposures: nothing to position")
    return {
        "rows": [
            {"factor": f, "beta": b, "variance_share": factor_exposures["variance_shares"].get(f)}
            for f, b in sorted(factor_exposures["betas"].items(), key=lambda kv: -abs(kv[1]))
        ]
    }


@REGISTRY.register("data_harvester.render_pdf", "data_harvester")
def render_report(conn, ctx, warnings, portfolio_id: str, template: str, report_data: dict) -> dict:
    """The portfolio report as an HTML file under .dawsos/reports/ (a browser prints it to PDF)."""
    positions = (report_data.get("positions") or {}).get("positions", [])
    rows = "".join(
        f"<tr><td>{html.escape(p['symbol'])}</td><td>{p['quantity']:,.2f}</td>"
        f"<td>{(p['market_value'] or 0):,.2f}</td><td>{100 * (p['weight'] or 0):.2f}%</td></tr>"
        for p in positions
    )
    performance_ = report_data.get("performance") or {}
    body = (
        f"<html><head><meta charset='utf-8'><title>Portfolio report</title></head><body>"
        f"<h1>Portfolio {html.escape(portfolio_id)}</h1>"
        f"<p>Pricing pack {ctx.pricing_pack_id}, as of {ctx.asof_date}</p>"
        f"<p>TWR 1y {performance_.get('twr_1y')}, volatility {performance_.get('volatility')}, "
        f"Sharpe {performance_.get('sharpe_ratio')}</p>"
        f"<table><tr><th>symbol</th><th>quantity</th><th>market value</th><th>weight</th></tr>{rows}</table>"
        f"</body></html>"
    )
    target = home_dir() / "reports" / f"{portfolio_id}_{ctx.pricing_pack_id}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    return {
        "status": "ready",
        "path": str(target),
        "download_url": Path(target).resolve().as_uri(),
        "file_size": len(body.encode()),
        "generated_at": ctx.asof_date.isoformat(),
        "format": "html",
        "watermark_applied": False,
        "attributions": ["DawsOS pricing packs"],
    }
