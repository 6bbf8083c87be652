"""Risk capabilities: factor exposures from position_factor_betas, scenario stress (betas x shocks at market
value, not cost), drawdown-at-risk from the loss tail, hedges within a cost budget (DawsOS's ScenarioService, risk
and hedge services).
"""

from __future__ import annotations

import numpy as np

from dawsos_assets.patterns.capabilities.portfolio import valued_portfolio
from dawsos_assets.patterns.registry import REGISTRY

# scenario_shocks column -> (factor_name in position_factor_betas, scale to a decimal shock)
SHOCK_FACTORS = {
    "real_rates_bps": ("real_rates", 1e-4),
    "inflation_bps": ("inflation", 1e-4),
    "credit_spread_bps": ("credit_spreads", 1e-4),
    "usd_pct": ("fx_usd", 1.0),
    "equity_pct": ("equity_market", 1.0),
    "commodity_pct": ("commodity", 1.0),
    "volatility_pct": ("volatility", 1.0),
}
AMPLIFICATION = {
    "early expansion": 0.8,
    "early recovery": 0.9,
    "mid expansion": 1.0,
    "late expansion": 1.2,
    "early contraction": 1.5,
    "early recession": 1.5,
    "deep contraction": 2.0,
    "deep recession": 2.0,
    "recovery": 0.9,
    "reflation": 0.9,
    "expansion": 1.0,
    "bubble": 1.3,
    "top": 1.4,
    "deleveraging": 1.5,
    "debt crisis": 2.0,
    "depression": 2.0,
}
AMPLIFICATION_SOURCE = (
    "configured constants by phase label (DawsOS's overlay_cycle_phases multipliers), not estimated from data"
)
HEDGE_COST_SOURCE = (
    "configured constants of the hedge playbook (notional as a share of the loss, cost in bps of "
    "notional), not market quotes"
)
# (hedge, instruments, notional as a share of the loss, indicative cost in bps of notional) per scenario family
HEDGE_PLAYBOOK = {
    "rates_up": [("Treasury puts", ["TLT", "IEF", "TBT"], 0.5, 120)],
    "rates_down": [("Treasury calls", ["TLT", "IEF"], 0.5, 120)],
    "usd_up": [("USD/CAD forward", ["FXC", "USD/CAD futures"], 1.0, 15)],
    "cpi_surprise": [("TIPS", ["TIP", "SCHP"], 0.75, 10), ("Commodity basket", ["DBC", "PDBC", "GLD"], 0.25, 40)],
    "credit_spread_widening": [("High-yield puts", ["HYG", "JNK"], 0.6, 150)],
    "equity_selloff": [("Index puts", ["SPY", "IVV", "VOO"], 0.8, 200), ("VIX calls", ["VXX", "UVXY"], 0.2, 300)],
}


def position_betas(conn, ctx, portfolio_id: str) -> dict[str, dict[str, float]]:
    """Latest beta per position and factor (read once per portfolio: DaR stresses every scenario with them)."""
    return ctx.run_memo.get(("betas", portfolio_id), lambda: _read_position_betas(conn, portfolio_id))


def _read_position_betas(conn, portfolio_id: str) -> dict[str, dict[str, float]]:
    rows = conn.execute(
        """SELECT DISTINCT ON (security_id, factor_name) security_id::text, factor_name, beta
                             FROM position_factor_betas WHERE portfolio_id = %s
                            ORDER BY security_id, factor_name, asof_date DESC""",
        (portfolio_id,),
    ).fetchall()
    betas: dict[str, dict[str, float]] = {}
    for security, factor, beta in rows:
        betas.setdefault(security, {})[factor] = float(beta)
    return betas


