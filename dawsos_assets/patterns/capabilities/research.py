"""Research capabilities: fundamentals and Buffett ratings (DawsOS's services/ratings.py), news, corporate actions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from psycopg import sql

from dawsos_assets.patterns.capabilities.portfolio import fx_rate
from dawsos_assets.patterns.registry import REGISTRY

# (component, fundamentals field, thresholds as (bound, score) checked in order, direction) per rating,
# hard-coded in ratings.py
RATING_RULES = {
    "dividend_safety": {
        "weights": {"payout_ratio": 0.30, "fcf_coverage": 0.35, "growth_streak": 0.20, "net_cash": 0.15},
        "components": {
            "payout_ratio": ("payout_ratio_5y_avg", [(0.30, 10), (0.50, 7), (0.70, 5)], 2, "below"),
            "fcf_coverage": ("fcf_dividend_coverage", [(3, 10), (2, 7), (1, 5)], 2, "above"),
            "growth_streak": ("dividend_growth_streak_years", [(20, 10), (10, 9), (5, 7)], 5, "at_least"),
            "net_cash": ("net_cash_position", [(50e9, 10), (10e9, 8), (1e9, 6)], 4, "above"),
        },
    },
    "moat_strength": {
        "weights": {"roe_consistency": 0.40, "gross_margin": 0.30, "intangibles": 0.20, "switching_costs": 0.10},
        "components": {
            "roe_consistency": ("roe_5y_avg", [(0.20, 10), (0.15, 8), (0.10, 6)], 4, "above"),
            "gross_margin": ("gross_margin_5y_avg", [(0.60, 10), (0.40, 8), (0.25, 6)], 4, "above"),
            "intangibles": ("intangible_assets_ratio", [(0.30, 8), (0.15, 6)], 4, "above"),
            "switching_costs": ("switching_cost_score", None, None, "score"),
        },
    },
    "resilience": {
        "weights": {"debt_equity": 0.40, "current_ratio": 0.25, "interest_coverage": 0.20, "margin_stability": 0.15},
        "components": {
            "debt_equity": ("debt_equity_ratio", [(0.5, 10), (1, 8), (2, 6)], 3, "below"),
            "interest_coverage": ("interest_coverage", [(10, 10), (5, 8), (2, 6)], 3, "above"),
            "current_ratio": ("current_ratio", [(2, 10), (1.5, 8), (1, 7)], 4, "above"),
            "margin_stability": ("operating_margin_std_dev", [(0.02, 10), (0.05, 8), (0.10, 6)], 4, "below"),
        },
    },
}


def _warn_if_empty(conn, table: str, warnings: list) -> None:
    """Nothing found: say so when the table holds no rows at all (a DawsOS database may lack the data)."""
    if conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))).fetchone()[0]:
        warnings.append(f"{table} holds no rows: nothing to report")


def _num(value):
    return float(value) if isinstance(value, (Decimal, int, float)) else None


def _component_score(value, thresholds, floor, direction):
    if value is None:
        return None
    if direction == "score":
        return value
    for bound, score in thresholds:
        if (
            (direction == "below" and value < bound)
            or (direction == "above" and value > bound)
            or (direction == "at_least" and value >= bound)
        ):
            return score
    return floor


def _security_ids(conn, security_id: str | None, portfolio_id: str | None) -> list[str]:
    if security_id:
        return [security_id]
    rows = conn.execute(
        "SELECT DISTINCT l.security_id::text FROM lots l WHERE l.portfolio_id = %s AND l.quantity_open > 0",
        (portfolio_id,),
    ).fetchall()
    return [r[0] for r in rows]


@REGISTRY.register("fundamentals.load", "data_harvester", reads=("fundamentals", "lots", "securities"))
def load_fundamentals(conn, ctx, warnings, security_id: str | None = None, portfolio_id: str | None = None) -> dict:
    """Latest fundamentals of one security, or of every holding when only a portfolio is given."""
    out = {}
    for sid in _security_ids(conn, security_id, portfolio_id):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT s.symbol, f.* FROM fundamentals f JOIN securities s ON s.id = f.security_id "
                "WHERE f.security_id = %s AND f.asof_date <= %s ORDER BY f.asof_date DESC LIMIT 1",
                (sid, ctx.asof_date),
            )
            row = cur.fetchone()
            if row is None:
                warnings.append(f"no fundamentals for security {sid}")
                continue
            names = [d.name for d in cur.description]
        record = dict(zip(names, row, strict=True))
        out[record["symbol"]] = {
            k: (_num(v) if isinstance(v, (Decimal, int, float)) else str(v)) for k, v in record.items()
        }
    return {"securities": out, "count": len(out)}


def rubric_weights(conn, kind: str, warnings: list) -> dict[str, float]:
    """Weights from rating_rubrics (method v1) when the table has them, else the code's defaults."""
    row = conn.execute(
        "SELECT overall_weights FROM rating_rubrics WHERE rating_type = %s ORDER BY method_version DESC LIMIT 1",
        (kind,),
    ).fetchone()
    defaults = RATING_RULES[kind]["weights"]
    if row is None or set(row[0]) != set(defaults):
        warnings.append(f"{kind}: no usable rubric in rating_rubrics, default weights used")
        return defaults
    return {k: float(v) for k, v in row[0].items()}


