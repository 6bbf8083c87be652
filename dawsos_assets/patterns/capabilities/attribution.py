"""Return attribution of the current holdings between two pricing packs (DawsOS's currency_attribution.py and
holding drill-down): the portfolio's local, FX and interaction parts, and one holding's contribution and currency
parts.

Every figure uses the same convention: the shares held today, valued at the start and end packs in the base
currency; weights are start values over the invested total (cash excluded). A holding without a price or rate at
either end is left out, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dawsos_assets.patterns.capabilities.portfolio import TRADING_DAYS, fx_rate, ledger_positions
from dawsos_assets.patterns.registry import REGISTRY


@dataclass(frozen=True)
class HeldReturn:
    """One holding's value at the start pack and its local and currency returns to the end pack."""

    security_id: str
    symbol: str
    currency: str
    start_value: float  # base currency
    local: float  # price return in the trading currency
    fx: float  # return of the trading currency against the base currency

    @property
    def total(self) -> float:
        """The holding's total return in the base currency (local and FX compounded)."""
        return (1 + self.local) * (1 + self.fx) - 1


def _start_pack(conn, ctx, lookback_days: int) -> str | None:
    day = ctx.asof_date - pd.Timedelta(days=int(lookback_days * 365 / TRADING_DAYS))
    row = conn.execute(
        "SELECT id FROM pricing_packs WHERE superseded_by IS NULL AND asof_date <= %s ORDER BY asof_date DESC LIMIT 1",
        (day,),
    ).fetchone()
    return row[0] if row else None


def held_returns(
    conn, ctx, warnings, portfolio_id: str, pack_id: str, lookback_days: int
) -> tuple[str | None, list[HeldReturn]]:
    """The start pack of the window and each current holding's returns over it."""
    start = _start_pack(conn, ctx, lookback_days)
    if start is None:
        warnings.append("no pricing pack at the start of the window: attribution is null")
        return None, []
    held = []
    for p in ledger_positions(conn, ctx, warnings, portfolio_id)["positions"]:
        prices = dict(
            conn.execute(
                "SELECT pricing_pack_id, close FROM prices WHERE security_id = %s AND pricing_pack_id IN (%s, %s)",
                (p["security_id"], start, pack_id),
            ).fetchall()
        )
        fx_start = fx_rate(conn, ctx, p["currency"], ctx.base_currency, start)
        fx_end = fx_rate(conn, ctx, p["currency"], ctx.base_currency, pack_id)
        if start not in prices or pack_id not in prices or fx_start is None or fx_end is None:
            warnings.append(f"{p['symbol']}: missing price or FX at one end, left out of the attribution")
            continue
        held.append(
            HeldReturn(
                p["security_id"],
                p["symbol"],
                p["currency"],
                p["quantity"] * float(prices[start]) * fx_start,
                float(prices[pack_id]) / float(prices[start]) - 1,
                fx_end / fx_start - 1,
            )
        )
    return start, held


@REGISTRY.register(
    "attribution.currency", "financial_analyst", reads=("fx_rates", "lots", "prices", "pricing_packs", "securities")
)
def currency_attribution(
    conn, ctx, warnings, portfolio_id: str, pack_id: str, lookback_days: int = TRADING_DAYS
) -> dict:
    """Local, FX and interaction returns weighted by start value (DawsOS never filled the weights); together they
    are the base-currency return of the holdings.
    """
    start, held = held_returns(conn, ctx, warnings, portfolio_id, pack_id, lookback_days)
    if not held:
        warnings.append("no holding has prices and rates at both ends: attribution is null")
        return {
            "start_pack": start,
            "end_pack": pack_id,
            "base_currency": ctx.base_currency,
            "local_return": None,
            "fx_return": None,
            "interaction": None,
            "interaction_return": None,
            "total_return": None,
            "by_currency": {},
        }
    total_start = sum(h.start_value for h in held)
    parts = {"weight": 0.0, "local": 0.0, "fx": 0.0, "interaction": 0.0}
    by_currency: dict[str, dict] = {}
    for h in held:
        weight = h.start_value / total_start
        for bucket in (parts, by_currency.setdefault(h.currency, dict.fromkeys(parts, 0.0))):
            bucket["weight"] += weight
            bucket["local"] += weight * h.local
            bucket["fx"] += weight * h.fx
            bucket["interaction"] += weight * h.local * h.fx
    return {
        "start_pack": start,
        "end_pack": pack_id,
        "base_currency": ctx.base_currency,
        "local_return": parts["local"],
        "fx_return": parts["fx"],
        "interaction": parts["interaction"],
        "interaction_return": parts["interaction"],
        "total_return": parts["local"] + parts["fx"] + parts["interaction"],
        "by_currency": by_currency,
    }


