"""Pattern figures against independent computations from the raw tables (numpy and SQL, not the capabilities)."""

from datetime import timedelta

import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.patterns.engine import PatternEngine
from dawsos_assets.patterns.loader import load
from dawsos_assets.patterns.registry import default_registry

CANADIAN_DIVIDEND_INCOME = "38802327-3f71-5ce4-97a8-d2472efe8d88"


@pytest.fixture(scope="module")
def migrated(databases):
    """One migrated demo database for the read-only tests of this module."""
    url = databases.seeded()
    MigrationRunner(url, backup=False).apply()
    return url


def run(url, pattern, **inputs):
    with connection.connect(url) as conn:
        return PatternEngine(default_registry()).run(conn, load(pattern), inputs)


def fx(conn, currency: str, base: str, pack: str) -> float:
    """Base units per one unit of `currency` in the pack, straight from fx_rates."""
    if currency == base:
        return 1.0
    direct = conn.execute("SELECT rate FROM fx_rates WHERE base_ccy = %s AND quote_ccy = %s AND pricing_pack_id = %s",
                          (currency, base, pack)).fetchone()
    if direct:
        return float(direct[0])
    reverse = conn.execute("SELECT rate FROM fx_rates WHERE base_ccy = %s AND quote_ccy = %s AND pricing_pack_id = %s",
                           (base, currency, pack)).fetchone()
    return 1 / float(reverse[0])


def holdings(conn, portfolio_id: str) -> list[tuple]:
    """(security_id, symbol, currency, shares open) per held security."""
    return conn.execute("""SELECT l.security_id::text, s.symbol, s.trading_currency, sum(l.quantity_open)::float
                             FROM lots l JOIN securities s ON s.id = l.security_id
                            WHERE l.portfolio_id = %s AND l.quantity_open > 0 GROUP BY 1, 2, 3""",
                        (portfolio_id,)).fetchall()


def close(conn, security_id: str, pack: str) -> float:
    return float(conn.execute("SELECT close FROM prices WHERE security_id = %s AND pricing_pack_id = %s",
                              (security_id, pack)).fetchone()[0])


def test_currency_attribution_matches_the_held_basket_valued_at_both_ends(migrated):
    """The parts are checked against the basket's own base-currency return, local-only and FX-only returns,
    computed here from prices and fx_rates; a wrong weight, FX direction or missing interaction shows up."""
    result = run(migrated, "portfolio_overview", portfolio_id=ref.DEMO_PORTFOLIO_ID)
    attribution = result.data["currency_attr"]
    end, base = result.context.pricing_pack_id, result.context.base_currency
    with connection.connect(migrated) as conn:
        start = conn.execute("SELECT id FROM pricing_packs WHERE superseded_by IS NULL AND asof_date <= %s "
                             "ORDER BY asof_date DESC LIMIT 1", (result.context.asof_date - timedelta(days=365),)).fetchone()[0]
        rows = [(q, close(conn, s, start), close(conn, s, end), fx(conn, c, base, start), fx(conn, c, base, end), c)
                for s, _, c, q in holdings(conn, ref.DEMO_PORTFOLIO_ID)]
    start_value = sum(q * p0 * f0 for q, p0, _, f0, _, _ in rows)
    basket_return = sum(q * p1 * f1 for q, _, p1, _, f1, _ in rows) / start_value - 1
    local_only = sum(q * p1 * f0 for q, _, p1, f0, _, _ in rows) / start_value - 1
    fx_only = sum(q * p0 * f1 for q, p0, _, _, f1, _ in rows) / start_value - 1
    assert attribution["start_pack"] == start
    assert attribution["total_return"] == pytest.approx(basket_return, abs=1e-12)
    assert attribution["local_return"] == pytest.approx(local_only, abs=1e-12)
    assert attribution["fx_return"] == pytest.approx(fx_only, abs=1e-12)
    assert abs(attribution["fx_return"]) > 1e-4 and abs(attribution["interaction"]) > 1e-7  # CAD and EUR holdings
    eur = [(q, p0, f0) for q, p0, _, f0, _, c in rows if c == "EUR"]
    assert attribution["by_currency"]["EUR"]["weight"] == pytest.approx(
        sum(q * p0 * f0 for q, p0, f0 in eur) / start_value, abs=1e-12)
