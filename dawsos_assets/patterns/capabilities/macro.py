"""Macro capabilities from macro_indicators, regime_history and cycle_phases.

As DawsOS's services/macro.py computes them, with its configured defaults.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from dawsos_assets.patterns.registry import REGISTRY

REGIMES = ["EARLY_EXPANSION", "MID_EXPANSION", "LATE_EXPANSION", "EARLY_CONTRACTION", "DEEP_CONTRACTION"]
# (min_z, max_z, weight) per regime and core indicator (services/macro.py); None is an open bound
REGIME_RULES = {
    "EARLY_EXPANSION": {
        "T10Y2Y": (0.5, None, 2.0),
        "UNRATE": (None, -0.5, 1.5),
        "CPIAUCSL": (None, 0.0, 1.0),
        "BAA10Y": (None, 0.0, 1.0),
    },
    "MID_EXPANSION": {
        "T10Y2Y": (0.0, 1.5, 1.5),
        "UNRATE": (-1.5, 0.0, 1.5),
        "CPIAUCSL": (-0.5, 0.5, 1.0),
        "BAA10Y": (-0.5, 0.5, 1.0),
    },
    "LATE_EXPANSION": {
        "T10Y2Y": (-1.0, 0.5, 2.0),
        "UNRATE": (-2.0, -0.5, 1.5),
        "CPIAUCSL": (0.5, None, 2.0),
        "BAA10Y": (0.0, 1.0, 1.0),
    },
    "EARLY_CONTRACTION": {
        "T10Y2Y": (None, -0.5, 2.5),
        "UNRATE": (0.0, 1.0, 1.5),
        "CPIAUCSL": (None, 1.0, 0.5),
        "BAA10Y": (0.5, None, 2.0),
    },
    "DEEP_CONTRACTION": {
        "T10Y2Y": (0.5, None, 1.0),
        "UNRATE": (1.0, None, 2.5),
        "CPIAUCSL": (None, 0.0, 1.0),
        "BAA10Y": (1.5, None, 2.5),
    },
}
# Civil-order phases: (gini, institutional_trust, polarization) ranges (services/macro.py) and the configured defaults
CIVIL_PHASES = {
    "Harmony": ((0, 0.30), (0.7, 1), (0, 0.3)),
    "Rising Tensions": ((0.30, 0.38), (0.5, 0.7), (0.3, 0.45)),
    "Polarization": ((0.38, 0.42), (0.35, 0.5), (0.45, 0.65)),
    "Crisis": ((0.42, 0.48), (0.2, 0.35), (0.65, 0.8)),
    "Conflict/Revolution": ((0.48, 1), (0, 0.2), (0.8, 1)),
}
CIVIL_DEFAULTS = {"gini_coefficient": 0.418, "institutional_trust": 0.38, "polarization_index": 0.78}


CORE_INDICATORS = ("T10Y2Y", "UNRATE", "CPIAUCSL", "BAA10Y")
MIN_OBSERVATIONS = 30  # DawsOS's rule: a z-score needs 30 points
# Observations per year by frequency; a series' window is a year of them, and never fewer than MIN_OBSERVATIONS.
PERIODS_PER_YEAR = {"daily": 252, "weekly": 52, "monthly": 12, "quarterly": 4, "annual": 1}


def frequency(dates: list) -> str:
    """A series' frequency from the median gap between its observations (labels in the table may be absent)."""
    if len(dates) < 2:
        return "annual"
    gap = float(np.median(np.diff([d.toordinal() for d in dates])))
    return (
        "daily"
        if gap <= 4
        else "weekly"
        if gap <= 10
        else "monthly"
        if gap <= 45
        else "quarterly"
        if gap <= 135
        else "annual"
    )


def zscores(conn, asof, warnings: list) -> dict[str, dict]:
    """Latest value of each indicator and its z-score over its own window of observations (a year of them, at
    least 30). A series with fewer observations than its window gets a null z-score and a warning.
    """
    rows = conn.execute(
        """SELECT indicator_id, asof_date, value FROM (
                               SELECT indicator_id, asof_date, value, row_number() OVER (
                                      PARTITION BY indicator_id ORDER BY asof_date DESC) AS age
                                 FROM macro_indicators WHERE asof_date <= %s) recent
                            WHERE age <= %s ORDER BY indicator_id, asof_date""",
        (asof, max(PERIODS_PER_YEAR.values())),
    ).fetchall()
    series: dict[str, list[tuple]] = {}
    for indicator, day, value in rows:
        series.setdefault(indicator, []).append((day, float(value)))
    out = {}
    for indicator, points in series.items():
        every = frequency([day for day, _ in points])
        window = max(MIN_OBSERVATIONS, PERIODS_PER_YEAR[every])
        values = np.array([value for _, value in points[-window:]])
        z = None
        if len(values) < window or values.std() == 0:
            core = ", left out of the regime scores" if indicator in CORE_INDICATORS else ""
            warnings.append(
                f"{indicator}: {len(values)} of the {window} {every} observations a z-score needs "
                f"(or no variation): z-score null{core}"
            )
        else:
            z = float((values[-1] - values.mean()) / values.std(ddof=1))
        out[indicator] = {"value": float(values[-1]), "zscore": z, "observations": len(values), "frequency": every}
    return out


