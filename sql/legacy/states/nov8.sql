-- The DawsOS database on 2025-11-08 (commit ecd47b43), on top of 2025-11-04's state: root migration 009
-- (= backend migration 009_add_scenario_dar_tables) recreated the scenario and DaR tables with the wide betas,
-- root 010 restored audit_log without its key to users, and economic_indicators appeared. Written from
-- DawsOS's migrations of 2025-11-08.

CREATE OR REPLACE FUNCTION update_scenario_shocks_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE IF NOT EXISTS scenario_shocks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    shock_type TEXT NOT NULL UNIQUE,
    shock_name TEXT NOT NULL,
    shock_description TEXT,
    real_rates_bps NUMERIC DEFAULT 0,
    inflation_bps NUMERIC DEFAULT 0,
    credit_spread_bps NUMERIC DEFAULT 0,
    usd_pct NUMERIC DEFAULT 0,
    equity_pct NUMERIC DEFAULT 0,
    commodity_pct NUMERIC DEFAULT 0,
    volatility_pct NUMERIC DEFAULT 0,
    is_custom BOOLEAN DEFAULT FALSE,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_scenario_shocks_type ON scenario_shocks(shock_type);
CREATE INDEX IF NOT EXISTS idx_scenario_shocks_custom ON scenario_shocks(is_custom);
CREATE TRIGGER trg_scenario_shocks_updated_at BEFORE UPDATE ON scenario_shocks
    FOR EACH ROW EXECUTE FUNCTION update_scenario_shocks_updated_at();

CREATE TABLE IF NOT EXISTS position_factor_betas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    security_id UUID NOT NULL,
    symbol TEXT NOT NULL,
    asof_date DATE NOT NULL,
    real_rate_beta NUMERIC, inflation_beta NUMERIC, credit_beta NUMERIC, usd_beta NUMERIC,
    equity_beta NUMERIC, commodity_beta NUMERIC, volatility_beta NUMERIC,
    methodology TEXT,
    r_squared NUMERIC,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (portfolio_id, symbol, asof_date)
);
CREATE INDEX IF NOT EXISTS idx_pfb_portfolio ON position_factor_betas(portfolio_id);
CREATE INDEX IF NOT EXISTS idx_pfb_symbol ON position_factor_betas(symbol);
CREATE INDEX IF NOT EXISTS idx_pfb_asof ON position_factor_betas(asof_date DESC);
CREATE INDEX IF NOT EXISTS idx_pfb_portfolio_asof ON position_factor_betas(portfolio_id, asof_date DESC);

CREATE TABLE IF NOT EXISTS dar_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    asof_date DATE NOT NULL,
    regime TEXT NOT NULL CHECK (regime IN ('EARLY_EXPANSION', 'MID_EXPANSION', 'LATE_EXPANSION', 'EARLY_CONTRACTION', 'DEEP_CONTRACTION')),
    confidence NUMERIC NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    horizon_days INT NOT NULL,
    num_simulations INT NOT NULL,
    dar NUMERIC NOT NULL, dar_pct NUMERIC NOT NULL, mean_drawdown NUMERIC NOT NULL, median_drawdown NUMERIC NOT NULL,
    max_drawdown NUMERIC NOT NULL, current_nav NUMERIC NOT NULL,
    pricing_pack_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (portfolio_id, asof_date, regime)
);
CREATE TABLE IF NOT EXISTS scenario_results (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    shock_type TEXT NOT NULL,
    asof_date DATE NOT NULL,
    total_delta_pnl NUMERIC NOT NULL,
    total_delta_pnl_pct NUMERIC NOT NULL,
    winners_json JSONB, losers_json JSONB, suggested_hedges_json JSONB, shock_definition_json JSONB,
    pricing_pack_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (portfolio_id, shock_type, asof_date)
);

INSERT INTO scenario_shocks (shock_type, shock_name, shock_description, real_rates_bps, inflation_bps, credit_spread_bps,
                             usd_pct, equity_pct, is_custom) VALUES
    ('rates_up', 'Rates Up +100bp', 'Real rates rise 100 basis points', 100, 0, 0, 0, 0, FALSE),
    ('rates_down', 'Rates Down -100bp', 'Real rates fall 100 basis points', -100, 0, 0, 0, 0, FALSE),
    ('usd_up', 'USD Up +5%', 'The US dollar strengthens 5%', 0, 0, 0, 0.05, 0, FALSE),
    ('usd_down', 'USD Down -5%', 'The US dollar weakens 5%', 0, 0, 0, -0.05, 0, FALSE),
    ('cpi_surprise', 'CPI Surprise +1%', 'Inflation surprises by one point', 0, 100, 0, 0, 0, FALSE),
    ('credit_spread_widening', 'Credit Spreads Widen +50bp', 'Credit spreads widen 50 basis points', 0, 0, 50, 0, 0, FALSE),
    ('credit_spread_tightening', 'Credit Spreads Tighten -50bp', 'Credit spreads tighten 50 basis points', 0, 0, -50, 0, 0, FALSE),
    ('equity_selloff', 'Equity Selloff -10%', 'Equities fall 10%', 0, 0, 0, 0, -0.10, FALSE),
    ('equity_rally', 'Equity Rally +10%', 'Equities rise 10%', 0, 0, 0, 0, 0.10, FALSE)
ON CONFLICT (shock_type) DO NOTHING;

-- root 010_restore_audit_log: shape (b) without the key to users; its CREATE POLICY IF NOT EXISTS fails.
CREATE TABLE IF NOT EXISTS audit_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    details JSONB DEFAULT '{}',
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    ip_address TEXT,
    user_agent TEXT
);
CREATE INDEX IF NOT EXISTS idx_audit_log_user_id ON audit_log(user_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_timestamp ON audit_log("timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_action ON audit_log(action);
CREATE POLICY IF NOT EXISTS audit_log_select_own_or_admin ON audit_log FOR SELECT USING (TRUE);

-- schema/economic_indicators.sql (HEAD): a hypertable with TimescaleDB, a plain table without.
CREATE TABLE IF NOT EXISTS economic_indicators (
    series_id VARCHAR(20) NOT NULL,
    asof_date DATE NOT NULL,
    value NUMERIC(20,8) NOT NULL,
    unit VARCHAR(20),
    source VARCHAR(50) DEFAULT 'FRED',
    created_at TIMESTAMPTZ DEFAULT NOW(),
    PRIMARY KEY (series_id, asof_date)
);
