"""Pattern figures against independent computations from the raw tables (numpy and SQL, not the capabilities)."""

from datetime import timedelta

import numpy as np
import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.patterns.engine import PatternEngine
from dawsos_assets.patterns.loader import load
from dawsos_assets.patterns.registry import default_registry

CANADIAN_DIVIDEND_INCOME = "38802327-3f71-5ce4-97a8-d2472efe8d88"


@pytest.fixture(scope="module")
def migrated(databases):
    """One migrated demo database for the read-only tests of this module."""
    return databases.migrated()


def run(url, pattern, **inputs):
    with connection.connect(url) as conn:
        return PatternEngine(default_registry()).run(conn, load(pattern), inputs)


def fx(conn, currency: str, base: str, pack: str) -> float:
    """Base units per one unit of `currency` in the pack, straight from fx_rates."""
    if currency == base:
        return 1.0
    direct = conn.execute(
        "SELECT rate FROM fx_rates WHERE base_ccy = %s AND quote_ccy = %s AND pricing_pack_id = %s",
        (currency, base, pack),
    ).fetchone()
    if direct:
        return float(direct[0])
    reverse = conn.execute(
        "SELECT rate FROM fx_rates WHERE base_ccy = %s AND quote_ccy = %s AND pricing_pack_id = %s",
        (base, currency, pack),
    ).fetchone()
    return 1 / float(reverse[0])


def holdings(conn, portfolio_id: str) -> list[tuple]:
    """(security_id, symbol, currency, shares open) per held security."""
    return conn.execute(
        """SELECT l.security_id::text, s.symbol, s.trading_currency, sum(l.quantity_open)::float
                             FROM lots l JOIN securities s ON s.id = l.security_id
                            WHERE l.portfolio_id = %s AND l.quantity_open > 0 GROUP BY 1, 2, 3""",
        (portfolio_id,),
    ).fetchall()


def close(conn, security_id: str, pack: str) -> float:
    return float(
        conn.execute(
            "SELECT close FROM prices WHERE security_id = %s AND pricing_pack_id = %s", (security_id, pack)
        ).fetchone()[0]
    )


def test_currency_attribution_matches_the_held_basket_valued_at_both_ends(migrated):
    """The parts are checked against the basket's own base-currency return, local-only and FX-only returns,
    computed here from prices and fx_rates; a wrong weight, FX direction or missing interaction shows up."""
    result = run(migrated, "portfolio_overview", portfolio_id=ref.DEMO_PORTFOLIO_ID)
    attribution = result.data["currency_attr"]
    end, base = result.context.pricing_pack_id, result.context.base_currency
    with connection.connect(migrated) as conn:
        start = conn.execute(
            "SELECT id FROM pricing_packs WHERE superseded_by IS NULL AND asof_date <= %s "
            "ORDER BY asof_date DESC LIMIT 1",
            (result.context.asof_date - timedelta(days=365),),
        ).fetchone()[0]
        rows = [
            (q, close(conn, s, start), close(conn, s, end), fx(conn, c, base, start), fx(conn, c, base, end), c)
            for s, _, c, q in holdings(conn, ref.DEMO_PORTFOLIO_ID)
        ]
    start_value = sum(q * p0 * f0 for q, p0, _, f0, _, _ in rows)
    basket_return = sum(q * p1 * f1 for q, _, p1, _, f1, _ in rows) / start_value - 1
    local_only = sum(q * p1 * f0 for q, _, p1, f0, _, _ in rows) / start_value - 1
    fx_only = sum(q * p0 * f1 for q, p0, _, _, f1, _ in rows) / start_value - 1
    assert attribution["start_pack"] == start
    assert attribution["total_return"] == pytest.approx(basket_return, abs=1e-12)
    assert attribution["local_return"] == pytest.approx(local_only, abs=1e-12)
    assert attribution["fx_return"] == pytest.approx(fx_only, abs=1e-12)
    assert abs(attribution["fx_return"]) > 1e-4 and abs(attribution["interaction"]) > 1e-7  # CAD and EUR holdings
    eur = [(q, p0, f0) for q, p0, _, f0, _, c in rows if c == "EUR"]
    assert attribution["by_currency"]["EUR"]["weight"] == pytest.approx(
        sum(q * p0 * f0 for q, p0, f0 in eur) / start_value, abs=1e-12
    )


