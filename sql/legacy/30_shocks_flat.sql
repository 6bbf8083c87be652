-- mig 009_add_scenario_dar_tables: scenario_shocks with one column per factor (decimals / bps).
CREATE TABLE scenario_shocks (
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
CREATE INDEX idx_scenario_shocks_type ON scenario_shocks(shock_type);
CREATE INDEX idx_scenario_shocks_custom ON scenario_shocks(is_custom);
CREATE TRIGGER trg_scenario_shocks_updated_at BEFORE UPDATE ON scenario_shocks FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
