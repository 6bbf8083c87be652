-- mig 009_add_scenario_dar_tables: position_factor_betas in the wide form (FK on portfolio_id only).
CREATE TABLE position_factor_betas (
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
CREATE INDEX idx_pfb_portfolio ON position_factor_betas(portfolio_id);
CREATE INDEX idx_pfb_symbol ON position_factor_betas(symbol);
CREATE INDEX idx_pfb_asof ON position_factor_betas(asof_date DESC);
CREATE INDEX idx_pfb_portfolio_asof ON position_factor_betas(portfolio_id, asof_date DESC);