def _rate(kind: str, fundamentals: dict, warnings: list, weights: dict[str, float] | None = None) -> dict:
    rule = {**RATING_RULES[kind], "weights": weights or RATING_RULES[kind]["weights"]}
    per_security = {}
    for symbol, data in fundamentals["securities"].items():
        components = {
            name: _component_score(_num(data.get(field)), thresholds, floor, direction)
            for name, (field, thresholds, floor, direction) in rule["components"].items()
        }
        known = {n: s for n, s in components.items() if s is not None}
        if len(known) < len(components):
            warnings.append(f"{kind} {symbol}: missing {sorted(set(components) - set(known))}, weights renormalized")
        weight = sum(rule["weights"][n] for n in known)
        overall = sum(rule["weights"][n] * s for n, s in known.items()) / weight if weight else None
        per_security[symbol] = {"overall_score": overall, "components": components}
    scores = [v["overall_score"] for v in per_security.values() if v["overall_score"] is not None]
    return {
        "rating": kind,
        "overall_score": sum(scores) / len(scores) if scores else None,
        "securities": per_security,
        "weights": rule["weights"],
    }


@REGISTRY.register("financial_analyst.dividend_safety", "financial_analyst", reads=("rating_rubrics",))
def dividend_safety(conn, ctx, warnings, fundamentals: dict) -> dict:
    """Dividend safety rating of each security from its fundamentals."""
    return _rate("dividend_safety", fundamentals, warnings, rubric_weights(conn, "dividend_safety", warnings))


@REGISTRY.register("financial_analyst.moat_strength", "financial_analyst", reads=("rating_rubrics",))
def moat_strength(conn, ctx, warnings, fundamentals: dict) -> dict:
    """Moat strength rating of each security from its fundamentals."""
    return _rate("moat_strength", fundamentals, warnings, rubric_weights(conn, "moat_strength", warnings))


@REGISTRY.register("financial_analyst.resilience", "financial_analyst", reads=("rating_rubrics",))
def resilience(conn, ctx, warnings, fundamentals: dict) -> dict:
    """Resilience rating of each security from its fundamentals."""
    return _rate("resilience", fundamentals, warnings, rubric_weights(conn, "resilience", warnings))


def _grade(score: float | None) -> str | None:
    if score is None:
        return None
    return "A" if score >= 90 else "B" if score >= 80 else "C" if score >= 70 else "D" if score >= 60 else "F"


