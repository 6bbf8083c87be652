"""Patterns: loading rules, the engine's coded errors, and portfolio_overview checked by hand on Alpha."""

import json

import numpy as np
import pytest

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.patterns.engine import PatternEngine, condition_holds, resolve
from dawsos_assets.patterns.loader import PATTERNS_DIR, load, load_all, parse
from dawsos_assets.patterns.registry import CapabilityRegistry, default_registry


@pytest.fixture
def migrated_url(seeded_url):
    MigrationRunner(seeded_url, backup=False).apply()
    return seeded_url


def run(url, pattern, **inputs):
    with connection.connect(url) as conn:
        return PatternEngine(default_registry()).run(conn, load(pattern), inputs)


def test_the_thirteen_patterns_load_with_list_outputs():
    patterns = load_all()
    assert len(patterns) == 13
    assert all(isinstance(p.outputs, list) and p.outputs for p in patterns.values())


@pytest.mark.parametrize("change, problem", [
    (lambda d: d.update(outputs={"panels": [{"id": "x"}]}), "legacy {\"panels\""),
    (lambda d: d["steps"][0]["args"].update(field="{{inputs.qty_open}}"), "legacy field name"),
    (lambda d: d["steps"][0]["args"].update(x="{{nowhere.value}}"), "no earlier step produces"),
    (lambda d: d["steps"][0].pop("as"), "'as' is a required property"),
    (lambda d: d.update(outputs=["not_a_step"]), "not step keys"),
])
def test_malformed_pattern_files_are_refused_with_file_step_and_problem(tmp_path, change, problem):
    document = json.loads((PATTERNS_DIR / "portfolio_overview.json").read_text())
    change(document)
    path = tmp_path / "portfolio_overview.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DawsosError) as raised:
        parse(path)
    assert raised.value.code == errors.PATTERN_INVALID
    assert "portfolio_overview.json" in raised.value.message and problem in raised.value.message


def test_templates_and_conditions():
    scope = {"inputs": {"flag": True, "n": 3}, "position": {"asset_class": "equity", "nested": {"x": 1}}}
    assert resolve("{{inputs.n}}", scope) == 3
    assert resolve({"a": ["{{position.nested.x}}", "n={{inputs.n}}"]}, scope) == {"a": [1, "n=3"]}
    assert resolve("{{position.missing.deeper}}", scope) is None
    assert condition_holds("{{inputs.flag}}", scope)
    assert condition_holds("{{position.asset_class}} == 'equity'", scope)
    assert not condition_holds("{{position.missing}} != null", scope)


def test_an_unknown_capability_fails_before_any_step_runs(migrated_url):
    """Step 1 is registered and step 2 is not: without the pre-check, step 1 would run before the failure."""
    registry, calls = CapabilityRegistry(), []

    @registry.register("ledger.positions", "financial_analyst")
    def positions(conn, ctx, warnings, portfolio_id):
        calls.append(portfolio_id)
        return {"positions": []}

    with connection.connect(migrated_url) as conn, pytest.raises(DawsosError) as raised:
        PatternEngine(registry).run(conn, load("portfolio_overview"), {"portfolio_id": ref.ALPHA_PORTFOLIO_ID})
    assert raised.value.code == errors.CAPABILITY_NOT_FOUND and "pricing.apply_pack" in raised.value.message
    assert calls == []


def test_legacy_capability_names_route_through_the_consolidation_map():
    registry = CapabilityRegistry()

    @registry.register("financial_analyst.suggest_hedges", "financial_analyst")
    def hedges(conn, ctx, warnings):
        return {}

    assert registry.resolve("optimizer.suggest_hedges").name == "financial_analyst.suggest_hedges"


@pytest.mark.parametrize("portfolio, code", [("not-a-uuid", errors.INVALID_PORTFOLIO_ID),
                                             ("99999999-9999-9999-9999-999999999999", errors.PORTFOLIO_NOT_FOUND)])
def test_bad_portfolio_ids_give_coded_errors(migrated_url, portfolio, code):
    with pytest.raises(DawsosError) as raised:
        run(migrated_url, "portfolio_overview", portfolio_id=portfolio)
    assert raised.value.code == code


