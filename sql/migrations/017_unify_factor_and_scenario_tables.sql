-- @migration 017 unify_factor_and_scenario_tables
-- @touches position_factor_betas scenario_shocks
-- @before table:position_factor_betas table:scenario_shocks !column:scenario_shocks.extra_shocks
-- @after columns:position_factor_betas.factor_name+asof_date+beta column:scenario_shocks.extra_shocks column:scenario_shocks.shock_type
--
-- One definition each, whichever of the two legacy forms the database holds (facts §2.13-2.14), instead of
-- the plan's third invention whose restore INSERT fails:
--   position_factor_betas: one row per position, factor and date. The long form maps row for row (asof_date
--     from updated_at); each wide row becomes one row per non-NULL beta column, keeping symbol, date,
--     methodology and r_squared.
--   scenario_shocks: one row per shock with a column per factor (what seed_loader and the scenario service
--     read), plus category, probability, severity and `extra_shocks` for factors without a column (liquidity).
--     JSONB definitions are unpacked; decimals of rates become basis points.
-- The old table is moved whole into the quarantine schema, so every original row survives as it was and the
-- rollback moves it back. Both tables are small (hundreds of rows), so the copy happens inside the switch.

-- @up switch unify_betas_from_long when=column:position_factor_betas.factor_name,!column:position_factor_betas.asof_date
LOCK TABLE position_factor_betas IN ACCESS EXCLUSIVE MODE;
ALTER TABLE position_factor_betas RENAME TO position_factor_betas_long_017;
ALTER TABLE position_factor_betas_long_017 SET SCHEMA quarantine;

-- @up switch unify_betas_from_wide when=column:position_factor_betas.equity_beta
LOCK TABLE position_factor_betas IN ACCESS EXCLUSIVE MODE;
ALTER TABLE position_factor_betas RENAME TO position_factor_betas_wide_017;
ALTER TABLE position_factor_betas_wide_017 SET SCHEMA quarantine;

-- @up switch create_betas
CREATE TABLE position_factor_betas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL CONSTRAINT fk_pfb_portfolio_017 REFERENCES portfolios (id) ON DELETE CASCADE,
    security_id UUID NOT NULL CONSTRAINT fk_pfb_security_017 REFERENCES securities (id) ON DELETE CASCADE,
    symbol TEXT,
    asof_date DATE NOT NULL,
    factor_name TEXT NOT NULL CONSTRAINT chk_pfb_factor_name CHECK (factor_name IN ('real_rates', 'inflation',
        'credit_spreads', 'fx_usd', 'equity_market', 'size', 'value', 'momentum', 'volatility', 'liquidity',
        'commodity', 'duration', 'convexity', 'carry', 'term_structure')),
    beta NUMERIC NOT NULL,
    methodology TEXT,
    r_squared NUMERIC,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT uq_pfb_position_factor_date UNIQUE (portfolio_id, security_id, factor_name, asof_date)
);
CREATE INDEX idx_pfb_portfolio_asof_date ON position_factor_betas (portfolio_id, asof_date DESC);
CREATE INDEX idx_pfb_security_id ON position_factor_betas (security_id);

-- @up switch copy_long_betas when=column:position_factor_betas.factor_name,!column:position_factor_betas.asof_date
INSERT INTO position_factor_betas (portfolio_id, security_id, symbol, asof_date, factor_name, beta, methodology, created_at)
SELECT b.portfolio_id, b.security_id, s.symbol, b.updated_at::date, b.factor_name, b.beta, 'legacy long form', b.updated_at
  FROM quarantine.position_factor_betas_long_017 b LEFT JOIN securities s ON s.id = b.security_id;

-- @up switch copy_wide_betas when=column:position_factor_betas.equity_beta
INSERT INTO position_factor_betas (portfolio_id, security_id, symbol, asof_date, factor_name, beta, methodology, r_squared, created_at)
SELECT b.portfolio_id, b.security_id, b.symbol, b.asof_date, f.factor_name, f.beta, b.methodology, b.r_squared, b.created_at
  FROM quarantine.position_factor_betas_wide_017 b
 CROSS JOIN LATERAL (VALUES ('real_rates', b.real_rate_beta), ('inflation', b.inflation_beta),
                            ('credit_spreads', b.credit_beta), ('fx_usd', b.usd_beta), ('equity_market', b.equity_beta),
                            ('commodity', b.commodity_beta), ('volatility', b.volatility_beta)) AS f (factor_name, beta)
 WHERE f.beta IS NOT NULL;

-- @up switch unify_shocks_from_flat when=column:scenario_shocks.shock_type
LOCK TABLE scenario_shocks IN ACCESS EXCLUSIVE MODE;
ALTER TABLE scenario_shocks RENAME TO scenario_shocks_flat_017;
ALTER TABLE scenario_shocks_flat_017 SET SCHEMA quarantine;

-- @up switch unify_shocks_from_jsonb when=column:scenario_shocks.shock_definition
LOCK TABLE scenario_shocks IN ACCESS EXCLUSIVE MODE;
ALTER TABLE scenario_shocks RENAME TO scenario_shocks_jsonb_017;
ALTER TABLE scenario_shocks_jsonb_017 SET SCHEMA quarantine;

