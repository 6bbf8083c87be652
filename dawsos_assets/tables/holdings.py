"""`holdings`: the portfolio manager's current book, a materialized view refreshed after its inputs change."""

import time

import dagster as dg

from dawsos_assets.database.legacy import SQL_DIR
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.table_assets import table_key

HOLDINGS_SQL = SQL_DIR / "analytics" / "holdings.sql"
INPUTS = ["lots", "prices", "fx_rates", "portfolios", "securities", "pricing_packs"]


@dg.asset(key=dg.AssetKey(["analytics", "holdings"]), group_name="analytics", kinds={"postgres"},
          deps=[table_key(t) for t in INPUTS], pool="portfolio_database",
          metadata={"dagster/table_name": "analytics.holdings"})
def holdings(database: PortfolioDatabase) -> dg.MaterializeResult:
    """Open positions per portfolio and security at the latest pricing pack: quantity, price, market value in the
    portfolio's base currency and weight. Refreshed CONCURRENTLY, so readers are never blocked."""
    started = time.perf_counter()
    with database.connect(autocommit=True) as conn:
        existed = conn.execute("SELECT to_regclass('analytics.holdings') IS NOT NULL").fetchone()[0]
        if existed:
            conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.holdings")
        else:
            with conn.transaction():
                conn.execute(HOLDINGS_SQL.read_text())
        rows, portfolios, unpriced = conn.execute(
            "SELECT count(*), count(DISTINCT portfolio_id), count(*) FILTER (WHERE market_value IS NULL) "
            "FROM analytics.holdings").fetchone()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(rows), "portfolios": dg.MetadataValue.int(portfolios),
        "positions_without_price": dg.MetadataValue.int(unpriced),
        "refresh": "refreshed concurrently" if existed else "created",
        "duration_ms": dg.MetadataValue.float(round((time.perf_counter() - started) * 1000, 1))})
