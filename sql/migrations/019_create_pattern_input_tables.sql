-- @migration 019 create_pattern_input_tables
-- @touches fundamentals news_items corporate_actions rating_rubrics securities
-- @target column:securities.sector columns:fundamentals.security_id+asof_date+market_cap+pe_ratio+dividend_yield columns:news_items.published_at+headline+symbols+sentiment+impact_score columns:corporate_actions.security_id+action_type+action_date+amount+currency columns:rating_rubrics.rating_type+method_version+overall_weights
--
-- The tables the 13 patterns read that a DawsOS database may lack: DawsOS fetched fundamentals, news and
-- corporate actions from its providers (FMP, news APIs) at run time and never kept them, and the team's root
-- migration 003 (2025-11-04) dropped rating_rubrics although the ratings read their weights from it; the sector
-- allocation reads securities.sector, which only the team's fix_dashboard_data.py script ever added. Each is created
-- empty in the standard shape (the table contracts in dawsos_assets/tables/contracts.py; a test keeps the two
-- equal) where it is absent, adopted where it already has the standard columns, and refused where a table of that
-- name holds something else. Empty tables make the patterns answer with explicit nulls and warnings until a
-- feed fills them.

-- @up refuse fundamentals_in_unknown_form when=table:fundamentals,!columns:fundamentals.security_id+asof_date+market_cap+pe_ratio+dividend_yield
SELECT 'a table fundamentals exists without the columns the patterns read (security_id, asof_date, market_cap, pe_ratio, dividend_yield)';
-- @up refuse news_in_unknown_form when=table:news_items,!columns:news_items.published_at+headline+symbols+sentiment+impact_score
SELECT 'a table news_items exists without the columns the patterns read (published_at, headline, symbols, sentiment, impact_score)';
-- @up refuse corporate_actions_in_unknown_form when=table:corporate_actions,!columns:corporate_actions.security_id+action_type+action_date+amount+currency
SELECT 'a table corporate_actions exists without the columns the patterns read (security_id, action_type, action_date, amount, currency)';
-- @up refuse rubrics_in_unknown_form when=table:rating_rubrics,!columns:rating_rubrics.rating_type+method_version+overall_weights
SELECT 'a table rating_rubrics exists without the columns the ratings read (rating_type, method_version, overall_weights)';

-- @up switch add_securities_sector when=!column:securities.sector does=create
ALTER TABLE securities ADD COLUMN sector TEXT;
COMMENT ON COLUMN securities.sector IS 'Sector of the security (NULL: not classified yet); the sector allocation reads it.';

-- @up switch create_fundamentals when=!table:fundamentals does=create
CREATE TABLE fundamentals (
    security_id UUID NOT NULL REFERENCES securities (id),
    asof_date DATE NOT NULL,
    market_cap NUMERIC, pe_ratio NUMERIC, dividend_yield NUMERIC,
    roe NUMERIC, roe_5y_avg NUMERIC, gross_margin_5y_avg NUMERIC, operating_margin NUMERIC,
    operating_margin_std_dev NUMERIC, fcf_to_revenue NUMERIC, revenue_growth_cv NUMERIC,
    intangible_assets_ratio NUMERIC, switching_cost_score NUMERIC,
    payout_ratio_5y_avg NUMERIC, fcf_dividend_coverage NUMERIC, dividend_growth_streak_years INT,
    net_cash_position NUMERIC, debt_equity_ratio NUMERIC, interest_coverage NUMERIC, current_ratio NUMERIC,
    cash_pct_assets NUMERIC,
    source TEXT NOT NULL DEFAULT 'provider',
    PRIMARY KEY (security_id, asof_date)
);
SELECT dawsos_migrations.copy_grants('public.securities', 'public.fundamentals');

-- @up switch create_news_items when=!table:news_items does=create
CREATE TABLE news_items (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    published_at TIMESTAMPTZ NOT NULL,
    headline TEXT NOT NULL,
    source TEXT NOT NULL,
    summary TEXT,
    symbols TEXT[] NOT NULL,
    sentiment NUMERIC NOT NULL CHECK (sentiment BETWEEN -1 AND 1),
    impact_score NUMERIC NOT NULL CHECK (impact_score BETWEEN 0 AND 1)
);
CREATE INDEX idx_news_items_published ON news_items (published_at DESC);
SELECT dawsos_migrations.copy_grants('public.securities', 'public.news_items');

-- @up switch create_corporate_actions when=!table:corporate_actions does=create
CREATE TABLE corporate_actions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    security_id UUID NOT NULL REFERENCES securities (id),
    symbol TEXT NOT NULL,
    action_type TEXT NOT NULL CHECK (action_type IN ('dividend', 'split', 'earnings')),
    action_date DATE NOT NULL,
    amount NUMERIC,
    split_ratio NUMERIC,
    currency TEXT NOT NULL DEFAULT 'USD'
);
CREATE INDEX idx_corporate_actions_date ON corporate_actions (action_date);
SELECT dawsos_migrations.copy_grants('public.securities', 'public.corporate_actions');

-- @up switch create_rating_rubrics when=!table:rating_rubrics does=create
CREATE TABLE rating_rubrics (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    rating_type TEXT NOT NULL,
    method_version TEXT NOT NULL DEFAULT 'v1',
    overall_weights JSONB NOT NULL,
    component_thresholds JSONB NOT NULL,
    description TEXT,
    research_basis TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (rating_type, method_version)
);
CREATE TRIGGER trg_rating_rubrics_updated_at BEFORE UPDATE ON rating_rubrics
    FOR EACH ROW EXECUTE FUNCTION dawsos_migrations.set_updated_at();
-- As DawsOS defined it: everyone reads the weights, only the system user (app.user_id 0…0) writes them.
ALTER TABLE rating_rubrics ENABLE ROW LEVEL SECURITY;
CREATE POLICY rating_rubrics_read_all ON rating_rubrics FOR SELECT USING (true);
CREATE POLICY rating_rubrics_system_write ON rating_rubrics FOR ALL
    USING (current_setting('app.user_id', true)::uuid = '00000000-0000-0000-0000-000000000000');
SELECT dawsos_migrations.copy_grants('public.securities', 'public.rating_rubrics');

-- @up switch record

-- Rows a feed wrote after the migration are kept before a created table goes.
-- @down switch drop_securities_sector undoes=add_securities_sector
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '019_rollback', 'securities', id::text, jsonb_build_object('id', id, 'sector', sector),
       'sector of a security, in the column 019 created', 'copied'
  FROM securities WHERE sector IS NOT NULL;
ALTER TABLE securities DROP COLUMN sector;
-- @down switch drop_fundamentals undoes=create_fundamentals
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '019_rollback', 'fundamentals', security_id::text || '/' || asof_date, to_jsonb(f), 'row of a table 019 created', 'copied'
  FROM fundamentals f;
DROP TABLE fundamentals;
-- @down switch drop_news_items undoes=create_news_items
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '019_rollback', 'news_items', id::text, to_jsonb(n), 'row of a table 019 created', 'copied' FROM news_items n;
DROP TABLE news_items;
-- @down switch drop_corporate_actions undoes=create_corporate_actions
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '019_rollback', 'corporate_actions', id::text, to_jsonb(c), 'row of a table 019 created', 'copied' FROM corporate_actions c;
DROP TABLE corporate_actions;
-- @down switch drop_rating_rubrics undoes=create_rating_rubrics
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '019_rollback', 'rating_rubrics', id::text, to_jsonb(r), 'row of a table 019 created', 'copied' FROM rating_rubrics r;
DROP TABLE rating_rubrics;