def water_level(values: list[float], floor: float, budget: float) -> float:
    """By bisection: the level L >= floor at which selling everything above L costs the budget."""
    low, high = floor, max(values)
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (low, middle) if sum(max(0.0, v - middle) for v in values) <= budget else (middle, high)
    return high


def test_rebalance_cures_the_largest_breach_first_and_warns_about_what_is_left(migrated):
    """Alpha holds MSFT 39.8 %, AAPL 35.7 %, GOOGL 24.4 % against a 20 % cap and a 10 % turnover limit: the whole
    budget goes to the breaches, largest first; the breaches that remain are warnings."""
    result = run(migrated, "policy_rebalance", portfolio_id=ref.ALPHA_PORTFOLIO_ID)
    plan = result.data["rebalance_result"]
    with connection.connect(migrated) as conn:
        values = {
            s: q * close(conn, sid, result.context.pricing_pack_id)
            for sid, s, _, q in holdings(conn, ref.ALPHA_PORTFOLIO_ID)
        }
    total = sum(values.values())
    level = water_level(list(values.values()), 0.2 * total, 0.1 * total)
    after = {t["symbol"]: t["weight_after"] for t in plan["trades"]}
    for symbol in ("MSFT", "AAPL"):
        one_share = values[symbol] / {"MSFT": 50, "AAPL": 100}[symbol] / total
        assert abs(after[symbol] - level / total) <= one_share, symbol
    assert plan["turnover_pct"] <= 10.0
    assert all(t["reason"] == "cures the 20% cap breach" for t in plan["trades"])
    for symbol in ("MSFT", "AAPL", "GOOGL"):
        assert any(
            w.startswith(f"rebalance_result: {symbol} stays at") and "above the 20% cap" in w for w in result.warnings
        ), symbol


def test_rebalance_values_trades_in_the_base_currency_within_the_limits_after_scaling(migrated):
    """A CAD portfolio of mostly USD holdings, scaled hard (2 % turnover): each trade value is shares x price x
    USD/CAD from fx_rates, the turnover stays under the limit, and no trade is below the minimum lot."""
    constraints = {"max_turnover_pct": 2.0, "min_lot_value": 500}
    result = run(migrated, "policy_rebalance", portfolio_id=CANADIAN_DIVIDEND_INCOME, constraints=constraints)
    plan = result.data["rebalance_result"]
    pack = result.context.pricing_pack_id
    with connection.connect(migrated) as conn:
        held = {s: (sid, c, q) for sid, s, c, q in holdings(conn, CANADIAN_DIVIDEND_INCOME)}
        total = sum(q * close(conn, sid, pack) * fx(conn, c, "CAD", pack) for sid, c, q in held.values())
        expected = {
            t["symbol"]: abs(t["quantity"])
            * close(conn, held[t["symbol"]][0], pack)
            * fx(conn, held[t["symbol"]][1], "CAD", pack)
            for t in plan["trades"]
        }
    assert any(held[t["symbol"]][1] == "USD" for t in plan["trades"])
    for trade in plan["trades"]:
        assert trade["trade_value"] == pytest.approx(expected[trade["symbol"]], abs=0.01), trade["symbol"]
        assert trade["trade_value"] >= 500
    assert sum(expected.values()) / total <= 0.02
    assert plan["turnover_pct"] == pytest.approx(100 * sum(expected.values()) / total, abs=1e-6)
    assert any("dropped below the minimum lot value of 500 CAD" in w for w in result.warnings)


def test_expected_dividends_are_converted_to_the_base_currency(migrated):
    """Canadian Dividend Income (CAD) receives USD dividends: each is converted at the pack's USD/CAD."""
    result = run(migrated, "corporate_actions_upcoming", portfolio_id=CANADIAN_DIVIDEND_INCOME)
    impact = result.data["actions_with_impact"]
    pack, asof = result.context.pricing_pack_id, result.context.asof_date
    with connection.connect(migrated) as conn:
        held = {sid: q for sid, _, _, q in holdings(conn, CANADIAN_DIVIDEND_INCOME)}
        dividends = conn.execute(
            "SELECT security_id::text, amount, currency FROM corporate_actions "
            "WHERE action_type = 'dividend' AND action_date > %s AND action_date <= %s",
            (asof, asof + timedelta(days=90)),
        ).fetchall()
        expected = sum(float(a) * held[s] * fx(conn, c, "CAD", pack) for s, a, c in dividends if s in held)
        currencies = {c for s, _, c in dividends if s in held}
    assert "USD" in currencies and expected > 0
    assert impact["summary"]["dividends_expected"] == pytest.approx(expected, abs=0.01)
    assert impact["summary"]["currency"] == "CAD"


