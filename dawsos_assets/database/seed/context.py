"""Macro series, regimes, cycle phases, factor betas, scenarios, fundamentals, news and corporate actions."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np

from dawsos_assets.database.inspect import Shape
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.database.seed.books import Book
from dawsos_assets.database.seed.market import Market, business_days

MACRO_START = date(2023, 1, 2)
STDC_PHASES = ["Early Recovery", "Mid Expansion", "Late Expansion / Boom", "Early Recession", "Deep Recession"]
LTDC_PHASES = ["Deleveraging", "Reflation", "Expansion", "Bubble", "Top", "Debt Crisis", "Depression"]
EMPIRE_PHASES = ["Rise", "Peak", "Decline", "Collapse"]
# sector -> (real_rates, inflation, credit_spreads, fx_usd, equity_market) sensitivities used for seeded betas
SECTOR_BETAS = {
    "Technology": (-2.5, -3.0, 0.5, -0.3, 1.3),
    "Financial Services": (-1.0, -2.0, 1.5, 0.0, 1.1),
    "Energy": (-1.5, 2.0, 0.5, 0.0, 0.9),
    "Consumer Defensive": (-2.0, -1.5, 0.4, 0.0, 0.6),
    "Healthcare": (-1.8, -1.5, 0.4, 0.0, 0.7),
    "Industrials": (-2.0, -2.0, 0.6, 0.0, 1.0),
}
DEFAULT_BETAS = (-2.0, -3.0, 0.5, 0.0, 0.8)


def _period_dates(frequency: str, end: date) -> list[date]:
    if frequency == "Daily":
        return business_days(MACRO_START, end)
    months = 1 if frequency == "Monthly" else 3
    dates, year, month = [], MACRO_START.year, 1
    while date(year, month, 1) <= end:
        dates.append(date(year, month, 1))
        month += months
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return dates


def macro_indicator_rows(rng: np.random.Generator, end: date = ref.LEGACY_AS_OF) -> list[tuple]:
    """Rows of macro_indicators: a random walk for each FRED series up to `end`."""
    rows = []
    for indicator_id, name, units, frequency, level, drift, vol in ref.FRED_SERIES:
        dates = _period_dates(frequency, end)
        step_scale = {"Daily": 1, "Monthly": 21, "Quarterly": 63}[frequency]
        steps = rng.normal(drift * step_scale, vol * np.sqrt(step_scale), len(dates))
        additive = units == "Percent"
        values = level + np.cumsum(steps) if additive else level * np.exp(np.cumsum(steps))
        for day, value in zip(dates, values, strict=True):
            rows.append(
                (
                    ref.stable_id(f"macro:{indicator_id}:{day}"),
                    indicator_id,
                    name,
                    day,
                    round(float(value), 4),
                    units,
                    frequency,
                    "FRED",
                )
            )
    return rows


def regime_rows(rng: np.random.Generator, end: date = ref.LEGACY_AS_OF) -> list[tuple]:
    """Rows of regime_history: a weekly regime that changes now and then, with its scores."""
    rows, state, day = [], 1, date(2024, 1, 5)
    while day <= end:
        if rng.random() < 0.08:
            state = int(np.clip(state + rng.choice([-1, 1]), 0, len(ref.REGIMES) - 1))
        scores = rng.dirichlet(np.ones(len(ref.REGIMES)))
        scores[state] += 1.0
        scores /= scores.sum()
        probabilities = {r.lower(): round(float(p), 4) for r, p in zip(ref.REGIMES, scores, strict=True)}
        rows.append(
            (
                ref.stable_id(f"regime:{day}"),
                day,
                ref.REGIMES[state],
                round(float(scores[state]), 4),
                json.dumps({"T10Y2Y": round(float(rng.normal(0, 0.5)), 3)}),
                json.dumps({"T10Y2Y": round(float(rng.normal()), 3), "UNRATE": round(float(rng.normal()), 3)}),
                json.dumps(probabilities),
            )
        )
        day += timedelta(days=7)
    return rows


def cycle_phase_rows(rng: np.random.Generator, end: date = ref.LEGACY_AS_OF) -> list[tuple]:
    """Rows of cycle_phases: a monthly phase for each economic cycle."""
    rows = []
    for cycle_type, phases, start_phase in (
        ("STDC", STDC_PHASES, 2),
        ("LTDC", LTDC_PHASES, 4),
        ("EMPIRE", EMPIRE_PHASES, 2),
    ):
        for day in _period_dates("Monthly", end):
            if day < date(2024, 1, 1):
                continue
            number = start_phase + (1 if cycle_type == "STDC" and day >= date(2025, 3, 1) else 0)
            rows.append(
                (
                    ref.stable_id(f"cycle:{cycle_type}:{day}"),
                    cycle_type,
                    day,
                    phases[number],
                    number + 1,
                    round(float(rng.uniform(0.45, 0.85)), 4),
                    json.dumps({"source": "seed", "phase_count": len(phases)}),
                )
            )
    return rows


def open_positions(books: list[Book]) -> list[tuple[str, str, str]]:
    """(portfolio_id, security_id, symbol) of every open holding, in a stable order."""
    seen = {}
    for book in books:
        for lot in book.lots:
            if lot.qty_open > 0:
                seen[(lot.portfolio_id, lot.security_id)] = lot.symbol
    return [(p, s, sym) for (p, s), sym in sorted(seen.items())]


def beta_rows(rng: np.random.Generator, market: Market, books: list[Book], variant: Shape) -> list[tuple]:
    """Rows of position_factor_betas for every open position, in the variant's long or wide form."""
    sectors = {s.id: s.sector for s in market.securities}
    rows = []
    for portfolio_id, security_id, symbol in open_positions(books):
        base = np.array(SECTOR_BETAS.get(sectors[security_id], DEFAULT_BETAS)) + rng.normal(0, 0.1, 5)
        betas = [round(float(b), 4) for b in base]
        if variant.betas == "long":
            rows += [
                (portfolio_id, security_id, factor, beta) for factor, beta in zip(ref.BETA_FACTORS, betas, strict=True)
            ]
        else:
            rows.append(
                (
                    ref.stable_id(f"pfb:{portfolio_id}:{security_id}"),
                    portfolio_id,
                    security_id,
                    symbol,
                    ref.LEGACY_AS_OF,
                    *betas,
                    round(float(rng.normal(0.2, 0.05)), 4),
                    round(float(rng.uniform(-0.5, 0.5)), 4),
                    "sector_prior",
                    round(float(rng.uniform(0.4, 0.9)), 4),
                )
            )
    return rows


