"""Latency of one portfolio's holdings: the `analytics.holdings` materialized view against computing the same
rows from lots, prices and FX, for 200 random portfolios (two passes; the second is reported). Also the cost
of building and of refreshing the view CONCURRENTLY. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import seeded_database  # noqa: E402

from dawsos_assets.database import connection  # noqa: E402
from dawsos_assets.migrations.runner import MigrationRunner  # noqa: E402
from dawsos_assets.tables.holdings import HOLDINGS_SQL  # noqa: E402

FROM_VIEW = "SELECT * FROM analytics.holdings WHERE portfolio_id = %s"
FROM_TABLES = """
WITH latest_pack AS (SELECT id AS pricing_pack_id FROM pricing_packs WHERE superseded_by IS NULL
                      ORDER BY asof_date DESC, id DESC LIMIT 1),
     positions AS (SELECT portfolio_id, security_id, sum(quantity_open) AS quantity FROM lots
                    WHERE portfolio_id = %s AND quantity_open > 0 GROUP BY 1, 2)
SELECT p.*, s.symbol, pr.close, p.quantity * pr.close * CASE WHEN s.trading_currency = po.base_currency THEN 1
       ELSE fx.rate END AS market_value
  FROM positions p JOIN securities s ON s.id = p.security_id JOIN portfolios po ON po.id = p.portfolio_id
 CROSS JOIN latest_pack lp
  LEFT JOIN prices pr ON pr.security_id = p.security_id AND pr.pricing_pack_id = lp.pricing_pack_id
  LEFT JOIN fx_rates fx ON fx.base_ccy = s.trading_currency AND fx.quote_ccy = po.base_currency
                       AND fx.pricing_pack_id = lp.pricing_pack_id"""


def latencies(conn, query: str, portfolios: list) -> dict:
    """p50 and p95 milliseconds of `query` over the portfolios (the first pass warms the cache)."""
    for _pass in range(2):
        timings = []
        for portfolio in portfolios:
            started = time.perf_counter()
            conn.execute(query, (portfolio,)).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50_ms": round(statistics.median(timings), 2), "p95_ms": round(timings[int(0.95 * len(timings)) - 1], 2)}


def main() -> None:
    """Compare reading holdings from the materialized view with computing them on the fly."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--template", help="copy this seeded database instead of seeding again")
    args = parser.parse_args()

    url = seeded_database("dawsos_bench_holdings", args.lots, args.seed, template=args.template)
    MigrationRunner(url, backup=False).apply()
    with connection.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("DROP MATERIALIZED VIEW IF EXISTS analytics.holdings")
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(HOLDINGS_SQL.read_text())
        create_s = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.holdings")
        refresh_s = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE analytics.holdings")
        ids = [r[0] for r in conn.execute("SELECT DISTINCT portfolio_id FROM lots")]
        portfolios = random.Random(args.seed).sample(ids, min(200, len(ids)))  # noqa: S311 — a seeded, reproducible sample of portfolios to time, not a secret
        rows = conn.execute("SELECT count(*) FROM analytics.holdings").fetchone()[0]
        view = latencies(conn, FROM_VIEW, portfolios)
        tables = latencies(conn, FROM_TABLES, portfolios)
    figures = {
        "bench": "holdings",
        "lots": args.lots,
        "holdings_rows": rows,
        "portfolios_sampled": len(portfolios),
        "view": view,
        "from_tables": tables,
        "create_view_s": round(create_s, 2),
        "refresh_concurrently_s": round(refresh_s, 2),
        "plan_target_ms": 50,
        "our_target_ms": 5,
    }
    print(
        f"one portfolio's holdings: view p50 {view['p50_ms']} ms / p95 {view['p95_ms']} ms; "
        f"from tables p50 {tables['p50_ms']} ms / p95 {tables['p95_ms']} ms"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
