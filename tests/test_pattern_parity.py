"""Parity with DawsOS: every pattern's steps against DawsOS's own pattern files (at the plan's commit).

A difference fails unless the README's table of differences names it with its reason, and a row of that table
that is no longer a difference fails too. Capabilities compare through the consolidation map, so a legacy name
and its consolidated name are the same step.
"""

import re
from pathlib import Path

from dawsos_assets.patterns.loader import load_all
from dawsos_assets.patterns.registry import CAPABILITY_MAPPING

README = Path(__file__).resolve().parents[1] / "README.md"
# pattern -> [(capability, as, condition)], transcribed from DawsOS's backend/patterns/*.json
DAWSOS_STEPS = {
    "portfolio_overview": [
        ("ledger.positions", "positions", None),
        ("pricing.apply_pack", "valued_positions", None),
        ("metrics.compute_twr", "perf_metrics", None),
        ("attribution.currency", "currency_attr", None),
        ("portfolio.sector_allocation", "sector_allocation", None),
        ("portfolio.historical_nav", "historical_nav", None),
    ],
    "holding_deep_dive": [
        ("get_position_details", "position", None),
        ("compute_position_return", "position_perf", None),
        ("compute_portfolio_contribution", "contribution", None),
        ("compute_position_currency_attribution", "currency_attr", None),
        ("compute_position_risk", "risk", None),
        ("get_transaction_history", "transactions", None),
        ("get_security_fundamentals", "fundamentals", "{{position.asset_class}} == 'equity'"),
        ("get_comparable_positions", "comparables", "{{fundamentals}} != null"),
    ],
    "portfolio_scenario_analysis": [
        ("ledger.positions", "positions", None),
        ("pricing.apply_pack", "valued_base", None),
        ("macro.run_scenario", "scenario_result", None),
        ("optimizer.suggest_hedges", "hedge_suggestions", None),
        ("charts.scenario_deltas", "charts", None),
    ],
    "portfolio_cycle_risk": [
        ("cycles.compute_short_term", "stdc", None),
        ("cycles.compute_long_term", "ltdc", None),
        ("risk.compute_factor_exposures", "factor_exposures", None),
        ("risk.overlay_cycle_phases", "cycle_risk_map", None),
        ("macro.compute_dar", "dar", None),
    ],
    "macro_cycles_overview": [
        ("cycles.compute_short_term", "stdc", None),
        ("cycles.compute_long_term", "ltdc", None),
        ("cycles.compute_empire", "empire", None),
        ("cycles.compute_civil", "civil", None),
    ],
    "macro_trend_monitor": [
        ("macro.get_regime_history", "regime_history", None),
        ("risk.get_factor_exposure_history", "factor_history", None),
        ("macro.detect_trend_shifts", "trend_analysis", None),
        ("alerts.suggest_presets", "alert_suggestions", None),
    ],
    "buffett_checklist": [
        ("fundamentals.load", "fundamentals", None),
        ("ratings.dividend_safety", "dividend_safety", None),
        ("ratings.moat_strength", "moat_strength", None),
        ("ratings.resilience", "resilience", None),
        ("ratings.aggregate", "aggregate", None),
        ("ai.explain", "explanation", None),
    ],
    "news_impact_analysis": [
        ("ledger.positions", "positions", None),
        ("pricing.apply_pack", "valued", None),
        ("news.search", "news_items", None),
        ("news.compute_portfolio_impact", "impact_analysis", None),
        ("alerts.create_if_threshold", "alert_result", "{{inputs.create_alert}}"),
    ],
    "policy_rebalance": [
        ("ledger.positions", "positions", None),
        ("pricing.apply_pack", "valued", None),
        ("ratings.aggregate", "ratings", None),
        ("optimizer.propose_trades", "rebalance_result", None),
        ("optimizer.analyze_impact", "impact", None),
    ],
    "cycle_deleveraging_scenarios": [
        ("ledger.positions", "positions", None),
        ("pricing.apply_pack", "valued_base", None),
        ("cycles.compute_long_term", "ltdc", None),
        ("scenarios.deleveraging_money_printing", "money_printing", None),
        ("scenarios.deleveraging_austerity", "austerity", None),
        ("scenarios.deleveraging_default", "default", None),
        ("optimizer.suggest_deleveraging_hedges", "hedge_suggestions", None),
    ],
    "export_portfolio_report": [
        ("ledger.positions", "positions", None),
        ("pricing.apply_pack", "valued", None),
        ("metrics.compute_twr", "performance", "{{inputs.include_performance}}"),
        ("attribution.currency", "currency_attr", "{{inputs.include_performance}}"),
        ("macro.detect_regime", "regime", "{{inputs.include_macro}}"),
        ("reports.render_pdf", "pdf_result", None),
    ],
    "corporate_actions_upcoming": [
        ("ledger.positions", "positions", None),
        ("corporate_actions.upcoming", "actions", None),
        ("corporate_actions.calculate_impact", "actions_with_impact", None),
    ],
    "portfolio_macro_overview": [
        ("ledger.positions", "positions", None),
        ("macro.detect_regime", "regime", None),
        ("macro.get_indicators", "indicators", None),
        ("risk.compute_factor_exposures", "factor_exposures", None),
        ("macro.compute_dar", "dar", None),
        ("charts.macro_overview", "charts", None),
    ],
}
ROW = re.compile(r"^\| (\w+) \| `([^`]+)` \| (.+?) \|$")