def scenario_rows(variant: Shape) -> list[tuple]:
    """The scenario library plus the mig-009 rows (flat) or the schema file's rows (JSONB)."""
    if variant.shocks == "flat":
        rows = [
            (ref.stable_id(f"shock:{t}"), t, name, f"mig 009 shock {t}", rr, infl, credit, usd, eq, 0, 0)
            for t, name, rr, infl, credit, usd, eq in ref.MIG009_SHOCKS
        ]
        rows += [
            (
                ref.stable_id(f"shock:{t}"),
                t,
                name,
                f"{family} scenario library v1 (p={p}, {sev})",
                rr,
                infl,
                credit,
                usd,
                eq,
                com,
                vol,
            )
            for family, t, name, rr, infl, credit, usd, eq, com, vol, p, sev in ref.SCENARIO_LIBRARY
        ]
        return rows
    rows = [
        (
            ref.stable_id(f"shock:{name}"),
            name,
            json.dumps({"description": name, "category": "deleveraging", "shocks": shocks}),
        )
        for name, shocks in ref.JSONB_SCHEMA_SCENARIOS
    ]
    for family, t, name, rr, infl, credit, usd, eq, com, vol, p, sev in ref.SCENARIO_LIBRARY:
        shocks = {
            "real_rates": rr / 10_000,
            "inflation": infl / 10_000,
            "credit_spreads": credit / 10_000,
            "fx_usd": usd,
            "equity_market": eq,
            "commodity": com,
            "volatility": vol,
        }
        rows.append(
            (
                ref.stable_id(f"shock:{t}"),
                name,
                json.dumps(
                    {
                        "description": name,
                        "category": family,
                        "shocks": shocks,
                        "shock_type": t,
                        "probability": p,
                        "severity": sev,
                    }
                ),
            )
        )
    return rows


def fundamentals_rows(rng: np.random.Generator, market: Market) -> list[tuple]:
    """Rows of fundamentals: random valuation and profitability figures for each equity."""
    rows = []
    for sec in market.securities:
        if sec.security_type != "equity":
            continue
        r = lambda low, high: round(float(rng.uniform(low, high)), 4)  # noqa: E731
        rows.append(
            (
                sec.id,
                date(2025, 9, 30),
                round(sec.reference_price * float(rng.uniform(2e8, 3e9)), 0),
                r(8, 40),
                r(0, 0.05),
                r(0.05, 0.35),
                r(0.08, 0.30),
                r(0.2, 0.7),
                r(0.05, 0.4),
                r(0.01, 0.12),
                r(0.02, 0.3),
                r(0.05, 0.6),
                r(0.05, 0.45),
                r(3, 9),
                r(0.1, 0.9),
                r(0.8, 4.0),
                int(rng.integers(0, 30)),
                round(float(rng.uniform(-5e10, 6e10)), 0),
                r(0.1, 2.5),
                r(1.5, 25),
                r(0.8, 3.0),
                r(0.02, 0.3),
            )
        )
    return rows


