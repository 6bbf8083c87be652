"""Rebalancing toward a policy (DawsOS's services/optimizer.py): equal weight under the single-position cap, within
the turnover limit, in whole shares, every value in the portfolio's base currency.

The turnover budget goes first to the trades that cure a cap breach, spent so that the largest position comes
down first (the remaining largest weight is as small as the budget allows); what is left goes to the other trades,
scaled in proportion. Trades below the minimum lot value are dropped after scaling. Whatever stays unmet — a
breach, a scaled or dropped trade — is a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dawsos_assets.patterns.registry import REGISTRY

COMMISSION, IMPACT_BPS = 5.0, 15.0  # services/optimizer.py's defaults
DEFAULT_CAP_PCT, DEFAULT_TURNOVER_PCT, DEFAULT_MIN_LOT = 20.0, 10.0, 100.0


@dataclass
class Holding:
    """One holding during a rebalance: its value in the base currency and the trades planned for it."""

    symbol: str
    security_id: str
    currency: str
    price: float
    fx_rate: float
    value: float  # market value in the base currency
    cure: float = 0.0  # base-currency value sold to bring the holding toward the cap (<= 0)
    rebalance: float = 0.0  # base-currency value traded toward the target weight after the cure
    shares: int = 0

    @property
    def unit(self) -> float:
        """One share in the base currency."""
        return self.price * self.fx_rate

    @property
    def trade_value(self) -> float:
        """The base-currency value of the planned whole-share trade."""
        return abs(self.shares) * self.unit


def _holdings(positions: dict) -> list[Holding]:
    return [
        Holding(p["symbol"], p["security_id"], p["currency"], p["price"], p["fx_rate"], p["market_value"])
        for p in positions["positions"]
        if p["market_value"] and p["price"] and p["fx_rate"]
    ]


def _level_for_budget(values: list[float], floor: float, budget: float) -> float:
    """The level L >= floor such that selling every value above L down to L costs at most `budget`."""
    above = sorted((v for v in values if v > floor), reverse=True)
    spent = 0.0
    for i, value in enumerate(above):
        lower = above[i + 1] if i + 1 < len(above) else floor
        step = (i + 1) * (value - lower)  # bring the i + 1 largest down from `value` to `lower`
        if spent + step >= budget:
            return value - (budget - spent) / (i + 1)
        spent += step
    return floor


def _plan(holdings: list[Holding], total: float, cap: float, target: float, budget: float) -> float:
    """Fill each holding's cure and rebalance parts within the budget; returns the share of the rebalancing
    trades that fits (1 = all of it).
    """
    level = _level_for_budget([h.value for h in holdings], cap * total, budget)
    for h in holdings:
        h.cure = min(0.0, level - h.value)
        h.rebalance = target * total - (h.value + h.cure)
    left = max(0.0, budget + sum(h.cure for h in holdings))
    wanted = sum(abs(h.rebalance) for h in holdings)
    scale = min(1.0, left / wanted) if wanted else 1.0
    for h in holdings:
        h.shares = math.trunc((h.cure + scale * h.rebalance) / h.unit)
    return scale


def _top_up_cures(holdings: list[Holding], total: float, cap: float, budget: float) -> None:
    """Whole shares round toward zero; sell one more share of a holding still above the cap if the budget allows."""
    for h in sorted(holdings, key=lambda h: -(h.value + h.shares * h.unit)):
        turnover = sum(x.trade_value for x in holdings)
        if h.value + h.shares * h.unit > cap * total and turnover + h.unit <= budget:
            h.shares -= 1


def _trade(h: Holding, total: float, cap: float, target: float) -> dict:
    cures = h.value > cap * total and h.shares < 0
    reason = f"cures the {cap:.0%} cap breach" if cures else f"toward equal weight {target:.1%}"
    value = h.trade_value
    return {
        "symbol": h.symbol,
        "security_id": h.security_id,
        "action": "BUY" if h.shares > 0 else "SELL",
        "quantity": h.shares,
        "price": h.price,
        "currency": h.currency,
        "fx_rate": h.fx_rate,
        "trade_value": round(value, 2),
        "reason": reason,
        "weight_before": h.value / total,
        "weight_after": (h.value + h.shares * h.unit) / total,
        "estimated_cost": round(COMMISSION + value * IMPACT_BPS / 10_000, 2),
    }


@REGISTRY.register("financial_analyst.propose_trades", "financial_analyst")
def propose_trades(
    conn,
    ctx,
    warnings,
    portfolio_id: str,
    positions: dict,
    ratings: dict,
    policies: list,
    constraints: dict,
    pack_id: str,
) -> dict:
    """Trades toward equal weight of the valued holdings, capped at max_single_position, within the turnover
    limit; breaches are cured first. Turnover and trade values are in the base currency over invested value.
    """
    cap = next((p.get("value") for p in policies if p.get("type") == "max_single_position"), DEFAULT_CAP_PCT) / 100
    limit = constraints.get("max_turnover_pct", DEFAULT_TURNOVER_PCT) / 100
    min_lot = constraints.get("min_lot_value", DEFAULT_MIN_LOT)
    holdings = _holdings(positions)
    total = sum(h.value for h in holdings)
    target = min(1 / len(holdings), cap) if holdings else 0.0
    scale = _plan(holdings, total, cap, target, limit * total)
    if scale < 1:
        warnings.append(
            f"trades toward equal weight scaled to {scale:.1%} of their size: the {limit:.0%} turnover "
            "limit serves the cap breaches first"
        )
    small = [h for h in holdings if h.shares and h.trade_value < min_lot]
    if small:
        warnings.append(
            f"dropped below the minimum lot value of {min_lot:,.0f} {ctx.base_currency}: "
            f"{', '.join(h.symbol for h in small)}"
        )
    for h in small:
        h.shares = 0
    _top_up_cures(holdings, total, cap, limit * total)
    trades = sorted(
        (_trade(h, total, cap, target) for h in holdings if h.shares),
        key=lambda t: (not t["reason"].startswith("cures"), -t["trade_value"]),
    )
    breached = [
        (h.symbol, (h.value + h.shares * h.unit) / total) for h in holdings if h.value + h.shares * h.unit > cap * total
    ]
    for symbol, weight in breached:
        warnings.append(
            f"{symbol} stays at {weight:.1%}, above the {cap:.0%} cap: the {limit:.0%} turnover limit "
            "leaves the breach unmet"
        )
    traded = sum(t["trade_value"] for t in trades)
    costs = sum(t["estimated_cost"] for t in trades)
    return {
        "trades": trades,
        "trade_count": len(trades),
        "total_turnover": traded,
        "turnover_pct": 100 * traded / total if total else 0,
        "turnover_limit_pct": 100 * limit,
        "estimated_costs": costs,
        "cost_bps": 10_000 * costs / total if total else 0,
        "current_value": total,
        "currency": ctx.base_currency,
        "cap_pct": 100 * cap,
        "constraints_met": not breached and scale == 1,
        "breaches_left": [{"symbol": s, "weight": w} for s, w in breached],
        "method": "equal weight, capped; cap breaches cured first",
    }


@REGISTRY.register("financial_analyst.analyze_impact", "financial_analyst")
def analyze_impact(conn, ctx, warnings, current_positions: dict, proposed_trades: list, pack_id: str) -> dict:
    """Portfolio value and top-10 concentration before and after the proposed trades."""
    values = {p["symbol"]: p["market_value"] or 0 for p in current_positions["positions"]}
    after = dict(values)
    for t in proposed_trades:
        after[t["symbol"]] = after.get(t["symbol"], 0) + (
            t["trade_value"] if t["action"] == "BUY" else -t["trade_value"]
        )

    def top10(v):
        total = sum(v.values())
        return 100 * sum(sorted(v.values(), reverse=True)[:10]) / total if total else None

    return {
        "current_value": sum(values.values()),
        "post_value": sum(after.values()),
        "current_concentration_top10": top10(values),
        "post_concentration_top10": top10(after),
        "concentration_delta": (top10(after) or 0) - (top10(values) or 0),
    }
