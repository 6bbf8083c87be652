-- schema/scenario_factor_tables.sql: position_factor_betas in the long form (FKs commented out in the original).
CREATE TABLE position_factor_betas (
    portfolio_id UUID NOT NULL,
    security_id UUID NOT NULL,
    factor_name VARCHAR(50) NOT NULL,
    beta NUMERIC(10,4) NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (portfolio_id, security_id, factor_name),
    CONSTRAINT chk_factor_name CHECK (factor_name IN ('real_rates', 'inflation', 'credit_spreads', 'fx_usd',
        'equity_market', 'size', 'value', 'momentum', 'volatility', 'liquidity', 'commodity', 'duration',
        'convexity', 'carry', 'term_structure'))
);
CREATE INDEX idx_pfb_portfolio ON position_factor_betas(portfolio_id);
CREATE INDEX idx_pfb_security ON position_factor_betas(security_id);
CREATE INDEX idx_pfb_factor ON position_factor_betas(factor_name);
CREATE INDEX idx_pfb_updated ON position_factor_betas(updated_at DESC);