def _holding(
    conn, ctx, warnings, portfolio_id, security_id, pack_id, lookback_days
) -> tuple[str | None, HeldReturn | None, float, float]:
    """One holding's returns, its start weight and the holdings' total return over the same window."""
    start, held = held_returns(conn, ctx, warnings, portfolio_id, pack_id, lookback_days)
    mine = next((h for h in held if h.security_id == security_id), None)
    if mine is None:
        warnings.append(f"security {security_id} has no return over the window: its attribution is null")
        return start, None, 0.0, 0.0
    total_start = sum(h.start_value for h in held)
    return start, mine, mine.start_value / total_start, sum(h.start_value / total_start * h.total for h in held)


@REGISTRY.register(
    "compute_portfolio_contribution",
    "financial_analyst",
    reads=("fx_rates", "lots", "prices", "pricing_packs", "securities"),
)
def portfolio_contribution(
    conn, ctx, warnings, portfolio_id: str, security_id: str, pack_id: str, lookback_days: int = TRADING_DAYS
) -> dict:
    """The holding's contribution to the holdings' return: start weight x its base-currency return (DawsOS
    divided by a placeholder 10 % for the share of the portfolio return).
    """
    start, mine, weight, portfolio_return = _holding(
        conn, ctx, warnings, portfolio_id, security_id, pack_id, lookback_days
    )
    contribution = weight * mine.total if mine else None
    return {
        "security_id": security_id,
        "start_pack": start,
        "end_pack": pack_id,
        "weight_start": weight if mine else None,
        "position_return": mine.total if mine else None,
        "total_contribution": contribution,
        "portfolio_return": portfolio_return if mine else None,
        "pct_of_portfolio_return": contribution / portfolio_return if mine and portfolio_return else None,
    }


@REGISTRY.register(
    "compute_position_currency_attribution",
    "financial_analyst",
    reads=("fx_rates", "lots", "prices", "pricing_packs", "securities"),
)
def position_currency_attribution(
    conn, ctx, warnings, portfolio_id: str, security_id: str, pack_id: str, lookback_days: int = TRADING_DAYS
) -> dict:
    """The holding's local, FX and interaction returns, and each weighted by its start weight: its share of
    the portfolio's currency attribution.
    """
    start, mine, weight, _ = _holding(conn, ctx, warnings, portfolio_id, security_id, pack_id, lookback_days)
    if mine is None:
        return {
            "security_id": security_id,
            "start_pack": start,
            "end_pack": pack_id,
            "local_return": None,
            "fx_return": None,
            "interaction": None,
            "local_contribution": None,
            "fx_contribution": None,
            "interaction_contribution": None,
        }
    return {
        "security_id": security_id,
        "start_pack": start,
        "end_pack": pack_id,
        "currency": mine.currency,
        "base_currency": ctx.base_currency,
        "local_return": mine.local,
        "fx_return": mine.fx,
        "interaction": mine.local * mine.fx,
        "total_return": mine.total,
        "weight_start": weight,
        "local_contribution": weight * mine.local,
        "fx_contribution": weight * mine.fx,
        "interaction_contribution": weight * mine.local * mine.fx,
    }
