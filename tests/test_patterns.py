"""Patterns: loading rules, the engine's coded errors, and portfolio_overview checked by hand on Alpha."""

import copy
import json

import numpy as np
import pytest

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.errors import DawsosError
from dawsos_assets.patterns.engine import PatternEngine, condition_holds, resolve
from dawsos_assets.patterns.loader import PATTERNS_DIR, load, load_all, parse
from dawsos_assets.patterns.registry import CapabilityRegistry, default_registry
from dawsos_assets.patterns.responses import TABLES, response_failures, responses_failures, table_failures, tables
from dawsos_assets.patterns.ui_registry import data_path_failures, data_path_value, data_paths


def run(url, pattern, **inputs):
    with connection.connect(url) as conn:
        return PatternEngine(default_registry()).run(conn, load(pattern), inputs)


def test_the_thirteen_patterns_load_with_list_outputs():
    patterns = load_all()
    assert len(patterns) == 13
    assert all(isinstance(p.outputs, list) and p.outputs for p in patterns.values())


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda d: d.update(outputs={"panels": [{"id": "x"}]}), 'legacy {"panels"'),
        (lambda d: d["steps"][0]["args"].update(field="{{inputs.qty_open}}"), "legacy field name"),
        (lambda d: d["steps"][0]["args"].update(x="{{nowhere.value}}"), "no earlier step produces"),
        (lambda d: d["steps"][0].pop("as"), "'as' is a required property"),
        (lambda d: d.update(outputs=["not_a_step"]), "not step keys"),
    ],
)
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


@pytest.mark.parametrize(
    "portfolio, code",
    [("not-a-uuid", errors.INVALID_PORTFOLIO_ID), ("99999999-9999-9999-9999-999999999999", errors.PORTFOLIO_NOT_FOUND)],
)
def test_bad_portfolio_ids_give_coded_errors(migrated_url, portfolio, code):
    with pytest.raises(DawsosError) as raised:
        run(migrated_url, "portfolio_overview", portfolio_id=portfolio)
    assert raised.value.code == code


def test_portfolio_overview_on_alpha_by_hand(migrated_url):
    result = run(migrated_url, "portfolio_overview", portfolio_id=ref.ALPHA_PORTFOLIO_ID)
    assert result.warnings == []
    with connection.connect(migrated_url) as conn:
        closes = dict(
            conn.execute(
                "SELECT s.symbol, pr.close FROM prices pr JOIN securities s ON s.id = pr.security_id "
                "WHERE pr.pricing_pack_id = %s",
                (result.context.pricing_pack_id,),
            ).fetchall()
        )
        values = np.array(
            [
                float(v)
                for (v,) in conn.execute(
                    "SELECT total_value FROM portfolio_daily_values WHERE portfolio_id = %s ORDER BY asof_date",
                    (ref.ALPHA_PORTFOLIO_ID,),
                )
            ]
        )
        flows = np.array(
            [
                float(v)
                for (v,) in conn.execute(
                    "SELECT cash_flows FROM portfolio_daily_values WHERE portfolio_id = %s ORDER BY asof_date",
                    (ref.ALPHA_PORTFOLIO_ID,),
                )
            ]
        )
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
    engine = PatternEngine(default_registry())
    patterns = load_all()
    with connection.connect(migrated_url) as conn:
        portfolios = [str(r[0]) for r in conn.execute("SELECT id FROM portfolios ORDER BY name")]
        for portfolio in portfolios:
            for pattern_id, pattern in patterns.items():
                inputs = {"portfolio_id": portfolio} if "portfolio_id" in pattern.inputs else {}
                result = engine.run(conn, pattern, inputs)
                assert data_path_failures(pattern_id, result.data, result.explained_steps) == [], (
                    pattern_id,
                    portfolio,
                )
                assert response_failures(pattern_id, result.data) == [], (pattern_id, portfolio)
    assert sum(len(v) for v in data_paths().values()) == 39


@pytest.fixture(scope="module")
def demo_outputs(databases):
    """Every pattern's output for the demo portfolio (holding_deep_dive on CNR, a CAD equity)."""
    url = databases.migrated()
    with connection.connect(url) as conn:
        cnr = conn.execute("SELECT id::text FROM securities WHERE symbol = 'CNR'").fetchone()[0]
        engine = PatternEngine(default_registry())
        return {
            pattern_id: engine.run(
                conn,
                pattern,
                {
                    "portfolio_id": ref.DEMO_PORTFOLIO_ID,
                    **({"security_id": cnr} if pattern_id == "holding_deep_dive" else {}),
                }
                if "portfolio_id" in pattern.inputs
                else {},
            )
            for pattern_id, pattern in load_all().items()
        }