def _score(z: float, low, high, weight: float) -> float:
    if (low is None or z >= low) and (high is None or z <= high):
        return weight
    distance = (low - z) if low is not None and z < low else (z - high)
    return weight * 2 ** (-distance)


@REGISTRY.register("macro.detect_regime", "macro_hound", reads=("macro_indicators",))
def detect_regime(conn, ctx, warnings, asof_date: str | None = None) -> dict:
    """Regime scores from the core indicators' z-scores (services/macro.py); an indicator without a z-score is left
    out of every regime's score (its weight with it), never counted as z = 0.
    """
    scores = zscores(conn, ctx.asof_date, warnings)
    used = [i for i in CORE_INDICATORS if (scores.get(i) or {}).get("zscore") is not None]
    absent = [i for i in CORE_INDICATORS if i not in scores]
    if absent:
        warnings.append(f"indicators missing: {absent}; left out of the regime scores")
    regime_scores = {}
    for regime, rules in REGIME_RULES.items():
        weight = sum(rules[i][2] for i in used)
        total = sum(_score(scores[i]["zscore"], *rules[i]) for i in used)
        regime_scores[regime] = 100 * total / weight if weight else None
    if not used:
        warnings.append("no core indicator has a z-score: the regime is null")
        return {
            "regime_name": None,
            "confidence": None,
            "asof_date": ctx.asof_date.isoformat(),
            "indicators": {i: v["value"] for i, v in scores.items()},
            "zscores": {i: v["zscore"] for i, v in scores.items()},
            "regime_scores": regime_scores,
            "probabilities": None,
            "indicators_used": used,
        }
    total = sum(regime_scores.values())
    probabilities = {r: s / total for r, s in regime_scores.items()}
    regime = max(probabilities, key=probabilities.get)
    return {
        "regime_name": regime,
        "confidence": probabilities[regime],
        "asof_date": ctx.asof_date.isoformat(),
        "indicators": {i: v["value"] for i, v in scores.items()},
        "zscores": {i: v["zscore"] for i, v in scores.items()},
        "regime_scores": regime_scores,
        "probabilities": probabilities,
        "indicators_used": used,
    }


@REGISTRY.register("macro.get_indicators", "macro_hound", reads=("macro_indicators",))
def get_indicators(conn, ctx, warnings, asof_date: str | None = None) -> dict:
    """The latest value of each macro indicator on or before the as-of date."""
    rows = conn.execute(
        """SELECT DISTINCT ON (indicator_id) indicator_id, indicator_name, asof_date, value, units
                             FROM macro_indicators WHERE asof_date <= %s ORDER BY indicator_id, asof_date DESC""",
        (ctx.asof_date,),
    ).fetchall()
    return {
        "asof_date": ctx.asof_date.isoformat(),
        "indicators": {
            r[0]: {"name": r[1], "asof_date": r[2].isoformat(), "value": float(r[3]), "units": r[4]} for r in rows
        },
    }


@REGISTRY.register("macro.get_regime_history", "macro_hound", reads=("regime_history",))
def get_regime_history(conn, ctx, warnings, lookback_weeks: int = 4) -> dict:
    """The detected regime over the lookback weeks, with the probability series of each regime."""
    rows = conn.execute(
        "SELECT asof_date, regime, confidence, regime_scores_json FROM regime_history "
        "WHERE asof_date > %s AND asof_date <= %s ORDER BY asof_date",
        (ctx.asof_date - timedelta(weeks=lookback_weeks), ctx.asof_date),
    ).fetchall()
    history = [
        {"asof_date": d.isoformat(), "regime": r, "confidence": float(c), "probabilities": p} for d, r, c, p in rows
    ]
    series = {f"{r.lower()}_probs": [h["probabilities"].get(r.lower()) for h in history] for r in REGIMES}
    return {"history": history, "labels": [h["asof_date"] for h in history], **series}


