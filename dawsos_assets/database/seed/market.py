"""Securities, pricing packs, prices and FX: deterministic paths anchored on the facts' reference prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from dawsos_assets.database.seed import reference as ref

# USD-based rates at LEGACY_AS_OF; every cross is derived from them, so triangles always agree.
USD_PER = {"USD": 1.0, "CAD": 1 / 1.3625, "EUR": 1.088, "GBP": 1.266, "JPY": 1 / 149.7}
FX_PAIRS = [
    ("USD", "CAD"),
    ("CAD", "USD"),
    ("EUR", "CAD"),
    ("EUR", "USD"),
    ("GBP", "CAD"),
    ("GBP", "USD"),
    ("JPY", "CAD"),
]
PACK_POLICY = "WM4PM_CAD"


def business_days(start: date, end: date) -> list[date]:
    """The weekdays from `start` to `end`, both included."""
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def pack_id(day: date) -> str:
    """Id of the pricing pack of `day`."""
    return f"PP_{day.isoformat()}"


@dataclass
class Security:
    """A security of the seed market."""

    id: str
    symbol: str
    name: str
    security_type: str
    exchange: str
    currency: str
    domicile: str
    sector: str
    reference_price: float


def all_securities() -> list[Security]:
    """The demo and test securities plus the other listed ones."""
    listed = [
        Security(sid, sym, name, kind, exch, ccy, dom, sector, px)
        for sym, sid, name, kind, exch, ccy, dom, sector, px in ref.DEMO_SECURITIES + ref.TEST_SECURITIES
    ]
    for symbol, sector, ccy, px in ref.OTHER_SECURITIES:
        exchange = "TSX" if ccy == "CAD" else "NYSE"
        kind = "etf" if symbol.startswith(("X", "V")) and symbol.endswith(".TO") else "equity"
        listed.append(
            Security(
                ref.stable_id(f"security:{symbol}"),
                symbol,
                f"{symbol} (demo)",
                kind,
                exchange,
                ccy,
                "CA" if ccy == "CAD" else "US",
                sector,
                px,
            )
        )
    return listed


@dataclass
class Market:
    """Daily closes of every security and USD rates of every currency over the history."""

    days: list[date]
    securities: list[Security]
    closes: np.ndarray  # [security, day], in each security's trading currency
    usd_per: dict[str, np.ndarray]  # currency -> USD per unit, per day

    def day_index(self, day: date) -> int:
        """Index of the last pack on or before `day` (events on weekends count from the next pack)."""
        return int(np.searchsorted(self._ordinals, day.toordinal(), side="right")) - 1

    def effective_index(self, day: date) -> int:
        """Index of the first pack on or after `day`: the valuation that first includes an event of that date."""
        return int(np.searchsorted(self._ordinals, day.toordinal(), side="left"))

    def __post_init__(self):
        self._ordinals = np.array([d.toordinal() for d in self.days])
        self.row = {s.id: i for i, s in enumerate(self.securities)}

    def adopt_ids(self, new_ids: dict[str, str]) -> None:
        """Give securities the ids a database already uses for them (old id -> new id)."""
        for security in self.securities:
            security.id = new_ids.get(security.id, security.id)
        self.row = {s.id: i for i, s in enumerate(self.securities)}

    def close(self, security_id: str, index: int) -> float:
        """Close of a security at a day index, in its trading currency."""
        return float(self.closes[self.row[security_id], index])

    def fx(self, base: str, quote: str, index: int) -> float:
        """Quote units per one unit of base on pack `index` (fx_rates.rate semantics)."""
        if base == quote:
            return 1.0
        return round(float(self.usd_per[base][index] / self.usd_per[quote][index]), 10)


def build_market(rng: np.random.Generator, start: date = ref.HISTORY_START, end: date = ref.LEGACY_AS_OF) -> Market:
    """A random market: business days from `start` to `end` and a price path for each security."""
    days = business_days(start, end)
    securities = all_securities()
    n = len(days)
    closes = np.empty((len(securities), n))
    for i, sec in enumerate(securities):
        if sec.symbol == "BBUC":  # a cash fund: constant 1.00
            closes[i] = 1.0
            continue
        vol = 0.012 if sec.security_type == "etf" else 0.018
        steps = rng.normal(0.0003, vol, n - 1)
        log_path = np.concatenate([[0.0], np.cumsum(steps)])
        closes[i] = np.round(sec.reference_price * np.exp(log_path - log_path[-1]), 4)
    usd_per = {"USD": np.ones(n)}
    for ccy, anchor in USD_PER.items():
        if ccy == "USD":
            continue
        path = np.concatenate([[0.0], np.cumsum(rng.normal(0, 0.003, n - 1))])
        usd_per[ccy] = anchor * np.exp(path - path[-1])
    return Market(days, securities, closes, usd_per)


def securities_rows(market: Market) -> list[tuple]:
    """Rows of the securities table."""
    return [
        (s.id, s.symbol, s.name, s.security_type, s.exchange, s.currency, s.currency, s.domicile, s.sector)
        for s in market.securities
    ]


def pricing_pack_rows(market: Market) -> list[tuple]:
    """Rows of pricing_packs, one per business day."""
    import hashlib

    rows = []
    for day in market.days:
        digest = hashlib.sha256(f"{day.isoformat()}|{PACK_POLICY}".encode()).hexdigest()
        rows.append(
            (
                pack_id(day),
                day,
                PACK_POLICY,
                f"sha256:{digest}",
                '{"FMP": true, "manual": true}',
                "fresh",
                True,
                True,
                True,
                False,
            )
        )
    return rows


def price_rows(market: Market, rng: np.random.Generator) -> list[tuple]:
    """Rows of prices: each security's close, open, high, low and volume per day."""
    rows = []
    for s_index, sec in enumerate(market.securities):
        closes = market.closes[s_index]
        spread = rng.uniform(0, 0.01, len(market.days))
        volume = rng.integers(1_000_000, 5_000_000, len(market.days))
        for d_index, day in enumerate(market.days):
            close = round(float(closes[d_index]), 4)
            open_ = round(close * (1 + (spread[d_index] - 0.005)), 4)
            high = round(max(open_, close) * (1 + spread[d_index] / 2), 4)
            low = round(min(open_, close) * (1 - spread[d_index] / 2), 4)
            rows.append(
                (
                    ref.stable_id(f"price:{sec.symbol}:{day}"),
                    sec.id,
                    pack_id(day),
                    day,
                    close,
                    open_,
                    high,
                    low,
                    int(volume[d_index]),
                    sec.currency,
                    "manual",
                )
            )
    return rows


def fx_rows(market: Market) -> list[tuple]:
    """Rows of fx_rates for each currency pair and day."""
    rows = []
    for d_index, day in enumerate(market.days):
        for base, quote in FX_PAIRS:
            rows.append(
                (
                    ref.stable_id(f"fx:{base}{quote}:{day}"),
                    pack_id(day),
                    base,
                    quote,
                    f"{day} 16:00:00+00",
                    market.fx(base, quote, d_index),
                    "WM/Reuters",
                    PACK_POLICY,
                )
            )
    return rows
