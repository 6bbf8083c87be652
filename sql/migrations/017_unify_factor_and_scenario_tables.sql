-- @migration 017 unify_factor_and_scenario_tables
-- @touches position_factor_betas scenario_shocks
-- @target columns:position_factor_betas.factor_name+asof_date+beta columns:scenario_shocks.shock_type+extra_shocks
--
-- One definition each, whichever of the two legacy forms the database holds, instead of the plan's third
-- invention whose restore INSERT fails:
--   position_factor_betas: one row per position, factor and date. The long form maps row for row; each wide row
--     becomes one row per non-NULL beta column, keeping symbol, date, methodology and r_squared.
--   scenario_shocks: one row per shock with a column per factor (what seed_loader and the scenario service
--     read), plus category, probability, severity and `extra_shocks` for factors without a column (liquidity).
--     JSONB definitions are unpacked; decimals of rates become basis points.
-- Where the team dropped both tables (root migration 003, 2025-11-04) they are created empty in the standard shape;
-- a table already in the standard shape is adopted. The old table is moved whole into the quarantine schema, so
-- every original row survives as it was and the rollback moves it back; its grants pass to the new table, and
-- dawsos_legacy gets a view in the old form for readers that have not moved. Both tables are small (hundreds of
-- rows), so the copy happens inside the switch.

-- @up refuse betas_in_no_known_form when=table:position_factor_betas,!column:position_factor_betas.factor_name,!column:position_factor_betas.equity_beta
SELECT 'position_factor_betas is in neither the long (factor_name, beta), the wide (equity_beta, …) nor the unified form';

-- @up refuse shocks_in_no_known_form when=table:scenario_shocks,!column:scenario_shocks.shock_type,!column:scenario_shocks.shock_definition
SELECT 'scenario_shocks is in neither the flat (shock_type, real_rates_bps, …), the JSONB (shock_definition) nor the unified form';

-- A table moved aside takes along whatever is bound to it (views, policies, other tables' keys, SQL-standard function
-- bodies): they would silently keep reading the old copy.
-- @up refuse betas_with_dependents when=table:position_factor_betas,!columns:position_factor_betas.factor_name+asof_date+beta
SELECT string_agg(DISTINCT what, '; ') || ' depend on position_factor_betas, which 017 moves aside for the unified table',
       'drop those objects (keep their definitions), rerun apply, then recreate them on the unified table'
  FROM (SELECT 'view ' || r.ev_class::regclass::text AS what FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = 'position_factor_betas'::regclass AND r.ev_class <> d.refobjid
        UNION ALL
        SELECT 'policy ' || polname FROM pg_policy WHERE polrelid = 'position_factor_betas'::regclass
        UNION ALL
        SELECT 'foreign key ' || conname || ' of ' || conrelid::regclass::text FROM pg_constraint
         WHERE contype = 'f' AND confrelid = 'position_factor_betas'::regclass AND conrelid <> confrelid
        UNION ALL
        SELECT 'function ' || d.objid::regprocedure::text FROM pg_depend d
         WHERE d.classid = 'pg_proc'::regclass AND d.refobjid = 'position_factor_betas'::regclass) AS dependents
HAVING count(*) > 0;

-- @up refuse shocks_with_dependents when=table:scenario_shocks,!columns:scenario_shocks.shock_type+extra_shocks
SELECT string_agg(DISTINCT what, '; ') || ' depend on scenario_shocks, which 017 moves aside for the unified table',
       'drop those objects (keep their definitions), rerun apply, then recreate them on the unified table'
  FROM (SELECT 'view ' || r.ev_class::regclass::text AS what FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = 'scenario_shocks'::regclass AND r.ev_class <> d.refobjid
        UNION ALL
        SELECT 'policy ' || polname FROM pg_policy WHERE polrelid = 'scenario_shocks'::regclass
        UNION ALL
        SELECT 'foreign key ' || conname || ' of ' || conrelid::regclass::text FROM pg_constraint
         WHERE contype = 'f' AND confrelid = 'scenario_shocks'::regclass AND conrelid <> confrelid
        UNION ALL
        SELECT 'function ' || d.objid::regprocedure::text FROM pg_depend d
         WHERE d.classid = 'pg_proc'::regclass AND d.refobjid = 'scenario_shocks'::regclass) AS dependents