@REGISTRY.register(
    "risk.compute_factor_exposures",
    "financial_analyst",
    reads=("fx_rates", "lots", "position_factor_betas", "prices", "securities"),
)
def factor_exposures(conn, ctx, warnings, portfolio_id: str, pack_id: str) -> dict:
    """Market-value-weighted factor betas of the portfolio (DawsOS returned hard-coded numbers)."""
    valued = valued_portfolio(conn, ctx, warnings, portfolio_id, pack_id)
    betas = position_betas(conn, ctx, portfolio_id)
    exposures: dict[str, float] = {}
    covered = 0.0
    for position in valued["positions"]:
        weight = position["weight"] or 0.0
        if position["security_id"] not in betas:
            warnings.append(f"no factor betas for {position['symbol']}: it adds nothing to the exposures")
            continue
        covered += weight
        for factor, beta in betas[position["security_id"]].items():
            exposures[factor] = exposures.get(factor, 0.0) + weight * beta
    squares = sum(b * b for b in exposures.values())
    return {
        "betas": exposures,
        "weight_covered": covered,
        "variance_shares": {f: b * b / squares for f, b in exposures.items()} if squares else {},
        "method": "market-value-weighted position betas",
    }


@REGISTRY.register("risk.get_factor_exposure_history", "financial_analyst", reads=("position_factor_betas",))
def factor_exposure_history(conn, ctx, warnings, portfolio_id: str, lookback_weeks: int = 4) -> dict:
    """The portfolio's average beta per factor by date, and the change from the first date to the last."""
    rows = conn.execute(
        "SELECT asof_date, factor_name, avg(beta) FROM position_factor_betas WHERE portfolio_id = %s "
        "GROUP BY 1, 2 ORDER BY 1",
        (portfolio_id,),
    ).fetchall()
    history: dict[str, dict[str, float]] = {}
    for day, factor, beta in rows:
        history.setdefault(day.isoformat(), {})[factor] = float(beta)
    dates = sorted(history)
    if not dates:
        warnings.append("position_factor_betas holds no betas for this portfolio: no factor history")
    elif len(dates) < 2:
        warnings.append("betas exist for one date only: no change to report")
    # One snapshot has no change: null, not zero (the legacy long form keeps one beta per position and factor).
    changes = (
        {
            f: (
                history[dates[-1]][f] - history[dates[0]][f]
                if len(dates) > 1 and history[dates[0]].get(f) is not None
                else None
            )
            for f in history[dates[-1]]
        }
        if dates
        else {}
    )
    return {
        "history": [{"asof_date": d, "betas": history[d]} for d in dates],
        **{
            f"{f}_betas": [history[d].get(f) for d in dates]
            for f in ("real_rates", "inflation", "credit_spreads", "fx_usd", "equity_market")
        },
        "changes": changes,
    }


def _amplification(label: str | None) -> float:
    text = (label or "").lower()
    return next((factor for phase, factor in AMPLIFICATION.items() if text.startswith(phase)), 1.0)


@REGISTRY.register("risk.overlay_cycle_phases", "financial_analyst")
def overlay_cycle_phases(conn, ctx, warnings, factor_exposures: dict, stdc: dict, ltdc: dict) -> dict:
    """The factor exposures amplified by the short- and long-term debt cycle phases."""
    overall = (_amplification(stdc.get("phase_label")) + _amplification(ltdc.get("phase_label"))) / 2
    heatmap = [{"factor": f, "current": b, "amplified": b * overall} for f, b in factor_exposures["betas"].items()]
    if not heatmap:
        warnings.append("no factor exposures to amplify: the risk map is empty")
    vulnerable = max(heatmap, key=lambda h: abs(h["amplified"]))["factor"] if heatmap else None
    return {
        "heatmap_data": heatmap,
        "overall_amplification": overall,
        "most_vulnerable_factor": vulnerable,
        "amplified_factors": [{"factor": h["factor"], "amplification_factor": overall} for h in heatmap],
        "risk_level": "High" if overall > 1.5 else "Medium" if overall > 1.2 else "Low",
        "amplification_source": AMPLIFICATION_SOURCE,
        "stdc_phase": stdc.get("phase_label"),
        "ltdc_phase": ltdc.get("phase_label"),
    }


