"""The conventions behind the pattern figures, stated once: the README quotes them and every pattern asset's
materialization metadata lists the ones its capabilities follow.
"""

from __future__ import annotations

from dawsos_assets.patterns.loader import Pattern
from dawsos_assets.patterns.registry import CapabilityRegistry

CONVENTIONS = {
    "invested_totals": "Totals and weights are over the invested positions valued at the pack in the base currency: "
    "cash is excluded, and a position without a price or rate is left out (with a warning).",
    "unrealized_pnl": "Unrealized P&L is market value minus cost basis, both converted at the pack's (today's) FX "
    "rate: it holds no FX gain or loss since acquisition.",
    "twr_window": "twr_1y and the risk statistics use the last 252 daily returns (lookback_days), not a calendar year; "
    "an external flow counts at the end of its day: r = (V_t - CF_t - V_t-1) / V_t-1.",
    "attribution_window": "Attribution holds today's shares from the pack on or before as-of minus lookback_days x "
    "365/252 calendar days to the latest pack.",
}
# consolidated capability name -> the conventions its figures follow
FOLLOWED_BY = {
    "pricing.apply_pack": ["invested_totals", "unrealized_pnl"],
    "get_position_details": ["invested_totals", "unrealized_pnl"],
    "metrics.compute_twr": ["twr_window"],
    "compute_position_return": ["twr_window"],
    "compute_position_risk": ["twr_window"],
    "attribution.currency": ["invested_totals", "attribution_window"],
    "compute_portfolio_contribution": ["invested_totals", "attribution_window"],
    "compute_position_currency_attribution": ["invested_totals", "attribution_window"],
    "portfolio.sector_allocation": ["invested_totals"],
    "risk.compute_factor_exposures": ["invested_totals"],
    "macro.run_scenario": ["invested_totals"],
    "macro.compute_dar": ["invested_totals"],
    "financial_analyst.propose_trades": ["invested_totals"],
    "news.compute_portfolio_impact": ["invested_totals"],
}


def conventions_for(pattern: Pattern, registry: CapabilityRegistry) -> dict[str, str]:
    """The conventions the pattern's steps follow, in a stable order."""
    capabilities = [registry.resolve(s["capability"]).name for s in pattern.steps if registry.knows(s["capability"])]
    followed = {name for capability in capabilities for name in FOLLOWED_BY.get(capability, [])}
    return {name: text for name, text in CONVENTIONS.items() if name in followed}