@REGISTRY.register(
    "financial_analyst.aggregate_ratings",
    "financial_analyst",
    reads=("fundamentals", "lots", "rating_rubrics", "securities"),
)
def aggregate_ratings(
    conn,
    ctx,
    warnings,
    dividend_safety: dict | None = None,
    moat_strength: dict | None = None,
    resilience: dict | None = None,
    positions: list | None = None,
) -> dict:
    """0-100 = 10 x (0.40 moat + 0.30 dividend + 0.30 resilience); with positions, a market-value-weighted mean."""
    if positions is not None:  # policy_rebalance rates the holdings
        fundamentals = load_fundamentals(conn, ctx, warnings, security_id=None, portfolio_id=ctx.portfolio_id)
        dividend_safety, moat_strength, resilience = (
            _rate(k, fundamentals, warnings, rubric_weights(conn, k, warnings))
            for k in ("dividend_safety", "moat_strength", "resilience")
        )
    per_security = {}
    for symbol in dividend_safety["securities"]:
        parts = [
            (0.40, moat_strength["securities"][symbol]["overall_score"]),
            (0.30, dividend_safety["securities"][symbol]["overall_score"]),
            (0.30, resilience["securities"][symbol]["overall_score"]),
        ]
        if any(score is None for _, score in parts):
            per_security[symbol] = {"overall_rating": None, "grade": None}
            continue
        overall = 10 * sum(w * s for w, s in parts)
        per_security[symbol] = {"overall_rating": overall, "grade": _grade(overall)}
    weights = {p["symbol"]: p["weight"] or 0 for p in positions or []}
    rated = [
        (weights.get(s, 1.0), v["overall_rating"]) for s, v in per_security.items() if v["overall_rating"] is not None
    ]
    total = sum(w for w, _ in rated)
    overall = sum(w * r for w, r in rated) / total if total else None
    return {"overall_rating": overall, "grade": _grade(overall), "securities": per_security}


@REGISTRY.register("ai.explain", "claude_agent")
def explain(conn, ctx, warnings, topic: str, data: dict) -> dict:
    """A rule-based explanation: no language model runs here, and the output says so."""
    ranked = sorted(
        ((s, v["overall_rating"]) for s, v in data.get("securities", {}).items() if v["overall_rating"] is not None),
        key=lambda x: -x[1],
    )
    lines = [f"{s}: {r:.0f}/100 ({_grade(r)})" for s, r in ranked]
    text = f"Quality ratings from fundamentals: {'; '.join(lines)}." if lines else "No security could be rated."
    return {"text": text, "confidence": None, "sources": ["fundamentals", "rating rubrics"], "generator": "template"}


@REGISTRY.register("news.search", "data_harvester", reads=("news_items",))
def news_search(conn, ctx, warnings, entities: list, lookback_hours: int = 720) -> dict:
    """News items that mention the given securities within the lookback hours."""
    symbols = [e["symbol"] for e in entities or []]
    since = ctx.asof_date - timedelta(hours=lookback_hours)
    rows = conn.execute(
        "SELECT id::text, published_at, headline, source, summary, symbols, sentiment, impact_score "
        "FROM news_items WHERE symbols && %s AND published_at >= %s ORDER BY published_at DESC",
        (symbols, since),
    ).fetchall()
    if not rows:
        _warn_if_empty(conn, "news_items", warnings)
    return {
        "items": [
            {
                "id": r[0],
                "published_at": r[1].isoformat(),
                "headline": r[2],
                "source": r[3],
                "summary": r[4],
                "entities": r[5],
                "sentiment": float(r[6]),
                "impact_score": float(r[7]),
            }
            for r in rows
        ]
    }


@REGISTRY.register("news.compute_portfolio_impact", "data_harvester")
def news_impact(conn, ctx, warnings, news_items: dict, positions: dict, min_threshold: float = 0.05) -> dict:
    """The news weighted by the portfolio's exposure to the securities each item mentions."""
    weights = {p["symbol"]: p["weight"] or 0.0 for p in positions["positions"]}
    items = []
    for item in news_items["items"]:
        exposure = sum(weights.get(s, 0.0) for s in item["entities"])
        score = item["impact_score"] * exposure
        if exposure > 0:
            items.append({**item, "weight_affected": exposure, "weighted_impact": score})
    high = [i for i in items if i["weighted_impact"] >= min_threshold]
    mentions = {}
    for item in items:
        for entity in item["entities"]:
            mentions[entity] = mentions.get(entity, 0) + 1
    exposed = sum(w for s, w in weights.items() if s in mentions)
    sentiment = sum(i["sentiment"] * i["weight_affected"] for i in items)
    return {
        "total_items": len(items),
        "high_impact_count": len(high),
        "weighted_impact": sum(i["weighted_impact"] for i in items),
        "exposed_portfolio_pct": 100 * exposed,
        "overall_sentiment": "positive" if sentiment > 0.01 else "negative" if sentiment < -0.01 else "neutral",
        "news_with_impact": sorted(items, key=lambda i: -i["weighted_impact"]),
        "entity_mentions": [
            {"entity": e, "mention_count": n} for e, n in sorted(mentions.items(), key=lambda kv: -kv[1])
        ],
    }