-- @up switch create_shocks
CREATE TABLE scenario_shocks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    shock_type TEXT NOT NULL CONSTRAINT uq_scenario_shocks_shock_type UNIQUE,
    shock_name TEXT NOT NULL,
    shock_description TEXT,
    category TEXT,
    real_rates_bps NUMERIC NOT NULL DEFAULT 0,
    inflation_bps NUMERIC NOT NULL DEFAULT 0,
    credit_spread_bps NUMERIC NOT NULL DEFAULT 0,
    usd_pct NUMERIC NOT NULL DEFAULT 0,
    equity_pct NUMERIC NOT NULL DEFAULT 0,
    commodity_pct NUMERIC NOT NULL DEFAULT 0,
    volatility_pct NUMERIC NOT NULL DEFAULT 0,
    extra_shocks JSONB NOT NULL DEFAULT '{}',
    probability NUMERIC CONSTRAINT chk_scenario_shocks_probability CHECK (probability IS NULL OR probability BETWEEN 0 AND 1),
    severity TEXT,
    is_custom BOOLEAN NOT NULL DEFAULT FALSE,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE TRIGGER trg_scenario_shocks_updated_at BEFORE UPDATE ON scenario_shocks
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- @up switch copy_flat_shocks when=column:scenario_shocks.shock_type
INSERT INTO scenario_shocks (id, shock_type, shock_name, shock_description, real_rates_bps, inflation_bps,
                             credit_spread_bps, usd_pct, equity_pct, commodity_pct, volatility_pct, is_custom,
                             created_by, created_at, updated_at)
SELECT id, shock_type, shock_name, shock_description, COALESCE(real_rates_bps, 0), COALESCE(inflation_bps, 0),
       COALESCE(credit_spread_bps, 0), COALESCE(usd_pct, 0), COALESCE(equity_pct, 0), COALESCE(commodity_pct, 0),
       COALESCE(volatility_pct, 0), COALESCE(is_custom, FALSE), created_by, created_at, updated_at
  FROM quarantine.scenario_shocks_flat_017;

-- @up switch copy_jsonb_shocks when=column:scenario_shocks.shock_definition
INSERT INTO scenario_shocks (id, shock_type, shock_name, shock_description, category, real_rates_bps, inflation_bps,
                             credit_spread_bps, usd_pct, equity_pct, commodity_pct, volatility_pct, extra_shocks,
                             probability, severity, created_at)
SELECT scenario_id,
       COALESCE(d->>'shock_type', trim(both '_' from regexp_replace(lower(scenario_name), '[^a-z0-9]+', '_', 'g'))),
       scenario_name, d->>'description', d->>'category',
       COALESCE((d->'shocks'->>'real_rates')::numeric * 10000, 0), COALESCE((d->'shocks'->>'inflation')::numeric * 10000, 0),
       COALESCE((d->'shocks'->>'credit_spreads')::numeric * 10000, 0), COALESCE((d->'shocks'->>'fx_usd')::numeric, 0),
       COALESCE((d->'shocks'->>'equity_market')::numeric, 0), COALESCE((d->'shocks'->>'commodity')::numeric, 0),
       COALESCE((d->'shocks'->>'volatility')::numeric, 0),
       (d->'shocks') - ARRAY['real_rates', 'inflation', 'credit_spreads', 'fx_usd', 'equity_market', 'commodity', 'volatility'],
       (d->>'probability')::numeric, d->>'severity', created_at
  FROM quarantine.scenario_shocks_jsonb_017, LATERAL (SELECT shock_definition AS d) AS definition;

-- Rows written after the migration are kept in quarantine before the unified tables go.
-- @down switch keep_unified_rows
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '017_rollback', 'position_factor_betas', id::text, to_jsonb(b), 'unified row, set aside by the rollback of 017', 'copied'
  FROM position_factor_betas b;
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '017_rollback', 'scenario_shocks', id::text, to_jsonb(s), 'unified row, set aside by the rollback of 017', 'copied'
  FROM scenario_shocks s;
DROP TABLE position_factor_betas;
DROP TABLE scenario_shocks;

-- @down switch restore_long_betas when=table:quarantine.position_factor_betas_long_017
ALTER TABLE quarantine.position_factor_betas_long_017 SET SCHEMA public;
ALTER TABLE position_factor_betas_long_017 RENAME TO position_factor_betas;

-- @down switch restore_wide_betas when=table:quarantine.position_factor_betas_wide_017
ALTER TABLE quarantine.position_factor_betas_wide_017 SET SCHEMA public;
ALTER TABLE position_factor_betas_wide_017 RENAME TO position_factor_betas;

-- @down switch restore_flat_shocks when=table:quarantine.scenario_shocks_flat_017
ALTER TABLE quarantine.scenario_shocks_flat_017 SET SCHEMA public;
ALTER TABLE scenario_shocks_flat_017 RENAME TO scenario_shocks;

-- @down switch restore_jsonb_shocks when=table:quarantine.scenario_shocks_jsonb_017
ALTER TABLE quarantine.scenario_shocks_jsonb_017 SET SCHEMA public;
ALTER TABLE scenario_shocks_jsonb_017 RENAME TO scenario_shocks;
