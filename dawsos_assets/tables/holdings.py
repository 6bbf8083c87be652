"""`holdings`: the portfolio manager's current book, a materialized view refreshed after its inputs change."""

import time

import dagster as dg

from dawsos_assets.database.legacy import SQL_DIR
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.tables.asset_checks import rows_table
from dawsos_assets.tables.checks import SAMPLE_ROWS, jsonable
from dawsos_assets.tables.table_assets import table_key

HOLDINGS_KEY = dg.AssetKey(["analytics", "holdings"])
HOLDINGS_SQL = SQL_DIR / "analytics" / "holdings.sql"
WEIGHTS_SUM_TO_ONE, EVERY_POSITION_PRICED = "weights_sum_to_one", "every_position_priced"
WEIGHT_TOLERANCE = 1e-9
INPUTS = ["lots", "prices", "fx_rates", "portfolios", "securities", "pricing_packs"]


@dg.asset(
    key=HOLDINGS_KEY,
    group_name="analytics",
    kinds={"postgres"},
    deps=[table_key(t) for t in INPUTS],
    pool="portfolio_database",
    metadata={"dagster/table_name": "analytics.holdings"},
)
def holdings(database: PortfolioDatabase) -> dg.MaterializeResult:
    """Open positions per portfolio and security at the latest pricing pack: quantity, price, market value in the
    portfolio's base currency and weight. Refreshed CONCURRENTLY, so readers are never blocked.
    """
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
            "FROM analytics.holdings"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            "portfolios": dg.MetadataValue.int(portfolios),
            "positions_without_price": dg.MetadataValue.int(unpriced),
            "refresh": "refreshed concurrently" if existed else "created",
            "duration_ms": dg.MetadataValue.float(round((time.perf_counter() - started) * 1000, 1)),
        }
    )


# The listings behind each check; the check counts their rows and shows the first ones.
UNBALANCED_PORTFOLIOS_SQL = f"""
    SELECT portfolio_id, count(*) AS priced_positions, sum(weight)::float8 AS weight_sum
      FROM analytics.holdings WHERE market_value IS NOT NULL
     GROUP BY portfolio_id HAVING abs(sum(weight) - 1) > {WEIGHT_TOLERANCE}"""  # noqa: S608 — WEIGHT_TOLERANCE is a module constant
UNPRICED_POSITIONS_SQL = """
    SELECT portfolio_id, symbol, quantity, price, currency, base_currency, fx_rate, asof_date
      FROM analytics.holdings WHERE market_value IS NULL ORDER BY portfolio_id, symbol"""


def _listing(conn, query: str) -> tuple[int, list[dict]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM ({query}) listed")  # noqa: S608 — the listings are this module's own queries
        count = cur.fetchone()[0]
        cur.execute(query + f" LIMIT {SAMPLE_ROWS}")
        names = [d.name for d in cur.description]
        return count, [{n: jsonable(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def _holdings_result(
    check: str, count: int, rows: list[dict], severity: dg.AssetCheckSeverity, description: str
) -> dg.AssetCheckResult:
    metadata = {"failing_count": dg.MetadataValue.int(count)}
    if rows:
        metadata["sample"] = rows_table(rows, {})
    return dg.AssetCheckResult(
        asset_key=HOLDINGS_KEY,
        check_name=check,
        passed=count == 0,
        severity=severity,
        metadata=metadata,
        description=description,
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            WEIGHTS_SUM_TO_ONE,
            asset=HOLDINGS_KEY,
            blocking=True,
            description="Blocking. In every portfolio the weights of the priced positions add up to "
            f"1 (within {WEIGHT_TOLERANCE:g}).",
        ),
        dg.AssetCheckSpec(
            EVERY_POSITION_PRICED,
            asset=HOLDINGS_KEY,
            description="Warning only. Every open position has a price (and an FX rate where its "
            "currency is not the portfolio's) in the latest pricing pack. A position "
            "without one has no market value or weight: it is listed here, never "
            "valued at 0, and the other weights of its portfolio leave it out.",
        ),
    ],
    name="holdings_checks",
    pool="portfolio_database",
    can_subset=True,
)
def holdings_checks(context: dg.AssetCheckExecutionContext, database: PortfolioDatabase):
    """Run the selected checks on analytics.holdings and list the first offending rows."""
    selected = {key.name for key in context.selected_asset_check_keys}
    with database.connect() as conn:
        if WEIGHTS_SUM_TO_ONE in selected:
            count, rows = _listing(conn, UNBALANCED_PORTFOLIOS_SQL)
            yield _holdings_result(
                WEIGHTS_SUM_TO_ONE,
                count,
                rows,
                dg.AssetCheckSeverity.ERROR,
                f"{count} portfolio(s) whose weights do not add up to 1",
            )
        if EVERY_POSITION_PRICED in selected:
            count, rows = _listing(conn, UNPRICED_POSITIONS_SQL)
            yield _holdings_result(
                EVERY_POSITION_PRICED,
                count,
                rows,
                dg.AssetCheckSeverity.WARN,
                f"{count} open position(s) without a price or FX rate",
            )