@REGISTRY.register("corporate_actions.upcoming", "data_harvester", reads=("corporate_actions", "lots"))
def upcoming_actions(conn, ctx, warnings, portfolio_id: str, days_ahead: int = 90) -> dict:
    """The corporate actions of the portfolio's open positions within the next `days_ahead` days."""
    rows = conn.execute(
        """SELECT ca.security_id::text, ca.symbol, ca.action_type, ca.action_date, ca.amount, ca.split_ratio,
                                  ca.currency
                             FROM corporate_actions ca
                            WHERE ca.action_date > %s AND ca.action_date <= %s
                              AND ca.security_id IN (SELECT security_id FROM lots
                                                      WHERE portfolio_id = %s AND quantity_open > 0)
                            ORDER BY ca.action_date, ca.symbol""",
        (ctx.asof_date, ctx.asof_date + timedelta(days=days_ahead), portfolio_id),
    ).fetchall()
    if not rows:
        _warn_if_empty(conn, "corporate_actions", warnings)
    return {
        "actions": [
            {
                "security_id": r[0],
                "symbol": r[1],
                "type": r[2],
                "date": r[3].isoformat(),
                "amount": _num(r[4]),
                "split_ratio": _num(r[5]),
                "currency": r[6],
            }
            for r in rows
        ],
        "days_ahead": days_ahead,
    }


@REGISTRY.register("corporate_actions.calculate_impact", "data_harvester", reads=("fx_rates",))
def actions_impact(conn, ctx, warnings, actions: list, holdings: list) -> dict:
    """Dividend impact = amount x shares held, in the action's currency and converted to the base currency at
    the pack (DawsOS read `qty` after the rename and computed 0). Without a rate the total is null, not partial.
    """
    held = {h["security_id"]: h["quantity"] for h in holdings}
    rows = []
    for action in actions:
        quantity = held.get(action["security_id"], 0.0)
        impact = action["amount"] * quantity if action["type"] == "dividend" and action["amount"] is not None else None
        rate = (
            fx_rate(conn, ctx, action["currency"], ctx.base_currency, ctx.pricing_pack_id)
            if impact is not None
            else None
        )
        if impact is not None and rate is None:
            warnings.append(
                f"{action['symbol']} dividend: no {action['currency']}/{ctx.base_currency} rate in "
                f"{ctx.pricing_pack_id}, so no base-currency impact and no total"
            )
        rows.append(
            {
                **action,
                "portfolio_quantity": quantity,
                "portfolio_impact": impact,
                "portfolio_impact_base": impact * rate if rate is not None else None,
            }
        )
    dividends = [r for r in rows if r["portfolio_impact"] is not None]
    converted = all(r["portfolio_impact_base"] is not None for r in dividends)
    urgent_until = (ctx.asof_date + timedelta(days=7)).isoformat()
    return {
        "actions": rows,
        "summary": {
            "total_actions": len(rows),
            "currency": ctx.base_currency,
            "dividends_expected": sum(r["portfolio_impact_base"] for r in dividends) if converted else None,
            "splits_pending": sum(r["type"] == "split" for r in rows),
            "earnings_releases": sum(r["type"] == "earnings" for r in rows),
        },
        "notifications": {
            "urgent": [r for r in rows if r["date"] <= urgent_until],
            "informational": [r for r in rows if r["date"] > urgent_until],
        },
    }