HAVING count(*) > 0;

-- @up switch move_long_betas when=column:position_factor_betas.factor_name,!column:position_factor_betas.asof_date
LOCK TABLE position_factor_betas IN ACCESS EXCLUSIVE MODE;
ALTER TABLE position_factor_betas RENAME TO position_factor_betas_long_017;
ALTER TABLE position_factor_betas_long_017 SET SCHEMA quarantine;

-- @up switch move_wide_betas when=column:position_factor_betas.equity_beta
LOCK TABLE position_factor_betas IN ACCESS EXCLUSIVE MODE;
ALTER TABLE position_factor_betas RENAME TO position_factor_betas_wide_017;
ALTER TABLE position_factor_betas_wide_017 SET SCHEMA quarantine;

-- @up switch create_betas when=!table:position_factor_betas does=create
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
COMMENT ON COLUMN position_factor_betas.asof_date IS 'Date of the pricing pack the beta was computed for. Rows converted from the legacy long form, which kept no date, carry the latest pack dated on or before their updated_at; rows from the wide form keep their own asof_date.';

-- The long form kept only updated_at: the beta belongs to the last pack built before it was written (the
-- nightly job computes factors after the pack), which is the date the factor history needs.
-- @up switch copy_long_betas when=table:quarantine.position_factor_betas_long_017
INSERT INTO position_factor_betas (portfolio_id, security_id, symbol, asof_date, factor_name, beta, methodology, created_at)
SELECT b.portfolio_id, b.security_id, s.symbol,
       COALESCE((SELECT max(p.asof_date) FROM pricing_packs p WHERE p.asof_date <= b.updated_at::date), b.updated_at::date),
       b.factor_name, b.beta, 'legacy long form', b.updated_at
  FROM quarantine.position_factor_betas_long_017 b LEFT JOIN securities s ON s.id = b.security_id;
SELECT dawsos_migrations.copy_grants('quarantine.position_factor_betas_long_017', 'public.position_factor_betas');

-- @up switch copy_wide_betas when=table:quarantine.position_factor_betas_wide_017
INSERT INTO position_factor_betas (portfolio_id, security_id, symbol, asof_date, factor_name, beta, methodology, r_squared, created_at)
SELECT b.portfolio_id, b.security_id, b.symbol, b.asof_date, f.factor_name, f.beta, b.methodology, b.r_squared, b.created_at
  FROM quarantine.position_factor_betas_wide_017 b
 CROSS JOIN LATERAL (VALUES ('real_rates', b.real_rate_beta), ('inflation', b.inflation_beta),
                            ('credit_spreads', b.credit_beta), ('fx_usd', b.usd_beta), ('equity_market', b.equity_beta),
                            ('commodity', b.commodity_beta), ('volatility', b.volatility_beta)) AS f (factor_name, beta)
 WHERE f.beta IS NOT NULL;
SELECT dawsos_migrations.copy_grants('quarantine.position_factor_betas_wide_017', 'public.position_factor_betas');

-- @up switch move_flat_shocks when=column:scenario_shocks.shock_type,!column:scenario_shocks.extra_shocks
LOCK TABLE scenario_shocks IN ACCESS EXCLUSIVE MODE;
ALTER TABLE scenario_shocks RENAME TO scenario_shocks_flat_017;
ALTER TABLE scenario_shocks_flat_017 SET SCHEMA quarantine;