def test_monthly_indicators_get_a_z_score_over_their_own_observations(migrated):
    """UNRATE and CPIAUCSL are monthly: their z-scores use their last 30 observations, not 252 calendar days."""
    result = run(migrated, "portfolio_macro_overview", portfolio_id=ref.DEMO_PORTFOLIO_ID)
    regime = result.data["regime"]
    with connection.connect(migrated) as conn:
        for indicator in ("UNRATE", "CPIAUCSL", "T10Y2Y"):
            window = 30 if indicator != "T10Y2Y" else 252
            values = np.array(
                [
                    float(v)
                    for (v,) in conn.execute(
                        "SELECT value FROM macro_indicators WHERE indicator_id = %s AND asof_date <= %s "
                        "ORDER BY asof_date DESC LIMIT %s",
                        (indicator, result.context.asof_date, window),
                    )
                ]
            )
            assert len(values) == window
            z = (values[0] - values.mean()) / values.std(ddof=1)
            assert regime["zscores"][indicator] == pytest.approx(z, abs=1e-9), indicator
    assert not any(
        w.startswith(f"regime: {i}") for i in ("T10Y2Y", "UNRATE", "CPIAUCSL", "BAA10Y") for w in result.warnings
    )


def test_an_indicator_without_enough_observations_is_left_out_with_a_warning(migrated_url):
    with connection.connect(migrated_url) as conn:
        conn.execute("DELETE FROM macro_indicators WHERE indicator_id = 'UNRATE' AND asof_date < '2025-01-01'")
        conn.commit()
    result = run(migrated_url, "portfolio_macro_overview", portfolio_id=ref.DEMO_PORTFOLIO_ID)
    assert result.data["regime"]["zscores"]["UNRATE"] is None
    assert any(w.startswith("regime: UNRATE") and "left out" in w for w in result.warnings)


def test_a_missing_beta_is_unknown_sensitivity_not_zero_and_dar_says_so(migrated_url):
    with connection.connect(migrated_url) as conn:
        conn.execute(
            "DELETE FROM position_factor_betas WHERE portfolio_id = %s AND security_id = "
            "(SELECT id FROM securities WHERE symbol = 'BTI')",
            (ref.DEMO_PORTFOLIO_ID,),
        )
        conn.commit()
    scenario = run(migrated_url, "portfolio_scenario_analysis", portfolio_id=ref.DEMO_PORTFOLIO_ID)
    rows = {r["symbol"]: r for r in scenario.data["scenario_result"]["position_deltas"]}
    assert rows["BTI"]["delta_value"] is None and rows["BTI"]["shocked_value"] is None
    assert scenario.data["scenario_result"]["total_delta_pl"] == pytest.approx(
        sum(r["delta_value"] for s, r in rows.items() if s != "BTI"), abs=1e-9
    )
    assert scenario.data["scenario_result"]["coverage"] < 1
    assert any(w.startswith("scenario_result: BTI: no beta for") for w in scenario.warnings)
    cycle = run(migrated_url, "portfolio_cycle_risk", portfolio_id=ref.DEMO_PORTFOLIO_ID)
    assert [w for w in cycle.warnings if w.startswith("dar: BTI: no beta for")] != []
    assert len([w for w in cycle.warnings if w.startswith("dar: BTI")]) == 1  # once, not once per scenario