def canonical(capability: str) -> str:
    return CAPABILITY_MAPPING.get(capability, capability)


def differences(ours: list[tuple], theirs: list[tuple]) -> set[str]:
    """Steps added, removed, stored under another key, run under another condition, or reordered."""
    mine = {canonical(c): (c, key, condition) for c, key, condition in ours}
    dawsos = {canonical(c): (c, key, condition) for c, key, condition in theirs}
    found = {f"+ {mine[c][0]} as {mine[c][1]}" for c in mine.keys() - dawsos.keys()}
    found |= {f"- {dawsos[c][0]} as {dawsos[c][1]}" for c in dawsos.keys() - mine.keys()}
    for c in mine.keys() & dawsos.keys():
        (name, key, condition), (_, their_key, their_condition) = mine[c], dawsos[c]
        if key != their_key:
            found.add(f"{name} as {key}, not {their_key}")
        if condition != their_condition:
            found.add(
                f"{key} runs {f'if {condition}' if condition else 'always'}, "
                f"not {f'if {their_condition}' if their_condition else 'always'}"
            )
    order = [c for c in mine if c in dawsos]
    if order != [c for c in dawsos if c in mine]:
        found.add("steps in another order")
    return found


def readme_differences() -> dict[tuple[str, str], str]:
    """(pattern, difference) -> reason, from the README's table of differences."""
    rows = (ROW.match(line) for line in README.read_text().splitlines())
    return {(m.group(1), m.group(2)): m.group(3).strip() for m in rows if m and m.group(1) in DAWSOS_STEPS}


def test_every_pattern_matches_dawsos_except_the_differences_the_readme_explains():
    patterns = load_all()
    assert set(patterns) == set(DAWSOS_STEPS)
    found = {
        (pattern_id, difference)
        for pattern_id, pattern in patterns.items()
        for difference in differences(
            [(s["capability"], s["as"], s.get("condition")) for s in pattern.steps], DAWSOS_STEPS[pattern_id]
        )
    }
    explained = readme_differences()
    assert sorted(found - set(explained)) == [], "differences the README does not name"
    assert sorted(set(explained) - found) == [], "README rows that are no longer differences"
    assert all(len(reason) > 20 for reason in explained.values())


def test_the_parity_check_sees_a_dropped_step_and_a_changed_condition():
    theirs = DAWSOS_STEPS["holding_deep_dive"]
    ours = [step for step in theirs if step[1] != "comparables"]
    ours[-1] = (ours[-1][0], ours[-1][1], None)
    assert differences(ours, theirs) == {
        "- get_comparable_positions as comparables",
        "fundamentals runs always, not if {{position.asset_class}} == 'equity'",
    }