-- @up switch move_jsonb_shocks when=column:scenario_shocks.shock_definition
LOCK TABLE scenario_shocks IN ACCESS EXCLUSIVE MODE;
ALTER TABLE scenario_shocks RENAME TO scenario_shocks_jsonb_017;
ALTER TABLE scenario_shocks_jsonb_017 SET SCHEMA quarantine;

-- @up switch create_shocks when=!table:scenario_shocks does=create
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
    FOR EACH ROW EXECUTE FUNCTION dawsos_migrations.set_updated_at();

-- @up switch copy_flat_shocks when=table:quarantine.scenario_shocks_flat_017
INSERT INTO scenario_shocks (id, shock_type, shock_name, shock_description, real_rates_bps, inflation_bps,
                             credit_spread_bps, usd_pct, equity_pct, commodity_pct, volatility_pct, is_custom,
                             created_by, created_at, updated_at)
SELECT id, shock_type, shock_name, shock_description, COALESCE(real_rates_bps, 0), COALESCE(inflation_bps, 0),
       COALESCE(credit_spread_bps, 0), COALESCE(usd_pct, 0), COALESCE(equity_pct, 0), COALESCE(commodity_pct, 0),
       COALESCE(volatility_pct, 0), COALESCE(is_custom, FALSE), created_by, created_at, updated_at
  FROM quarantine.scenario_shocks_flat_017;
SELECT dawsos_migrations.copy_grants('quarantine.scenario_shocks_flat_017', 'public.scenario_shocks');

-- @up switch copy_jsonb_shocks when=table:quarantine.scenario_shocks_jsonb_017
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
SELECT dawsos_migrations.copy_grants('quarantine.scenario_shocks_jsonb_017', 'public.scenario_shocks');

-- Readers of the old forms keep working (read-only where the old form was a pivot or a document).
-- @up switch legacy_schema when=!schema:dawsos_legacy does=create
CREATE SCHEMA dawsos_legacy;
SELECT dawsos_migrations.grant_usage_like('public', 'dawsos_legacy');

-- @up switch legacy_view_long_betas when=table:quarantine.position_factor_betas_long_017
CREATE VIEW dawsos_legacy.position_factor_betas WITH (security_invoker = true) AS
SELECT DISTINCT ON (portfolio_id, security_id, factor_name)
       portfolio_id, security_id, factor_name::varchar(50) AS factor_name, beta::numeric(10,4) AS beta, created_at AS updated_at
  FROM public.position_factor_betas
 ORDER BY portfolio_id, security_id, factor_name, asof_date DESC;
SELECT dawsos_migrations.copy_grants('public.position_factor_betas', 'dawsos_legacy.position_factor_betas');

-- @up switch legacy_view_wide_betas when=table:quarantine.position_factor_betas_wide_017
CREATE VIEW dawsos_legacy.position_factor_betas WITH (security_invoker = true) AS
SELECT portfolio_id, security_id, symbol, asof_date,
       max(beta) FILTER (WHERE factor_name = 'real_rates') AS real_rate_beta,
       max(beta) FILTER (WHERE factor_name = 'inflation') AS inflation_beta,
       max(beta) FILTER (WHERE factor_name = 'credit_spreads') AS credit_beta,
       max(beta) FILTER (WHERE factor_name = 'fx_usd') AS usd_beta,
       max(beta) FILTER (WHERE factor_name = 'equity_market') AS equity_beta,
       max(beta) FILTER (WHERE factor_name = 'commodity') AS commodity_beta,
       max(beta) FILTER (WHERE factor_name = 'volatility') AS volatility_beta,
       max(methodology) AS methodology, max(r_squared) AS r_squared, min(created_at) AS created_at
  FROM public.position_factor_betas
 GROUP BY portfolio_id, security_id, symbol, asof_date;
SELECT dawsos_migrations.copy_grants('public.position_factor_betas', 'dawsos_legacy.position_factor_betas');