def test_portfolio_overview_on_alpha_by_hand(migrated_url):
    result = run(migrated_url, "portfolio_overview", portfolio_id=ref.ALPHA_PORTFOLIO_ID)
    assert result.warnings == []
    with connection.connect(migrated_url) as conn:
        closes = dict(conn.execute("SELECT s.symbol, pr.close FROM prices pr JOIN securities s ON s.id = pr.security_id "
                                   "WHERE pr.pricing_pack_id = %s", (result.context.pricing_pack_id,)).fetchall())
        values = np.array([float(v) for (v,) in conn.execute(
            "SELECT total_value FROM portfolio_daily_values WHERE portfolio_id = %s ORDER BY asof_date",
            (ref.ALPHA_PORTFOLIO_ID,))])
        flows = np.array([float(v) for (v,) in conn.execute(
            "SELECT cash_flows FROM portfolio_daily_values WHERE portfolio_id = %s ORDER BY asof_date",
            (ref.ALPHA_PORTFOLIO_ID,))])
    positions = {p["symbol"]: p for p in result.data["valued_positions"]["positions"]}
    assert {s: p["quantity"] for s, p in positions.items()} == {"AAPL": 100, "GOOGL": 75, "MSFT": 50}
    total = sum(q * float(closes[s]) for s, q in (("AAPL", 100), ("GOOGL", 75), ("MSFT", 50)))
    assert result.data["valued_positions"]["total_value"] == pytest.approx(total, abs=0.01)
    assert positions["AAPL"]["market_value"] == pytest.approx(100 * float(closes["AAPL"]), abs=0.005)
    assert sum(p["weight"] for p in positions.values()) == pytest.approx(1.0, abs=1e-9)
    assert positions["AAPL"]["unrealized_pnl"] == pytest.approx(100 * float(closes["AAPL"]) - 15_000, abs=0.01)

    # Performance computed independently, by hand with numpy, from portfolio_daily_values.
    returns = ((values[1:] - flows[1:] - values[:-1]) / values[:-1])[-252:]
    twr = np.prod(1 + returns) - 1
    volatility = np.std(returns, ddof=1) * np.sqrt(252)
    rf = 1.04 ** (1 / 252) - 1
    sharpe = np.mean(returns - rf) / np.std(returns - rf, ddof=1) * np.sqrt(252)
    wealth = np.cumprod(1 + returns)
    max_drawdown = np.min(wealth / np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:] - 1)
    perf = result.data["perf_metrics"]
    assert perf["twr_1y"] == pytest.approx(twr, abs=1e-9)
    assert perf["volatility"] == pytest.approx(volatility, abs=1e-9)
    assert perf["sharpe_ratio"] == pytest.approx(sharpe, abs=1e-9)
    assert perf["max_drawdown"] == pytest.approx(max_drawdown, abs=1e-9)

    assert result.data["sector_allocation"]["sectors"] == {"Technology": 100.0}
    assert result.data["historical_nav"]["data_points"] == 253


def test_every_pattern_runs_for_every_demo_portfolio_with_all_ui_paths_and_contracts(migrated_url):
    from dawsos_assets.patterns.responses import response_failures
    from dawsos_assets.patterns.ui_registry import data_paths, unresolved

    engine = PatternEngine(default_registry())
    patterns = load_all()
    with connection.connect(migrated_url) as conn:
        portfolios = [str(r[0]) for r in conn.execute("SELECT id FROM portfolios ORDER BY name")]
        for portfolio in portfolios:
            for pattern_id, pattern in patterns.items():
                inputs = {"portfolio_id": portfolio} if "portfolio_id" in pattern.inputs else {}
                result = engine.run(conn, pattern, inputs)
                assert unresolved(pattern_id, result.data) == [], (pattern_id, portfolio)
                assert response_failures(pattern_id, result.data) == [], (pattern_id, portfolio)
    assert sum(len(v) for v in data_paths().values()) == 39


def test_response_contract_catches_a_bad_weight_and_a_legacy_name():
    from dawsos_assets.patterns.responses import response_failures

    data = {"valued_positions": {"positions": [{"symbol": "A", "quantity": 1.0, "market_value": 10.0, "weight": 0.6},
                                               {"symbol": "B", "quantity": 2.0, "market_value": 5.0, "weight": 0.5,
                                                "qty": 2}]}}
    failures = response_failures("portfolio_overview", data)
    assert any("legacy field name 'qty'" in f for f in failures)
    assert any("weights sum to" in f for f in failures)