def scenario_library(conn, ctx) -> dict[str, tuple]:
    """Every scenario of scenario_shocks by shock_type, read once per batch."""
    return ctx.memo.get(
        ("scenario library",),
        lambda: {
            row[0]: row
            for row in conn.execute(
                "SELECT shock_type, shock_name, real_rates_bps, inflation_bps, credit_spread_bps, usd_pct, "
                "equity_pct, commodity_pct, volatility_pct FROM scenario_shocks ORDER BY shock_type"
            )
        },
    )


def load_scenario(conn, ctx, scenario_id: str, warnings: list) -> dict | None:
    """A scenario of the library, or None and a warning naming what the library holds: a scenario the database does
    not have gives null results, never another scenario in its place (DawsOS silently used rates_up).
    """
    library = scenario_library(conn, ctx)
    row = library.get(scenario_id)
    if row is None:
        known = list(library)
        warnings.append(
            f"scenario_shocks has no {scenario_id} scenario, its results are null; "
            + (f"it holds {', '.join(known[:12])}{' …' if len(known) > 12 else ''}" if known else "it is empty")
        )
        return None
    names = ["shock_type", "shock_name", *SHOCK_FACTORS]
    return {
        n: (float(v) if isinstance(v, (int, float)) or hasattr(v, "as_integer_ratio") else v)
        for n, v in zip(names, row, strict=True)
    }


def no_scenario(scenario_id: str, valued: dict) -> dict:
    """What stress returns without a scenario: every figure null."""
    return {
        "scenario_id": scenario_id,
        "scenario_name": None,
        "pre_shock_nav": valued["total_value"],
        "total_delta_pl": None,
        "total_delta_pl_pct": None,
        "post_shock_nav": None,
        "coverage": None,
        "positions": [],
        "position_deltas": [],
        "winners": [],
        "losers": [],
        "factor_contributions": {},
        "positions_impacted": 0,
    }


def scenario_stress(conn, ctx, warnings, portfolio_id: str, valued: dict, scenario_id: str) -> dict:
    """The portfolio under one scenario of the library (null results when the library lacks it)."""
    scenario = load_scenario(conn, ctx, scenario_id, warnings)
    return stress(conn, ctx, warnings, portfolio_id, valued, scenario) if scenario else no_scenario(scenario_id, valued)


def _shocks(scenario: dict) -> dict[str, float]:
    """Factor -> decimal shock, for the factors the scenario moves."""
    shocks = {factor: float(scenario[column] or 0) * scale for column, (factor, scale) in SHOCK_FACTORS.items()}
    return {factor: shock for factor, shock in shocks.items() if shock}


def _position_delta(position: dict, betas: dict[str, float], shocks: dict[str, float]) -> tuple[dict | None, list[str]]:
    """Each factor's P&L for one position (beta x shock x market value), or None and the shocked factors it has
    no beta for: a missing beta is unknown sensitivity, not zero.
    """
    missing = [factor for factor in shocks if factor not in betas]
    if missing:
        return None, missing
    return {factor: betas[factor] * shock * position["market_value"] for factor, shock in shocks.items()}, []


def delta_row(position: dict, delta: float | None, primary_driver: str | None) -> dict:
    """One position's line of a scenario result: its value before and after the shock (null without a delta)."""
    value = position["market_value"]
    return {
        "symbol": position["symbol"],
        "security_id": position["security_id"],
        "base_value": value,
        "shocked_value": value + delta if delta is not None else None,
        "delta_value": delta,
        "delta_pct": delta / value if delta is not None and value else None,
        "primary_driver": primary_driver,
    }