# Phase -> {indicator: weight} (services/macro.py); values in percent units
STDC_PHASES = {
    "Early Recovery": {"T10Y2Y": 2.5, "UNRATE_change": 1.5, "INDPRO_change": 1.0, "credit_growth": 0.5},
    "Mid Expansion": {"GDP_growth": 2.0, "PAYEMS_change": 1.5, "credit_growth": 1.0, "T10Y2Y": 1.0},
    "Late Expansion / Boom": {"CPIAUCSL_yoy": 2.0, "T10Y2Y": -2.0, "credit_growth": 1.5, "UNRATE": -1.0},
    "Early Recession": {"T10Y2Y": -2.5, "GDP_growth": -1.5, "INDPRO_change": -1.0, "credit_growth": -0.5},
    "Deep Recession": {"UNRATE_change": 2.5, "GDP_growth": -2.0, "credit_growth": -2.0, "PAYEMS_change": -1.5},
}
LTDC_PHASES = {
    "Deleveraging": {"debt_to_gdp": -2.5, "real_rates": 2.0, "GDP_growth": -1.0},
    "Reflation": {"money_supply_growth": 2.0, "real_rates": -1.5, "credit_growth": 1.0},
    "Expansion": {"debt_to_gdp": 1.5, "GDP_growth": 2.0, "productivity_growth": 1.0},
    "Bubble": {"debt_to_gdp": 2.5, "asset_prices": 2.0, "credit_growth": 2.0},
    "Top": {"debt_service_ratio": 2.5, "real_rates": 2.0, "GDP_growth": -1.0},
    "Debt Crisis": {"default_rate": 2.5, "credit_spread": 2.0, "asset_prices": -2.0},
    "Depression": {"GDP_growth": -2.5, "UNRATE": 2.5, "debt_to_gdp": -1.5},
}
EMPIRE_PHASES = {
    "Rise": {
        "education_investment": 2.0,
        "innovation_rate": 2.0,
        "military_strength": 1.5,
        "reserve_currency_share": 1.0,
    },
    "Peak": {"reserve_currency_share": 2.5, "military_strength": 2.0, "GDP_share": 2.0, "innovation_rate": 1.0},
    "Decline": {"debt_to_gdp": 2.0, "reserve_currency_share": -2.0, "education_investment": -1.5, "inequality": 1.5},
    "Collapse": {
        "internal_conflict": 2.5,
        "reserve_currency_share": -2.5,
        "military_strength": -2.0,
        "GDP_share": -2.0,
    },
}
# DawsOS's configured values (backend/config/macro_indicators_defaults.json), in percent, for series the database lacks
CONFIGURED = {
    "credit_growth": 10.4,
    "debt_to_gdp": 132.0,
    "real_rates": 0.84,
    "money_supply_growth": 2.5,
    "productivity_growth": 3.3,
    "asset_prices": 18.2,
    "debt_service_ratio": 14.77,
    "default_rate": 3.2,
    "education_investment": 5.2,
    "innovation_rate": 76.0,
    "military_strength": 38.0,
    "reserve_currency_share": 58.0,
    "GDP_share": 26.0,
    "inequality": 41.8,
    "internal_conflict": 42.0,
}


def _value_at(conn, indicator: str, day) -> float | None:
    row = conn.execute(
        "SELECT value FROM macro_indicators WHERE indicator_id = %s AND asof_date <= %s "
        "ORDER BY asof_date DESC LIMIT 1",
        (indicator, day),
    ).fetchone()
    return float(row[0]) if row else None


def cycle_inputs(conn, ctx) -> tuple[dict[str, float], list[str]]:
    """Indicator values for the detectors: levels and year-on-year changes from macro_indicators, and DawsOS's
    configured values for what the database does not hold (named in the returned list). Read once per batch.
    """
    return ctx.memo.get(("cycle inputs", ctx.asof_date), lambda: _read_cycle_inputs(conn, ctx))


def _read_cycle_inputs(conn, ctx) -> tuple[dict[str, float], list[str]]:
    now, year_ago = ctx.asof_date, ctx.asof_date - timedelta(days=365)
    values: dict[str, float] = {}

    def yoy(indicator):
        current, before = _value_at(conn, indicator, now), _value_at(conn, indicator, year_ago)
        return 100 * (current / before - 1) if current and before else None

    for name, value in (
        ("T10Y2Y", _value_at(conn, "T10Y2Y", now)),
        ("UNRATE", _value_at(conn, "UNRATE", now)),
        ("credit_spread", _value_at(conn, "BAA10Y", now)),
        ("GDP_growth", yoy("GDP")),
        ("INDPRO_change", yoy("INDPRO")),
        ("PAYEMS_change", yoy("PAYEMS")),
        ("CPIAUCSL_yoy", yoy("CPIAUCSL")),
    ):
        if value is not None:
            values[name] = value
    unrate_before = _value_at(conn, "UNRATE", year_ago)
    if "UNRATE" in values and unrate_before is not None:
        values["UNRATE_change"] = values["UNRATE"] - unrate_before
    configured = [k for k in CONFIGURED if k not in values]
    values.update({k: CONFIGURED[k] for k in configured})
    return values, configured


