"""Patterns on a DawsOS database that lacks data: empty context tables, a portfolio without daily values, no
benchmark prices, no rate for a currency. Every pattern still runs and answers with explicit nulls and warnings."""

import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.patterns.engine import PatternEngine
from dawsos_assets.patterns.loader import load_all
from dawsos_assets.patterns.registry import default_registry
from dawsos_assets.patterns.responses import response_failures
from dawsos_assets.patterns.ui_registry import data_path_failures

EMPTIED = [
    "position_factor_betas",
    "scenario_shocks",
    "rating_rubrics",
    "fundamentals",
    "news_items",
    "corporate_actions",
]
BALANCED_RETIREMENT = "54209ad3-f6b9-5afb-bc26-a51105cb4ea9"  # generated, CAD base, holds EVO (EUR)


@pytest.fixture(scope="module")
def results(databases):
    """Every pattern for the demo portfolio and a generated one, on a database stripped of that data."""
    url = databases.seeded()
    MigrationRunner(url, backup=False).apply()
    portfolios = [ref.DEMO_PORTFOLIO_ID, BALANCED_RETIREMENT]
    with connection.connect(url) as conn:
        conn.execute(f"TRUNCATE {', '.join(EMPTIED)}")
        conn.execute("DELETE FROM portfolio_daily_values WHERE portfolio_id = ANY(%s::uuid[])", (portfolios,))
        conn.execute(
            "DELETE FROM prices WHERE security_id IN (SELECT id FROM securities WHERE symbol IN ('SPY', 'XIC.TO'))"
        )
        conn.execute("DELETE FROM fx_rates WHERE 'EUR' IN (base_ccy, quote_ccy)")
        conn.commit()
        engine = PatternEngine(default_registry())
        return {
            (portfolio, pattern_id): engine.run(
                conn, pattern, {"portfolio_id": portfolio} if "portfolio_id" in pattern.inputs else {}
            )
            for portfolio in portfolios
            for pattern_id, pattern in load_all().items()
        }


@pytest.mark.parametrize("portfolio", [ref.DEMO_PORTFOLIO_ID, BALANCED_RETIREMENT], ids=["demo", "generated"])
def test_every_pattern_answers_with_nulls_and_warnings(results, portfolio):
    data = {pattern: results[(portfolio, pattern)].data for pattern in load_all()}
    warnings = {pattern: results[(portfolio, pattern)].warnings for pattern in load_all()}

    evo = next(p for p in data["portfolio_overview"]["valued_positions"]["positions"] if p["symbol"] == "EVO")
    assert evo["market_value"] is None and evo["weight"] is None
    assert any("no EUR/" in w for w in warnings["portfolio_overview"])
    assert data["portfolio_overview"]["perf_metrics"]["twr_1y"] is None
    assert data["portfolio_overview"]["historical_nav"]["values"] == []
    assert data["portfolio_scenario_analysis"]["scenario_result"]["total_delta_pl"] is None
    assert data["portfolio_scenario_analysis"]["hedge_suggestions"]["suggestions"] == []
    assert data["portfolio_cycle_risk"]["dar"]["dar_value"] is None
    assert data["portfolio_cycle_risk"]["factor_exposures"]["betas"] == {}
    assert data["cycle_deleveraging_scenarios"]["impact"]["worst_scenario"] is None
    assert data["buffett_checklist"]["aggregate"]["overall_rating"] is None
    assert data["holding_deep_dive"]["risk"]["beta_to_portfolio"] is None
    assert data["news_impact_analysis"]["impact_analysis"]["total_items"] == 0
    assert data["corporate_actions_upcoming"]["actions_with_impact"]["actions"] == []
    assert "EVO" not in {t["symbol"] for t in data["policy_rebalance"]["rebalance_result"]["trades"]}
    for pattern, result in ((p, results[(portfolio, p)]) for p in load_all()):  # still publishable
        assert response_failures(pattern, result.data) == [], pattern
        assert data_path_failures(pattern, result.data, result.explained_steps) == [], pattern
    for pattern in (
        "portfolio_overview",
        "portfolio_scenario_analysis",
        "portfolio_cycle_risk",
        "cycle_deleveraging_scenarios",
        "buffett_checklist",
        "holding_deep_dive",
        "portfolio_macro_overview",
        "macro_trend_monitor",
        "news_impact_analysis",
        "corporate_actions_upcoming",
        "policy_rebalance",
    ):
        assert warnings[pattern], pattern
