"""Macro capabilities from macro_indicators, regime_history and cycle_phases (facts §9.7, §10.6)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from dawsos_assets.patterns.registry import REGISTRY

REGIMES = ["EARLY_EXPANSION", "MID_EXPANSION", "LATE_EXPANSION", "EARLY_CONTRACTION", "DEEP_CONTRACTION"]
# (min_z, max_z, weight) per regime and core indicator (facts §9.7); None is an open bound
REGIME_RULES = {
    "EARLY_EXPANSION": {"T10Y2Y": (0.5, None, 2.0), "UNRATE": (None, -0.5, 1.5), "CPIAUCSL": (None, 0.0, 1.0), "BAA10Y": (None, 0.0, 1.0)},
    "MID_EXPANSION": {"T10Y2Y": (0.0, 1.5, 1.5), "UNRATE": (-1.5, 0.0, 1.5), "CPIAUCSL": (-0.5, 0.5, 1.0), "BAA10Y": (-0.5, 0.5, 1.0)},
    "LATE_EXPANSION": {"T10Y2Y": (-1.0, 0.5, 2.0), "UNRATE": (-2.0, -0.5, 1.5), "CPIAUCSL": (0.5, None, 2.0), "BAA10Y": (0.0, 1.0, 1.0)},
    "EARLY_CONTRACTION": {"T10Y2Y": (None, -0.5, 2.5), "UNRATE": (0.0, 1.0, 1.5), "CPIAUCSL": (None, 1.0, 0.5), "BAA10Y": (0.5, None, 2.0)},
    "DEEP_CONTRACTION": {"T10Y2Y": (0.5, None, 1.0), "UNRATE": (1.0, None, 2.5), "CPIAUCSL": (None, 0.0, 1.0), "BAA10Y": (1.5, None, 2.5)},
}
# Civil-order phases: (gini, institutional_trust, polarization) ranges (facts §9.7) and the defaults of §10.6
CIVIL_PHASES = {"Harmony": ((0, .30), (.7, 1), (0, .3)), "Rising Tensions": ((.30, .38), (.5, .7), (.3, .45)),
                "Polarization": ((.38, .42), (.35, .5), (.45, .65)), "Crisis": ((.42, .48), (.2, .35), (.65, .8)),
                "Conflict/Revolution": ((.48, 1), (0, .2), (.8, 1))}
CIVIL_DEFAULTS = {"gini_coefficient": .418, "institutional_trust": .38, "polarization_index": .78}


def zscores(conn, asof, window_days: int = 252) -> dict[str, dict]:
    """Latest value and its z-score over the trailing window for each indicator (needs 30 points)."""
    out = {}
    rows = conn.execute("SELECT indicator_id, asof_date, value FROM macro_indicators WHERE asof_date BETWEEN %s AND %s "
                        "ORDER BY indicator_id, asof_date", (asof - timedelta(days=window_days), asof)).fetchall()
    series: dict[str, list[float]] = {}
    for indicator, _day, value in rows:
        series.setdefault(indicator, []).append(float(value))
    for indicator, values in series.items():
        current = values[-1]
        z = (current - np.mean(values)) / np.std(values, ddof=1) if len(values) >= 30 and np.std(values) > 0 else 0.0
        out[indicator] = {"value": current, "zscore": float(z), "observations": len(values)}
    return out


def _score(z: float, low, high, weight: float) -> float:
    if (low is None or z >= low) and (high is None or z <= high):
        return weight
    distance = (low - z) if low is not None and z < low else (z - high)
    return weight * 2 ** (-distance)


@REGISTRY.register("macro.detect_regime", "macro_hound")
def detect_regime(conn, ctx, warnings, asof_date: str | None = None) -> dict:
    scores = zscores(conn, ctx.asof_date)
    missing = [i for i in ("T10Y2Y", "UNRATE", "CPIAUCSL", "BAA10Y") if i not in scores]
    if missing:
        warnings.append(f"indicators missing: {missing}; their z-score counts as 0")
    regime_scores = {}
    for regime, rules in REGIME_RULES.items():
        total = sum(_score(scores.get(i, {"zscore": 0.0})["zscore"], lo, hi, w) for i, (lo, hi, w) in rules.items())
        regime_scores[regime] = 100 * total / sum(w for _, _, w in rules.values())
    total = sum(regime_scores.values())
    probabilities = {r: s / total for r, s in regime_scores.items()}
    regime = max(probabilities, key=probabilities.get)
    return {"regime_name": regime, "confidence": probabilities[regime], "asof_date": ctx.asof_date.isoformat(),
            "indicators": {i: v["value"] for i, v in scores.items()}, "zscores": {i: v["zscore"] for i, v in scores.items()},
            "regime_scores": regime_scores, "probabilities": probabilities}


@REGISTRY.register("macro.get_indicators", "macro_hound")
def get_indicators(conn, ctx, warnings, asof_date: str | None = None) -> dict:
    rows = conn.execute("""SELECT DISTINCT ON (indicator_id) indicator_id, indicator_name, asof_date, value, units
                             FROM macro_indicators WHERE asof_date <= %s ORDER BY indicator_id, asof_date DESC""",
                        (ctx.asof_date,)).fetchall()
    return {"asof_date": ctx.asof_date.isoformat(),
            "indicators": {r[0]: {"name": r[1], "asof_date": r[2].isoformat(), "value": float(r[3]), "units": r[4]} for r in rows}}


@REGISTRY.register("macro.get_regime_history", "macro_hound")
def get_regime_history(conn, ctx, warnings, lookback_weeks: int = 4) -> dict:
    rows = conn.execute("SELECT asof_date, regime, confidence, regime_scores_json FROM regime_history "
                        "WHERE asof_date > %s AND asof_date <= %s ORDER BY asof_date",
                        (ctx.asof_date - timedelta(weeks=lookback_weeks), ctx.asof_date)).fetchall()
    history = [{"asof_date": d.isoformat(), "regime": r, "confidence": float(c), "probabilities": p} for d, r, c, p in rows]
    series = {f"{r.lower()}_probs": [h["probabilities"].get(r.lower()) for h in history] for r in REGIMES}
    return {"history": history, "labels": [h["asof_date"] for h in history], **series}


def _cycle(conn, ctx, cycle_type: str) -> dict:
    row = conn.execute("SELECT asof_date, phase, phase_number, composite_score, indicators_json FROM cycle_phases "
                       "WHERE cycle_type = %s AND asof_date <= %s ORDER BY asof_date DESC LIMIT 1",
                       (cycle_type, ctx.asof_date)).fetchone()
    if not row:
        return {"cycle_type": cycle_type, "phase_label": None, "phase_number": None, "composite_score": None, "date": None}
    return {"cycle_type": cycle_type, "phase_label": row[1], "phase_number": row[2], "composite_score": float(row[3]),
            "date": row[0].isoformat(), "indicators": row[4]}


@REGISTRY.register("cycles.compute_short_term", "macro_hound")
def short_term_cycle(conn, ctx, warnings) -> dict:
    return _cycle(conn, ctx, "STDC")


@REGISTRY.register("cycles.compute_long_term", "macro_hound")
def long_term_cycle(conn, ctx, warnings) -> dict:
    return _cycle(conn, ctx, "LTDC")


@REGISTRY.register("cycles.compute_empire", "macro_hound")
def empire_cycle(conn, ctx, warnings) -> dict:
    return _cycle(conn, ctx, "EMPIRE")


@REGISTRY.register("cycles.compute_civil", "macro_hound")
def civil_cycle(conn, ctx, warnings) -> dict:
    """Civil-order phase scored on gini, trust and polarization (cycle_phases has no CIVIL rows: DawsOS's defaults)."""
    warnings.append("civil indicators are DawsOS's configured defaults (macro_indicators_defaults.json), not data")
    values = list(CIVIL_DEFAULTS.values())
    scores = {}
    for phase, ranges in CIVIL_PHASES.items():
        parts = [1.0 if lo <= v <= hi else max(0.0, 1 - 5 * min(abs(v - lo), abs(v - hi))) for v, (lo, hi) in zip(values, ranges)]
        scores[phase] = sum(parts) / len(parts)
    phase = max(scores, key=scores.get)
    return {"cycle_type": "CIVIL", "phase_label": phase, "phase_number": list(CIVIL_PHASES).index(phase) + 1,
            "composite_score": scores[phase], "date": ctx.asof_date.isoformat(), "indicators": CIVIL_DEFAULTS,
            "phase_scores": scores}


@REGISTRY.register("macro.detect_trend_shifts", "macro_hound")
def detect_trend_shifts(conn, ctx, warnings, regime_history: dict, factor_history: dict) -> dict:
    history = regime_history["history"]
    if len(history) < 2:
        warnings.append("fewer than two regime observations: no trend")
        return {"regime_changed": None, "shifts": []}
    first, last = history[0], history[-1]
    shifts = [{"regime": r, "from": first["probabilities"].get(r.lower()), "to": last["probabilities"].get(r.lower()),
               "change": last["probabilities"].get(r.lower(), 0) - first["probabilities"].get(r.lower(), 0)} for r in REGIMES]
    return {"regime_changed": first["regime"] != last["regime"], "from_regime": first["regime"], "to_regime": last["regime"],
            "shifts": sorted(shifts, key=lambda s: -abs(s["change"])), "factor_changes": factor_history.get("changes", {})}
