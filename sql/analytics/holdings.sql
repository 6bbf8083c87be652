-- Current open positions per portfolio and security, valued at the latest pricing pack in the portfolio's base
-- currency. A position without a price in that pack gets NULL market value and weight (never a made-up price).
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.holdings AS
WITH latest_pack AS (
    SELECT id AS pricing_pack_id, asof_date FROM pricing_packs
     WHERE superseded_by IS NULL ORDER BY asof_date DESC, id DESC LIMIT 1
), positions AS (
    SELECT portfolio_id, security_id, sum(quantity_open) AS quantity,
           sum(cost_basis * quantity_open / quantity_original) AS cost_basis
      FROM lots WHERE quantity_open > 0 GROUP BY portfolio_id, security_id
), valued AS (
    SELECT p.portfolio_id, p.security_id, s.symbol, p.quantity, p.cost_basis, pr.close AS price,
           s.trading_currency AS currency, po.base_currency,
           CASE WHEN s.trading_currency = po.base_currency THEN 1 ELSE fx.rate END AS fx_rate,
           p.quantity * pr.close * CASE WHEN s.trading_currency = po.base_currency THEN 1 ELSE fx.rate END AS market_value,
           lp.pricing_pack_id, lp.asof_date
      FROM positions p
      JOIN securities s ON s.id = p.security_id
      JOIN portfolios po ON po.id = p.portfolio_id
     CROSS JOIN latest_pack lp
      LEFT JOIN prices pr ON pr.security_id = p.security_id AND pr.pricing_pack_id = lp.pricing_pack_id
      LEFT JOIN fx_rates fx ON fx.base_ccy = s.trading_currency AND fx.quote_ccy = po.base_currency
                           AND fx.pricing_pack_id = lp.pricing_pack_id
)
SELECT *, market_value / NULLIF(sum(market_value) OVER (PARTITION BY portfolio_id), 0) AS weight FROM valued
WITH DATA;
CREATE UNIQUE INDEX IF NOT EXISTS uq_holdings_position ON analytics.holdings (portfolio_id, security_id);