def detect_phase(cycle_type: str, phases: dict, values: dict, ctx) -> dict:
    """Score = sum of contributions / sum |weights| / 100, clamped to [0, 1]; the best phase wins.

    As in DawsOS's services/macro.py.
    """
    scores = {}
    for phase, weights in phases.items():
        contribution = 0.0
        for indicator, weight in weights.items():
            value = values.get(indicator, 0.0)
            if weight > 0 and value > 0:
                contribution += value * weight
            elif weight < 0 and value < 0:
                contribution += abs(value) * abs(weight)
        scores[phase] = min(1.0, max(0.0, contribution / sum(abs(w) for w in weights.values()) / 100))
    best = max(scores, key=scores.get)
    used = sorted({i for w in phases.values() for i in w})
    return {
        "cycle_type": cycle_type,
        "phase_label": best,
        "phase_number": list(phases).index(best) + 1,
        "composite_score": scores[best],
        "date": ctx.asof_date.isoformat(),
        "phase_scores": scores,
        "indicators": {i: values.get(i) for i in used},
    }


def _cycle(conn, ctx, warnings, cycle_type: str, phases: dict) -> dict:
    values, configured = cycle_inputs(conn, ctx)
    used = {i for w in phases.values() for i in w}
    if used & set(configured):
        warnings.append(f"{cycle_type}: configured values, not data, for {sorted(used & set(configured))}")
    return detect_phase(cycle_type, phases, values, ctx)


@REGISTRY.register("cycles.compute_short_term", "macro_hound", reads=("macro_indicators",))
def short_term_cycle(conn, ctx, warnings) -> dict:
    """The short-term debt cycle phase."""
    return _cycle(conn, ctx, warnings, "STDC", STDC_PHASES)


@REGISTRY.register("cycles.compute_long_term", "macro_hound", reads=("macro_indicators",))
def long_term_cycle(conn, ctx, warnings) -> dict:
    """The long-term debt cycle phase."""
    return _cycle(conn, ctx, warnings, "LTDC", LTDC_PHASES)


@REGISTRY.register("cycles.compute_empire", "macro_hound", reads=("macro_indicators",))
def empire_cycle(conn, ctx, warnings) -> dict:
    """The empire cycle phase."""
    return _cycle(conn, ctx, warnings, "EMPIRE", EMPIRE_PHASES)


@REGISTRY.register("cycles.compute_civil", "macro_hound")
def civil_cycle(conn, ctx, warnings) -> dict:
    """Civil-order phase scored on gini, trust and polarization (cycle_phases has no CIVIL rows: DawsOS's defaults)."""
    warnings.append("civil indicators are DawsOS's configured defaults (macro_indicators_defaults.json), not data")
    values = list(CIVIL_DEFAULTS.values())
    scores = {}
    for phase, ranges in CIVIL_PHASES.items():
        parts = [
            1.0 if lo <= v <= hi else max(0.0, 1 - 5 * min(abs(v - lo), abs(v - hi)))
            for v, (lo, hi) in zip(values, ranges, strict=True)
        ]
        scores[phase] = sum(parts) / len(parts)
    phase = max(scores, key=scores.get)
    return {
        "cycle_type": "CIVIL",
        "phase_label": phase,
        "phase_number": list(CIVIL_PHASES).index(phase) + 1,
        "composite_score": scores[phase],
        "date": ctx.asof_date.isoformat(),
        "indicators": CIVIL_DEFAULTS,
        "phase_scores": scores,
    }


@REGISTRY.register("macro.detect_trend_shifts", "macro_hound")
def detect_trend_shifts(conn, ctx, warnings, regime_history: dict, factor_history: dict) -> dict:
    """Whether the regime changed over the history, and how each regime's probability moved."""
    history = regime_history["history"]
    if len(history) < 2:
        warnings.append("fewer than two regime observations: no trend")
        return {"regime_changed": None, "shifts": []}
    first, last = history[0], history[-1]
    shifts = [
        {
            "regime": r,
            "from": first["probabilities"].get(r.lower()),
            "to": last["probabilities"].get(r.lower()),
            "change": last["probabilities"].get(r.lower(), 0) - first["probabilities"].get(r.lower(), 0),
        }
        for r in REGIMES
    ]
    return {
        "regime_changed": first["regime"] != last["regime"],
        "from_regime": first["regime"],
        "to_regime": last["regime"],
        "shifts": sorted(shifts, key=lambda s: -abs(s["change"])),
        "factor_changes": factor_history.get("changes", {}),
    }