def stress(conn, ctx, warnings, portfolio_id: str, valued: dict, scenario: dict) -> dict:
    """The scenario applied to the valued positions. A position without a beta for a shocked factor gets a null
    delta and a warning; totals cover the other positions, and `coverage` says how much of the value that is.
    """
    betas = position_betas(conn, ctx, portfolio_id)
    shocks, modeled = _shocks(scenario), {factor for position in betas.values() for factor in position}
    outside = sorted(set(shocks) - modeled) if modeled else []
    if outside:  # DawsOS's five-factor model has no commodity or volatility betas
        warnings.append(f"shocks to {', '.join(outside)} not applied: no position has a beta for them")
    shocks = {factor: shock for factor, shock in shocks.items() if factor not in outside}
    rows, contributions = [], {}
    for p in valued["positions"]:
        if p["market_value"] is None:
            continue
        own = betas.get(p["security_id"], {})
        drivers, missing = _position_delta(p, own, shocks)
        if drivers is None:  # named by what the position lacks, so DaR's scenarios repeat one warning
            lacking = sorted(modeled - set(own)) or missing
            warnings.append(
                f"{p['symbol']}: no beta for {', '.join(lacking)} in position_factor_betas, so its "
                "scenario delta is null and left out of the totals"
            )
        for factor, value in (drivers or {}).items():
            contributions[factor] = contributions.get(factor, 0.0) + value
        delta = sum(drivers.values()) if drivers is not None else None
        rows.append(delta_row(p, delta, max(drivers, key=lambda f: abs(drivers[f])) if delta else None))
    covered = [r for r in rows if r["delta_value"] is not None]
    nav = sum(r["base_value"] for r in rows)
    total = sum(r["delta_value"] for r in covered) if covered else None
    ordered = sorted(covered, key=lambda r: r["delta_value"])
    return {
        "scenario_id": scenario["shock_type"],
        "scenario_name": scenario["shock_name"],
        "pre_shock_nav": nav,
        "total_delta_pl": total,
        "total_delta_pl_pct": total / nav if total is not None and nav else None,
        "post_shock_nav": nav + total if total is not None else None,
        "coverage": sum(r["base_value"] for r in covered) / nav if nav else None,
        "positions": rows,
        "position_deltas": rows,
        "winners": ordered[::-1][:10],
        "losers": ordered[:10],
        "factor_contributions": contributions,
        "positions_impacted": sum(1 for r in covered if r["delta_value"]),
    }


@REGISTRY.register("macro.run_scenario", "macro_hound", reads=("position_factor_betas", "scenario_shocks"))
def run_scenario(
    conn, ctx, warnings, portfolio_id: str, pack_id: str, scenario_id: str, valued: dict | None = None
) -> dict:
    """Value the portfolio (unless given) and stress it under one scenario."""
    valued = valued or valued_portfolio(conn, ctx, warnings, portfolio_id, pack_id)
    return scenario_stress(conn, ctx, warnings, portfolio_id, valued, scenario_id)


@REGISTRY.register(
    "macro.compute_dar",
    "macro_hound",
    reads=("fx_rates", "lots", "position_factor_betas", "prices", "scenario_shocks", "securities"),
)
def compute_dar(conn, ctx, warnings, portfolio_id: str, pack_id: str, confidence: float = 0.95) -> dict:
    """Drawdown-at-risk: the loss at the (1 - confidence) quantile of all scenario outcomes, i.e. the tail (DawsOS
    took the confidence-th percentile of drawdowns sorted ascending, a near-best outcome).
    """
    valued = valued_portfolio(conn, ctx, warnings, portfolio_id, pack_id)
    outcomes, scenario_warnings = [], []
    for shock_type in scenario_library(conn, ctx):
        result = scenario_stress(conn, ctx, scenario_warnings, portfolio_id, valued, shock_type)
        if result["total_delta_pl_pct"] is not None:
            outcomes.append((shock_type, result["total_delta_pl_pct"]))
    warnings.extend(dict.fromkeys(scenario_warnings))  # each scenario's warnings, once
    if not outcomes:
        warnings.append("no scenario could be valued: DaR is null")
        return {"dar_value": None, "confidence": confidence}
    drawdowns = np.array([o[1] for o in outcomes])
    dar = float(np.quantile(drawdowns, 1 - confidence))
    worst = min(outcomes, key=lambda o: o[1])
    return {
        "dar_value": dar,
        "dar_amount": dar * valued["total_value"],
        "confidence": confidence,
        "scenarios_run": len(outcomes),
        "worst_scenario": worst[0],
        "worst_drawdown": worst[1],
        "mean_drawdown": float(drawdowns.mean()),
        "median_drawdown": float(np.median(drawdowns)),
        "min_dar": float(drawdowns.min()),
        "max_dar": float(drawdowns.max()),
        "current_nav": valued["total_value"],
        "scenario_distribution": [{"scenario": s, "drawdown": d} for s, d in sorted(outcomes, key=lambda o: o[1])],
    }