def _at(data: dict, path: str, value) -> dict:
    """A deep copy of `data` with `value` at the dotted `path`."""
    data = copy.deepcopy(data)
    *parents, leaf = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    target[leaf] = value
    return data


def test_every_table_of_every_output_has_a_contract_that_bites(demo_outputs):
    """Each table found in a real output is checked: dropping any contract column from its rows fails it."""
    checked = 0
    for pattern_id, result in demo_outputs.items():
        assert response_failures(pattern_id, result.data) == [], pattern_id
        for path, rows in tables(result.data).items():
            contract = TABLES[pattern_id][path]
            for column in contract.to_schema().columns:
                broken = [{k: v for k, v in row.items() if k != column} for row in rows]
                assert f"{path}: {column}: missing" in table_failures(path, broken, contract), (path, column)
            checked += 1
    assert checked >= 20
    extra = _at(demo_outputs["buffett_checklist"].data, "explanation.rows", [{"a": 1}])
    assert "explanation.rows: a table without a contract (add one to responses.TABLES)" in response_failures(
        "buffett_checklist", extra
    )


def test_contracts_catch_bad_values_and_legacy_names(demo_outputs):
    positions = demo_outputs["portfolio_overview"].data["valued_positions"]["positions"]
    negative = [{**positions[0], "market_value": -1.0}] + positions[1:]
    failures = response_failures(
        "portfolio_overview", _at(demo_outputs["portfolio_overview"].data, "valued_positions.positions", negative)
    )
    assert any("market_value: greater_than_or_equal_to(0)" in f for f in failures)
    heavy = [{**positions[0], "weight": positions[0]["weight"] + 0.01}] + positions[1:]
    failures = response_failures(
        "portfolio_overview", _at(demo_outputs["portfolio_overview"].data, "valued_positions.positions", heavy)
    )
    assert any("weights of the valued positions sum to 1" in f for f in failures)
    trades = demo_outputs["policy_rebalance"].data["rebalance_result"]["trades"]
    flipped = [{**trades[0], "action": "BUY" if trades[0]["action"] == "SELL" else "SELL"}] + trades[1:]
    failures = response_failures(
        "policy_rebalance", _at(demo_outputs["policy_rebalance"].data, "rebalance_result.trades", flipped)
    )
    assert any("BUY has a positive quantity" in f for f in failures)
    legacy = _at(demo_outputs["portfolio_overview"].data, "valued_positions.qty", 2)
    assert "legacy field name 'qty' in the output" in response_failures("portfolio_overview", legacy)


def test_outputs_validated_together_keep_their_failures_apart(demo_outputs):
    """Many portfolios' outputs go through one pandera call per contract; each failure is still the one output's:
    a negative market value in the second output and an overweight position in the third fail only those."""
    data = demo_outputs["portfolio_overview"].data
    positions = data["valued_positions"]["positions"]
    negative = _at(data, "valued_positions.positions", [{**positions[0], "market_value": -1.0}] + positions[1:])
    heavy = _at(
        data, "valued_positions.positions", [{**positions[0], "weight": positions[0]["weight"] + 0.01}] + positions[1:]
    )
    failures = responses_failures("portfolio_overview", [data, negative, heavy, data])
    assert failures[0] == failures[3] == []
    assert failures[1] and all("market_value" in f for f in failures[1])
    assert failures[2] and all("weights of the valued positions sum to 1" in f for f in failures[2])


def test_every_ui_data_path_has_a_type_fields_and_an_emptiness_rule(demo_outputs):
    """Each of the 39 dataPaths refuses a value of the wrong type, a row or object without a field the panel
    reads, and (unless empty is a normal answer) an empty value the trace does not explain."""
    panels = [(p, panel) for p, entries in data_paths().items() for panel in entries]
    assert len(panels) == 39
    wrong_type = {"object": [], "array": {}, "string": {}}
    for pattern_id, panel in panels:
        data, path = demo_outputs[pattern_id].data, panel["dataPath"]
        assert data_path_failures(pattern_id, data) == [], (pattern_id, path)
        assert any(path in f for f in data_path_failures(pattern_id, _at(data, path, wrong_type[panel["type"]]))), path
        if panel.get("fields"):
            value = copy.deepcopy(data_path_value(data, path))
            rows = value if isinstance(value, list) else [value]
            for row in rows:  # without the field, but not empty
                row.pop(panel["fields"][0])
                row["unrelated"] = 1
            assert any("lacks" in f for f in data_path_failures(pattern_id, _at(data, path, value))), path
        empty = {"object": {}, "array": [], "string": ""}[panel["type"]]
        failures = data_path_failures(pattern_id, _at(data, path, empty))
        assert bool(failures) != bool(panel.get("may_be_empty")), path
        assert data_path_failures(pattern_id, _at(data, path, empty), {path.split(".")[0]}) == []