def test_an_unpriced_position_has_a_null_var_not_zero(migrated_url):
    with connection.connect(migrated_url) as conn:
        pypl = conn.execute("SELECT id::text FROM securities WHERE symbol = 'PYPL'").fetchone()[0]
        conn.execute(
            "DELETE FROM prices WHERE security_id = %s AND pricing_pack_id = (SELECT max(id) FROM pricing_packs)",
            (pypl,),
        )
        conn.commit()
    result = run(migrated_url, "holding_deep_dive", portfolio_id=ref.DEMO_PORTFOLIO_ID, security_id=pypl)
    assert result.data["position"]["market_value"] is None
    assert result.data["risk"]["var_1d"] is None and result.data["risk"]["volatility_daily"] > 0
    assert any(w.startswith("risk: the position has no market value") for w in result.warnings)


def test_configured_hedge_costs_and_amplifications_are_labelled(migrated):
    hedges = run(migrated, "portfolio_scenario_analysis", portfolio_id=ref.DEMO_PORTFOLIO_ID).data["hedge_suggestions"]
    assert hedges["suggestions"] and "configured" in hedges["cost_source"]
    assert all(h["cost_source"] == "configured" for h in hedges["suggestions"])
    overlay = run(migrated, "portfolio_cycle_risk", portfolio_id=ref.DEMO_PORTFOLIO_ID).data["cycle_risk_map"]
    assert "configured" in overlay["amplification_source"]


def test_holding_contribution_and_currency_parts_from_prices_and_rates(migrated):
    """holding_deep_dive's restored steps for CNR (CAD) in the USD demo portfolio, recomputed here."""
    with connection.connect(migrated) as conn:
        cnr = conn.execute("SELECT id::text FROM securities WHERE symbol = 'CNR'").fetchone()[0]
    result = run(migrated, "holding_deep_dive", portfolio_id=ref.DEMO_PORTFOLIO_ID, security_id=cnr)
    end, start = result.context.pricing_pack_id, result.data["contribution"]["start_pack"]
    with connection.connect(migrated) as conn:
        rows = {
            s: (
                q * close(conn, s, start) * fx(conn, c, "USD", start),
                close(conn, s, end) / close(conn, s, start) - 1,
                fx(conn, c, "USD", end) / fx(conn, c, "USD", start) - 1,
            )
            for s, _, c, q in holdings(conn, ref.DEMO_PORTFOLIO_ID)
        }
    total = sum(v for v, _, _ in rows.values())
    value, local, currency = rows[cnr]
    basket = sum(v / total * ((1 + lo) * (1 + f) - 1) for v, lo, f in rows.values())
    contribution, parts = result.data["contribution"], result.data["currency_attr"]
    assert contribution["total_contribution"] == pytest.approx(
        value / total * ((1 + local) * (1 + currency) - 1), abs=1e-12
    )
    assert contribution["pct_of_portfolio_return"] == pytest.approx(
        contribution["total_contribution"] / basket, abs=1e-9
    )
    assert (parts["local_return"], parts["fx_return"]) == (
        pytest.approx(local, abs=1e-12),
        pytest.approx(currency, abs=1e-12),
    )
    assert parts["fx_contribution"] == pytest.approx(value / total * currency, abs=1e-12) and currency != 0


def test_comparables_are_the_largest_other_securities_of_the_sector(migrated):
    result = run(migrated, "holding_deep_dive", portfolio_id=ref.ALPHA_PORTFOLIO_ID)
    assert result.data["position"]["symbol"] == "MSFT"
    with connection.connect(migrated) as conn:
        expected = [
            s
            for (s,) in conn.execute("""
            SELECT s.symbol FROM securities s LEFT JOIN LATERAL (SELECT market_cap FROM fundamentals f
                   WHERE f.security_id = s.id ORDER BY asof_date DESC LIMIT 1) f ON TRUE
             WHERE s.sector = 'Technology' AND s.symbol <> 'MSFT'
             ORDER BY f.market_cap DESC NULLS LAST, s.symbol LIMIT 5""")
        ]
    assert [c["symbol"] for c in result.data["comparables"]["comparables"]] == expected


def test_the_scenario_delta_table_joins_base_and_shocked_positions(migrated):
    result = run(migrated, "portfolio_scenario_analysis", portfolio_id=ref.DEMO_PORTFOLIO_ID)
    table = {r["security_id"]: r for r in result.data["charts"]["position_deltas"]}
    shocked = {r["security_id"]: r for r in result.data["scenario_result"]["position_deltas"]}
    with connection.connect(migrated) as conn:
        assert set(table) == {s for s, _, _, _ in holdings(conn, ref.DEMO_PORTFOLIO_ID)}
    for security_id, row in table.items():
        assert row["delta_value"] == pytest.approx(shocked[security_id]["delta_value"], abs=1e-9)
        assert row["shocked_value"] == pytest.approx(row["base_value"] + row["delta_value"], abs=1e-9)
    assert {r["primary_driver"] for r in table.values()} - {None}