def _deleveraging(conn, ctx, warnings, portfolio_id, pack_id, valued, shock_type):
    valued = valued or valued_portfolio(conn, ctx, warnings, portfolio_id, pack_id)
    return scenario_stress(conn, ctx, warnings, portfolio_id, valued, shock_type)


@REGISTRY.register(
    "scenarios.deleveraging_money_printing", "macro_hound", reads=("position_factor_betas", "scenario_shocks")
)
def money_printing(conn, ctx, warnings, portfolio_id: str, pack_id: str, valued: dict | None = None) -> dict:
    """The portfolio under Dalio's money-printing deleveraging scenario."""
    return _deleveraging(conn, ctx, warnings, portfolio_id, pack_id, valued, "dalio_money_printing_deleveraging")


@REGISTRY.register(
    "scenarios.deleveraging_austerity", "macro_hound", reads=("position_factor_betas", "scenario_shocks")
)
def austerity(conn, ctx, warnings, portfolio_id: str, pack_id: str, valued: dict | None = None) -> dict:
    """The portfolio under Dalio's austerity deleveraging scenario."""
    return _deleveraging(conn, ctx, warnings, portfolio_id, pack_id, valued, "dalio_austerity_deleveraging")


@REGISTRY.register("scenarios.deleveraging_default", "macro_hound", reads=("position_factor_betas", "scenario_shocks"))
def default_deleveraging(conn, ctx, warnings, portfolio_id: str, pack_id: str, valued: dict | None = None) -> dict:
    """The portfolio under Dalio's default deleveraging scenario."""
    return _deleveraging(conn, ctx, warnings, portfolio_id, pack_id, valued, "dalio_default_deleveraging")


@REGISTRY.register("scenarios.compare", "macro_hound")
def compare_scenarios(conn, ctx, warnings, base: dict, **scenarios: dict) -> dict:
    """The base portfolio and each scenario side by side: value, P&L and drawdown."""
    rows = [
        {
            "metric": "Portfolio value",
            "base": base["total_value"],
            **{n: s["post_shock_nav"] for n, s in scenarios.items()},
        },
        {"metric": "P&L impact", "base": 0.0, **{n: s["total_delta_pl"] for n, s in scenarios.items()}},
        {
            "metric": "Return impact %",
            "base": 0.0,
            **{
                n: 100 * s["total_delta_pl_pct"] if s["total_delta_pl_pct"] is not None else None
                for n, s in scenarios.items()
            },
        },
    ]
    for factor in ("real_rates", "credit_spreads", "fx_usd", "equity_market"):
        rows.append(
            {
                "metric": f"{factor} impact",
                "base": 0.0,
                **{
                    n: s["factor_contributions"].get(factor) if s["total_delta_pl"] is not None else None
                    for n, s in scenarios.items()
                },
            }
        )
    valued = {n: s for n, s in scenarios.items() if s["total_delta_pl"] is not None}
    if len(valued) < len(scenarios):
        warnings.append(f"no result for {sorted(set(scenarios) - set(valued))}: left out of the worst case")
    worst = min(valued, key=lambda n: valued[n]["total_delta_pl"]) if valued else None
    return {
        "rows": rows,
        "worst_scenario": worst,
        "worst_return_pct": valued[worst]["total_delta_pl_pct"] if worst else None,
    }


