-- Every pattern result, one row per pattern, portfolio and pricing pack (re-runs replace their row).
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE TABLE IF NOT EXISTS analytics.pattern_outputs (
    pattern TEXT NOT NULL,
    portfolio_id UUID NOT NULL,
    pricing_pack_id TEXT NOT NULL,
    asof_date DATE NOT NULL,
    result JSONB NOT NULL,
    trace JSONB NOT NULL,
    run_id TEXT,
    computed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (pattern, portfolio_id, pricing_pack_id)
);
