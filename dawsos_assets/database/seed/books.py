"""Portfolio books: trades become lots and transactions; replaying them gives daily values and cash flows.

Every number in portfolio_daily_values follows from the transactions and the pack prices and FX, so the
lots (quantity_open per security), the transactions and the daily values agree by construction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.market import Market

DIVIDEND_SECTORS = {
    "Financial Services",
    "Energy",
    "Consumer Defensive",
    "Healthcare",
    "Communication Services",
    "Industrials",
}
GENERATED_NAMES = [
    ("Global Growth", "USD"),
    ("Canadian Dividend Income", "CAD"),
    ("US Core Equity", "USD"),
    ("Balanced Retirement", "CAD"),
    ("Technology Tilt", "USD"),
    ("North American Value", "CAD"),
]


@dataclass
class Portfolio:
    """A portfolio row of the seed data."""

    id: str
    user_id: str
    name: str
    base_currency: str
    description: str = ""
    benchmark_id: str = "SPY"


@dataclass
class Lot:
    """A tax lot of the seed data."""

    id: str
    portfolio_id: str
    security_id: str
    symbol: str
    acquisition_date: date
    qty_original: float
    qty_open: float
    cost_basis: float
    cost_basis_per_share: float
    currency: str
    closed_date: date | None = None
    is_open: bool = True
    quantity: float | None = None  # the legacy column; 007's backfill rule makes it qty_original

    def __post_init__(self):
        if self.quantity is None:
            self.quantity = self.qty_original


@dataclass
class Transaction:
    """A transaction of the seed data."""

    id: str
    portfolio_id: str
    transaction_type: str
    security_id: str | None
    symbol: str | None
    transaction_date: date
    quantity: float | None
    price: float | None
    amount: float
    currency: str
    fee: float = 0.0
    lot_id: str | None = None
    settlement_days: int = 2
    narration: str = ""


@dataclass
class Book:
    """One portfolio with its lots, transactions, deposit, daily values and cash flows."""

    portfolio: Portfolio
    lots: list[Lot] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    deposit: tuple[date, float] | None = None
    daily_values: list[tuple] = field(default_factory=list)
    cash_flows: list[tuple] = field(default_factory=list)


# -- demo and test portfolios (seed_portfolio_data.sql and the plan's Test Portfolio Alpha) ----------------------------
def demo_book(market: Market) -> Book:
    """The demo portfolio of the legacy seed data."""
    by_symbol = {s.symbol: s for s in market.securities}
    portfolio = Portfolio(
        ref.DEMO_PORTFOLIO_ID,
        ref.MICHAEL_USER_ID,
        "DawsOS Demo Portfolio",
        "USD",
        "michael@dawsos.com's portfolio from seed_portfolio_data.sql",
    )
    book = Book(portfolio)
    for i, (symbol, acquired, qty, cost, per_share) in enumerate(ref.DEMO_LOTS):
        sec = by_symbol[symbol]
        book.lots.append(
            Lot(
                ref.stable_id(f"lot:demo:{i}"),
                portfolio.id,
                sec.id,
                symbol,
                acquired,
                qty,
                qty,
                cost,
                per_share,
                sec.currency,
            )
        )
    for i, (symbol, kind, day, qty, price) in enumerate(ref.DEMO_TRADES):
        sec = by_symbol[symbol]
        fee = 15.0 if symbol == "EVO" else 0.0 if symbol == "BBUC" else 10.0
        lot = next(lot for lot in book.lots if lot.symbol == symbol and (kind == "SELL" or lot.acquisition_date == day))
        book.transactions.append(
            Transaction(
                ref.stable_id(f"txn:demo:{i}"),
                portfolio.id,
                kind,
                sec.id,
                symbol,
                day,
                qty,
                price,
                round(-qty * price if kind == "BUY" else qty * price, 2),
                sec.currency,
                fee,
                lot.id,
                0 if symbol == "BBUC" else 2,
                f"{kind} {qty} {symbol} @ {price}",
            )
        )
    for i, (symbol, day, amount) in enumerate(ref.DEMO_DIVIDENDS):
        sec = by_symbol[symbol]
        book.transactions.append(
            Transaction(
                ref.stable_id(f"txn:demo:div:{i}"),
                portfolio.id,
                "DIVIDEND",
                sec.id,
                symbol,
                day,
                None,
                None,
                amount,
                sec.currency,
                settlement_days=0,
                narration=f"{symbol} dividend",
            )
        )
    return book


def alpha_book(market: Market) -> Book:
    """Test Portfolio Alpha, the portfolio the legacy validation figures were computed on."""
    by_symbol = {s.symbol: s for s in market.securities}
    portfolio = Portfolio(
        ref.ALPHA_PORTFOLIO_ID,
        ref.DEMO_USER_ID,
        ref.ALPHA_NAME,
        "USD",
        "The refactoring plan's validation portfolio (test-portfolio-001)",
    )
    book = Book(portfolio)
    for i, (symbol, qty, cost, per_share) in enumerate(ref.ALPHA_LOTS):
        sec = by_symbol[symbol]
        lot = Lot(
            ref.stable_id(f"lot:alpha:{i}"),
            portfolio.id,
            sec.id,
            symbol,
            ref.ALPHA_ACQUISITION,
            qty,
            qty,
            cost,
            per_share,
            sec.currency,
        )
        book.lots.append(lot)
        book.transactions.append(
            Transaction(
                ref.stable_id(f"txn:alpha:{i}"),
                portfolio.id,
                "BUY",
                sec.id,
                symbol,
                ref.ALPHA_ACQUISITION,
                qty,
                per_share,
                -cost,
                sec.currency,
                0.0,
                lot.id,
                narration=f"BUY {qty} {symbol} @ {per_share}",
            )
        )
    return book


# -- generated portfolios ------------------------------------------------------------------------------------------
def _round_quantity(raw: float) -> float:
    qty = max(1, round(raw))
    return float(qty if qty < 20 else 5 * round(qty / 5))


def generated_portfolio(number: int) -> Portfolio:
    """The portfolio row of generated portfolio `number` (names cycle through a fixed list)."""
    name, base = GENERATED_NAMES[number % len(GENERATED_NAMES)]
    suffix = "" if number < len(GENERATED_NAMES) else f" {number // len(GENERATED_NAMES) + 1}"
    return Portfolio(
        ref.stable_id(f"portfolio:generated:{number}"),
        ref.DEMO_USER_ID,
        f"{name}{suffix}",
        base,
        f"Generated demo portfolio #{number}",
        "SPY" if base == "USD" else "XIC.TO",
    )


def generated_book(rng: np.random.Generator, market: Market, number: int) -> Book:
    """A generated portfolio with random lots bought over the history, and its transactions."""
    book = Book(generated_portfolio(number))
    tradable = [s for s in market.securities if s.symbol not in ("BBUC", "SPY")]
    picks = rng.choice(len(tradable), size=int(rng.integers(8, 15)), replace=False)
    n_days = len(market.days)
    for pick in picks:
        sec = tradable[int(pick)]
        for _ in range(int(rng.integers(1, 4))):
            _buy_lot(rng, market, book, sec, int(rng.integers(0, int(0.7 * n_days))))
    _add_dividends(rng, market, book)
    _add_fees(rng, market, book)
    return book


def _buy_lot(rng, market: Market, book: Book, sec, day_index: int) -> None:
    day = market.days[day_index]
    price = round(market.close(sec.id, day_index), 2)
    fx = market.fx(sec.currency, book.portfolio.base_currency, day_index)
    qty = _round_quantity(rng.uniform(5_000, 30_000) / (price * fx))
    fee = 9.99
    k = len(book.lots)
    lot = Lot(
        ref.stable_id(f"lot:{book.portfolio.id}:{k}"),
        book.portfolio.id,
        sec.id,
        sec.symbol,
        day,
        qty,
        qty,
        round(qty * price + fee, 2),
        round((qty * price + fee) / qty, 6),
        sec.currency,
    )
    book.lots.append(lot)
    book.transactions.append(
        Transaction(
            ref.stable_id(f"txn:{book.portfolio.id}:buy:{k}"),
            book.portfolio.id,
            "BUY",
            sec.id,
            sec.symbol,
            day,
            qty,
            price,
            round(-qty * price, 2),
            sec.currency,
            fee,
            lot.id,
            narration=f"BUY {qty:g} {sec.symbol}",
        )
    )
    if rng.random() < 0.4 and day_index < len(market.days) - 10:
        sell_index = int(rng.integers(day_index + 5, len(market.days) - 1))
        full = rng.random() < 0.5
        sold = qty if full else max(1.0, float(np.floor(qty * rng.uniform(0.2, 0.8))))
        if sold >= qty:
            sold, full = qty, True
        sell_price = round(market.close(sec.id, sell_index), 2)
        sell_day = market.days[sell_index]
        lot.qty_open = qty - sold
        lot.is_open = not full
        lot.closed_date = sell_day if full else None
        book.transactions.append(
            Transaction(
                ref.stable_id(f"txn:{book.portfolio.id}:sell:{k}"),
                book.portfolio.id,
                "SELL",
                sec.id,
                sec.symbol,
                sell_day,
                sold,
                sell_price,
                round(sold * sell_price, 2),
                sec.currency,
                fee,
                lot.id,
                narration=f"SELL {sold:g} {sec.symbol}",
            )
        )


def held_quantity(book: Book, security_id: str, day: date) -> float:
    """Shares of a security held at the end of `day`, from the transactions."""
    held = 0.0
    for txn in book.transactions:
        if txn.security_id == security_id and txn.transaction_date <= day:
            held += (
                txn.quantity
                if txn.transaction_type == "BUY"
                else -txn.quantity
                if txn.transaction_type == "SELL"
                else 0
            )
    return held


def _add_dividends(rng, market: Market, book: Book) -> None:
    payers = {lot.security_id for lot in book.lots}
    by_id = {s.id: s for s in market.securities}
    for security_id in sorted(payers):
        sec = by_id[security_id]
        if sec.sector not in DIVIDEND_SECTORS:
            continue
        per_share = round(sec.reference_price * rng.uniform(0.02, 0.045) / 4, 4)
        for year in (2024, 2025):
            for month in (3, 6, 9):
                pay_day = date(year, month, 15)
                if pay_day > market.days[-1]:
                    continue
                held = held_quantity(book, security_id, pay_day)
                if held > 0:
                    k = len(book.transactions)
                    book.transactions.append(
                        Transaction(
                            ref.stable_id(f"txn:{book.portfolio.id}:div:{k}"),
                            book.portfolio.id,
                            "DIVIDEND",
                            security_id,
                            sec.symbol,
                            pay_day,
                            None,
                            None,
                            round(held * per_share, 2),
                            sec.currency,
                            settlement_days=0,
                            narration=f"{sec.symbol} dividend {per_share}/share",
                        )
                    )


def _add_fees(rng, market: Market, book: Book) -> None:
    first = min(t.transaction_date for t in book.transactions)
    for year in (2024, 2025):
        for month, day in ((3, 31), (6, 30), (9, 30), (12, 31)):
            fee_day = date(year, month, day)
            if first < fee_day <= market.days[-1]:
                k = len(book.transactions)
                book.transactions.append(
                    Transaction(
                        ref.stable_id(f"txn:{book.portfolio.id}:fee:{k}"),
                        book.portfolio.id,
                        "FEE",
                        None,
                        None,
                        fee_day,
                        None,
                        None,
                        -round(float(rng.uniform(25, 75)), 2),
                        book.portfolio.base_currency,
                        settlement_days=0,
                        narration="Quarterly management fee",
                    )
                )


# -- valuation ----------------------------------------------------------------------------------------------------
def _cash_effect(market: Market, txn: Transaction, base: str, index: int) -> float:
    return (txn.amount - (txn.fee or 0.0)) * market.fx(txn.currency, base, index)


def value_book(market: Market, book: Book) -> None:
    """Replay the transactions over the packs: daily values, a funding deposit, and the cash-flow ledger.

    Only deposits and withdrawals are external flows (pdv.cash_flows); dividends and fees stay inside the
    portfolio, so time-weighted returns count dividends as return.
    """
    base = book.portfolio.base_currency
    n = len(market.days)
    events: dict[int, list[Transaction]] = defaultdict(list)
    for txn in book.transactions:
        index = market.effective_index(txn.transaction_date)
        if index < n:
            events[index].append(txn)
    start = min(events)
    cash_path = np.zeros(n)
    running = 0.0
    for index in range(start, n):
        running += sum(_cash_effect(market, t, base, index) for t in events.get(index, []))
        cash_path[index] = running
    deposit = float(np.ceil(max(0.0, -cash_path[start:].min()) * 1.05 / 1000.0) * 1000.0)
    first_day = min(t.transaction_date for t in book.transactions)
    book.deposit = (first_day, deposit)

    holdings: dict[str, float] = defaultdict(float)
    cash = 0.0
    for index in range(start, n):
        flow = deposit if index == start else 0.0
        cash += flow
        for txn in events.get(index, []):
            cash += _cash_effect(market, txn, base, index)
            if txn.transaction_type in ("BUY", "SELL"):
                holdings[txn.security_id] += txn.quantity if txn.transaction_type == "BUY" else -txn.quantity
        positions = sum(
            qty * market.close(sid, index) * market.fx(_currency(market, sid), base, index)
            for sid, qty in holdings.items()
            if qty
        )
        positions_value, cash_balance = round(positions, 2), round(cash, 2)
        book.daily_values.append(
            (
                book.portfolio.id,
                market.days[index],
                round(positions_value + cash_balance, 2),
                cash_balance,
                positions_value,
                round(flow, 2),
                base,
            )
        )
    book.cash_flows.append(
        (
            ref.stable_id(f"flow:{book.portfolio.id}:deposit"),
            book.portfolio.id,
            first_day,
            "DEPOSIT",
            deposit,
            base,
            None,
            "Initial funding",
        )
    )
    for txn in book.transactions:
        if txn.transaction_type in ("DIVIDEND", "FEE"):
            index = min(market.effective_index(txn.transaction_date), n - 1)
            amount = round(txn.amount * market.fx(txn.currency, base, index), 2)
            book.cash_flows.append(
                (
                    ref.stable_id(f"flow:{txn.id}"),
                    book.portfolio.id,
                    txn.transaction_date,
                    txn.transaction_type,
                    amount,
                    base,
                    txn.id,
                    txn.narration,
                )
            )


def _currency(market: Market, security_id: str) -> str:
    return market.securities[market.row[security_id]].currency