@REGISTRY.register("financial_analyst.suggest_hedges", "financial_analyst")
def suggest_hedges(
    conn, ctx, warnings, portfolio_id: str, scenario_result: dict, max_cost_bps: float = 20, valued: dict | None = None
) -> dict:
    """Hedges for the scenario's loss from the playbook, kept within max_cost_bps of portfolio value
    (DawsOS accepted max_cost_bps and ignored it). Notional shares and costs are configured, and labelled so.
    """
    scenario = scenario_result["scenario_id"]
    family = next((k for k in HEDGE_PLAYBOOK if scenario.startswith(k)), None) or (
        "equity_selloff" if scenario_result["factor_contributions"].get("equity_market", 0) < 0 else "rates_up"
    )
    loss = -sum(r["delta_value"] for r in scenario_result["positions"] if (r["delta_value"] or 0) < 0)
    if scenario_result["total_delta_pl"] is None:
        warnings.append(f"no result for scenario {scenario}: no hedge can be sized")
    nav = scenario_result["pre_shock_nav"] or 0.0
    budget = nav * max_cost_bps / 10_000
    hedges, spent = [], 0.0
    for name, instruments, share, cost_bps in HEDGE_PLAYBOOK[family] if loss else []:
        notional = loss * share
        cost = notional * cost_bps / 10_000
        if spent + cost > budget:  # scale down to what the budget still allows
            notional = max(0.0, (budget - spent) * 10_000 / cost_bps)
            cost = notional * cost_bps / 10_000
        if notional <= 0:
            warnings.append(f"{name}: no budget left within {max_cost_bps} bps")
            continue
        spent += cost
        hedges.append(
            {
                "instrument": instruments[0],
                "strategy": name,
                "instruments": instruments,
                "action": "BUY",
                "notional": round(notional, 2),
                "cost": round(cost, 2),
                "cost_bps": cost_bps,
                "cost_source": "configured",
                "effectiveness": round(min(1.0, notional / loss), 4),
                "size": round(notional, 2),
            }
        )
    return {
        "scenario_id": scenario,
        "family": family,
        "hedges": hedges,
        "suggestions": hedges,
        "total_notional": round(sum(h["notional"] for h in hedges), 2),
        "total_cost": round(spent, 2),
        "total_cost_bps": round(spent / nav * 10_000, 4) if nav else None,
        "max_cost_bps": max_cost_bps,
        "expected_offset_pct": round(100 * sum(h["notional"] for h in hedges) / loss, 2) if loss else None,
        "suggestions_count": len(hedges),
        "cost_source": HEDGE_COST_SOURCE,
    }


@REGISTRY.register("financial_analyst.suggest_deleveraging_hedges", "financial_analyst")
def suggest_deleveraging_hedges(
    conn, ctx, warnings, portfolio_id: str, ltdc_phase: str | None, scenarios: dict
) -> dict:
    """Hedges from the playbook of the regime the long-term debt cycle phase points to."""
    phase = (ltdc_phase or "").lower()
    regime = (
        "DELEVERAGING"
        if phase.startswith(("deleveraging", "debt crisis", "depression", "top"))
        else "REFLATION"
        if phase.startswith("reflation")
        else "LATE_EXPANSION"
        if phase.startswith(("bubble", "expansion"))
        else "BALANCED"
    )
    playbook = {
        "DELEVERAGING": [
            ("reduce_equity_exposure", ["SPY", "QQQ", "VTI"], "-40%"),
            ("increase_safe_havens", ["GLD", "TLT", "CASH"], "to 30%"),
            ("avoid_credit", ["HYG", "JNK"], "-100%"),
        ],
        "LATE_EXPANSION": [
            ("reduce_equity_exposure", ["SPY", "QQQ"], "-20%"),
            ("increase_defensive", ["XLU", "XLP", "VNQ"], "to 15%"),
        ],
        "REFLATION": [
            ("reduce_duration", ["TLT", "IEF"], "-50%"),
            ("increase_inflation_hedges", ["GLD", "TIP", "DBC"], "to 20%"),
        ],
        "BALANCED": [("maintain_balance", [], "")],
    }[regime]
    return {
        "regime": regime,
        "ltdc_phase": ltdc_phase,
        "worst_scenario": scenarios.get("worst_scenario"),
        "recommendations": [{"strategy_name": n, "instruments": i, "change": c} for n, i, c in playbook],
    }