def test_external_flows_inside_the_window_count_at_the_end_of_their_day(migrated_url):
    """A deposit of half the portfolio, held as cash from a day inside the 252-return window: TWR takes it out of
    that day's return (flows at the end of the day) and dilutes the later returns; NAV change includes it."""
    with connection.connect(migrated_url) as conn:
        rows = conn.execute(
            "SELECT asof_date, total_value::float FROM portfolio_daily_values WHERE portfolio_id = %s "
            "ORDER BY asof_date",
            (ref.ALPHA_PORTFOLIO_ID,),
        ).fetchall()
        day, deposit = rows[-100][0], round(rows[-100][1] / 2, 2)
        conn.execute(
            "UPDATE portfolio_daily_values SET total_value = total_value + %s, cash_balance = cash_balance + %s, "
            "cash_flows = cash_flows + CASE WHEN asof_date = %s THEN %s ELSE 0 END "
            "WHERE portfolio_id = %s AND asof_date >= %s",
            (deposit, deposit, day, deposit, ref.ALPHA_PORTFOLIO_ID, day),
        )
        conn.commit()
        values, flows = (
            np.array(c, dtype=float)
            for c in zip(
                *conn.execute(
                    "SELECT total_value, cash_flows FROM portfolio_daily_values "
                    "WHERE portfolio_id = %s ORDER BY asof_date",
                    (ref.ALPHA_PORTFOLIO_ID,),
                ).fetchall(),
                strict=True,
            )
        )
    result = run(migrated_url, "portfolio_overview", portfolio_id=ref.ALPHA_PORTFOLIO_ID)
    end_of_day = ((values[1:] - flows[1:] - values[:-1]) / values[:-1])[-252:]
    start_of_day = ((values[1:] - flows[1:] - values[:-1]) / (values[:-1] + flows[1:]))[-252:]
    twr = np.prod(1 + end_of_day) - 1
    assert result.data["perf_metrics"]["twr_1y"] == pytest.approx(twr, abs=1e-12)
    assert abs(twr - (np.prod(1 + start_of_day) - 1)) > 1e-4  # the convention matters here
    assert abs(twr - (values[-1] / values[-253] - 1)) > 0.1  # and the deposit is not return
    nav = result.data["historical_nav"]
    assert nav["total_return_pct"] == pytest.approx(100 * (values[-1] / values[-253] - 1), abs=1e-3)


def test_factor_changes_are_null_from_one_snapshot_and_measured_from_two(databases):
    """Migration 017 dates long-form betas by the pack they were computed for: one snapshot, no change to report."""
    url = databases.migrated()
    with connection.connect(url) as conn:
        assert conn.execute("SELECT count(DISTINCT asof_date) FROM position_factor_betas").fetchone()[0] == 1
        assert (
            conn.execute("SELECT max(asof_date) FROM position_factor_betas").fetchone()[0]
            == conn.execute("SELECT max(asof_date) FROM pricing_packs").fetchone()[0]
        )
    single = run(url, "macro_trend_monitor", portfolio_id=ref.ALPHA_PORTFOLIO_ID)
    assert set(single.data["factor_history"]["changes"].values()) == {None}
    with connection.connect(url) as conn:  # an earlier snapshot, every beta 0.1 lower
        conn.execute(
            "INSERT INTO position_factor_betas (portfolio_id, security_id, symbol, asof_date, factor_name, beta) "
            "SELECT portfolio_id, security_id, symbol, asof_date - 28, factor_name, beta - 0.1 "
            "FROM position_factor_betas WHERE portfolio_id = %s",
            (ref.ALPHA_PORTFOLIO_ID,),
        )
        conn.commit()
    changes = run(url, "macro_trend_monitor", portfolio_id=ref.ALPHA_PORTFOLIO_ID).data["factor_history"]["changes"]
    assert changes and all(abs(c - 0.1) < 1e-9 for c in changes.values())