-- @up switch legacy_view_flat_shocks when=table:quarantine.scenario_shocks_flat_017
CREATE VIEW dawsos_legacy.scenario_shocks WITH (security_invoker = true) AS
SELECT id, shock_type, shock_name, shock_description, real_rates_bps, inflation_bps, credit_spread_bps, usd_pct,
       equity_pct, commodity_pct, volatility_pct, is_custom, created_by, created_at, updated_at
  FROM public.scenario_shocks;
SELECT dawsos_migrations.copy_grants('public.scenario_shocks', 'dawsos_legacy.scenario_shocks');

-- @up switch legacy_view_jsonb_shocks when=table:quarantine.scenario_shocks_jsonb_017
CREATE VIEW dawsos_legacy.scenario_shocks WITH (security_invoker = true) AS
SELECT id AS scenario_id, shock_name::varchar(100) AS scenario_name,
       jsonb_strip_nulls(jsonb_build_object('description', shock_description, 'category', category,
           'probability', probability, 'severity', severity, 'shock_type', shock_type,
           'shocks', jsonb_build_object('real_rates', real_rates_bps / 10000, 'inflation', inflation_bps / 10000,
                                        'credit_spreads', credit_spread_bps / 10000, 'fx_usd', usd_pct,
                                        'equity_market', equity_pct, 'commodity', commodity_pct,
                                        'volatility', volatility_pct) || extra_shocks)) AS shock_definition,
       created_at
  FROM public.scenario_shocks;
SELECT dawsos_migrations.copy_grants('public.scenario_shocks', 'dawsos_legacy.scenario_shocks');

-- @up switch record

-- @down switch drop_legacy_view_long_betas undoes=legacy_view_long_betas
DROP VIEW dawsos_legacy.position_factor_betas;
-- @down switch drop_legacy_view_wide_betas undoes=legacy_view_wide_betas
DROP VIEW dawsos_legacy.position_factor_betas;
-- @down switch drop_legacy_view_flat_shocks undoes=legacy_view_flat_shocks
DROP VIEW dawsos_legacy.scenario_shocks;
-- @down switch drop_legacy_view_jsonb_shocks undoes=legacy_view_jsonb_shocks
DROP VIEW dawsos_legacy.scenario_shocks;
-- @down switch drop_legacy_schema undoes=legacy_schema
DROP SCHEMA dawsos_legacy;

-- Rows written after the migration are kept in quarantine before the unified tables go.
-- @down switch drop_unified_shocks undoes=create_shocks
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '017_rollback', 'scenario_shocks', id::text, to_jsonb(s), 'unified row, set aside by the rollback of 017', 'copied'
  FROM scenario_shocks s;
DROP TABLE scenario_shocks;
-- @down switch drop_unified_betas undoes=create_betas
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '017_rollback', 'position_factor_betas', id::text, to_jsonb(b), 'unified row, set aside by the rollback of 017', 'copied'
  FROM position_factor_betas b;
DROP TABLE position_factor_betas;

-- @down switch restore_long_betas undoes=move_long_betas
ALTER TABLE quarantine.position_factor_betas_long_017 SET SCHEMA public;
ALTER TABLE position_factor_betas_long_017 RENAME TO position_factor_betas;
-- @down switch restore_wide_betas undoes=move_wide_betas
ALTER TABLE quarantine.position_factor_betas_wide_017 SET SCHEMA public;
ALTER TABLE position_factor_betas_wide_017 RENAME TO position_factor_betas;
-- @down switch restore_flat_shocks undoes=move_flat_shocks
ALTER TABLE quarantine.scenario_shocks_flat_017 SET SCHEMA public;
ALTER TABLE scenario_shocks_flat_017 RENAME TO scenario_shocks;
-- @down switch restore_jsonb_shocks undoes=move_jsonb_shocks
ALTER TABLE quarantine.scenario_shocks_jsonb_017 SET SCHEMA public;
ALTER TABLE scenario_shocks_jsonb_017 RENAME TO scenario_shocks;