def news_rows(rng: np.random.Generator, books: list[Book], end: date = ref.LEGACY_AS_OF) -> list[tuple]:
    """Rows of news_items about the held securities, with random sentiment and impact."""
    symbols = sorted({lot.symbol for book in books for lot in book.lots})
    topics = [
        "beats earnings estimates",
        "cuts guidance",
        "announces buyback",
        "faces regulatory probe",
        "raises dividend",
        "names new CEO",
        "wins major contract",
        "misses revenue forecast",
    ]
    rows = []
    for i in range(80):
        symbol = symbols[int(rng.integers(len(symbols)))]
        topic = topics[int(rng.integers(len(topics)))]
        published = f"{end - timedelta(days=int(rng.integers(0, 30)))} {int(rng.integers(0, 24)):02d}:00:00+00"
        sentiment = round(float(rng.uniform(-1, 1)), 3)
        rows.append(
            (
                ref.stable_id(f"news:{i}"),
                published,
                f"{symbol} {topic}",
                ["Reuters", "Bloomberg", "FT"][i % 3],
                f"Seeded headline about {symbol}.",
                [symbol],
                sentiment,
                round(float(rng.uniform(0, 1)), 3),
            )
        )
    return rows


def corporate_action_rows(
    rng: np.random.Generator, market: Market, books: list[Book], end: date = ref.LEGACY_AS_OF
) -> list[tuple]:
    """Rows of corporate_actions: upcoming earnings, dividends and splits of the held securities."""
    held = sorted({lot.security_id for book in books for lot in book.lots if lot.qty_open > 0})
    by_id = {s.id: s for s in market.securities}
    rows = []
    for i, security_id in enumerate(held):
        sec = by_id[security_id]
        earnings = end + timedelta(days=int(rng.integers(3, 80)))
        rows.append(
            (
                ref.stable_id(f"ca:{sec.symbol}:earnings"),
                sec.id,
                sec.symbol,
                "earnings",
                earnings,
                None,
                None,
                sec.currency,
            )
        )
        if sec.sector in ("Financial Services", "Energy", "Consumer Defensive", "Healthcare", "Industrials"):
            for quarter in range(2):
                pay = end + timedelta(days=int(rng.integers(2, 40)) + 45 * quarter)
                amount = round(sec.reference_price * float(rng.uniform(0.005, 0.012)), 4)
                rows.append(
                    (
                        ref.stable_id(f"ca:{sec.symbol}:div:{quarter}"),
                        sec.id,
                        sec.symbol,
                        "dividend",
                        pay,
                        amount,
                        None,
                        sec.currency,
                    )
                )
        if i == 3:
            rows.append(
                (
                    ref.stable_id(f"ca:{sec.symbol}:split"),
                    sec.id,
                    sec.symbol,
                    "split",
                    end + timedelta(days=60),
                    None,
                    2,
                    sec.currency,
                )
            )
    return rows


def rubric_rows() -> list[tuple]:
    """Rows of rating_rubrics: the legacy rubric weights."""
    return [
        (
            ref.stable_id(f"rubric:{kind}"),
            kind,
            "v1",
            json.dumps(weights),
            json.dumps({"source": "001_rating_rubrics.sql"}),
            f"{kind} rubric",
        )
        for kind, weights in ref.RATING_RUBRICS.items()
    ]


def audit_rows(variant: Shape) -> list[tuple]:
    """Rows of audit_log in the variant's shape."""
    if variant.audit_log == "a":
        return [
            (ref.stable_id(f"audit:{i}"), event, ref.ADMIN_USER_ID, json.dumps({"seed": True}))
            for i, event in enumerate(["login", "token_refresh", "logout"])
        ]
    return [
        (
            ref.stable_id(f"audit:{i}"),
            ref.ADMIN_USER_ID,
            action,
            "portfolio",
            ref.DEMO_PORTFOLIO_ID,
            json.dumps({"seed": True}),
        )
        for i, action in enumerate(["view", "export", "rebalance_preview"])
    ]


def metrics_rows(market: Market, books: list[Book]) -> list[tuple]:
    """The nightly job's output for the last pack: what legacy `metrics.compute_twr` reads."""
    rows = []
    for book in books:
        values = np.array([row[2] for row in book.daily_values], dtype=float)
        flows = np.array([row[5] for row in book.daily_values], dtype=float)
        returns = (values[1:] - flows[1:] - values[:-1]) / values[:-1]
        year = returns[-252:]
        twr_1y = float(np.prod(1 + year) - 1)
        vol = float(np.std(year) * np.sqrt(252))
        running_max = np.maximum.accumulate(values[-253:])
        drawdown = float(((values[-253:] - running_max) / running_max).min())
        rows.append(
            (
                book.portfolio.id,
                market.days[-1],
                f"PP_{market.days[-1]}",
                round(float(returns[-1]), 8),
                round(twr_1y, 8),
                round(vol, 8),
                round((twr_1y - 0.04) / vol, 8) if vol else None,
                round(drawdown, 8),
                round(float(values[-1]), 2),
                book.portfolio.base_currency,
                book.portfolio.benchmark_id,
            )
        )
    return rows
