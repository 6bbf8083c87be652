"""Seed facts checked against an oracle outside the seed code (the manifest counts with the same queries)."""

from datetime import date

from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref

QUARTER_ENDS = [date(year, month, day) for year in (2024, 2025) for month, day in ((3, 31), (6, 30), (9, 30), (12, 31))]


def test_each_generated_portfolio_pays_one_fee_per_quarter_end_it_was_open(seeded_url):
    """The README's rule: generated portfolios pay a quarterly fee without a security; the demo and Alpha none.
    Expected dates come from each portfolio's first transaction and the last pricing pack, not from the seed."""
    with connection.connect(seeded_url) as conn:
        last_pack = conn.execute("SELECT max(date) FROM pricing_packs").fetchone()[0]
        portfolios = conn.execute("""
            SELECT p.id::text, p.base_currency, min(t.transaction_date) FILTER (WHERE t.transaction_type <> 'FEE')
              FROM portfolios p JOIN transactions t ON t.portfolio_id = p.id GROUP BY 1, 2""").fetchall()
        fees = conn.execute(
            "SELECT portfolio_id::text, transaction_date, security_id, amount, currency "
            "FROM transactions WHERE transaction_type = 'FEE'"
        ).fetchall()
    for portfolio_id, base_currency, first in portfolios:
        mine = sorted((f for f in fees if f[0] == portfolio_id), key=lambda f: f[1])
        if portfolio_id in (ref.DEMO_PORTFOLIO_ID, ref.ALPHA_PORTFOLIO_ID):
            assert mine == []
            continue
        assert [f[1] for f in mine] == [d for d in QUARTER_ENDS if first < d <= last_pack], portfolio_id
        assert all(f[2] is None and -75 <= f[3] <= -25 and f[4] == base_currency for f in mine)
    assert len(fees) == 6 * len([d for d in QUARTER_ENDS if d <= last_pack])
