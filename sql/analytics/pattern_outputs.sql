-- Published pattern results, one row per pattern, portfolio and pricing pack (re-runs replace their row):
-- only results that passed every blocking check. The UI reads this table.
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

-- Results that failed a blocking check (or that the engine refused to compute), kept for inspection: written
-- instead of pattern_outputs, never read by the UI. One row per attempt.
CREATE TABLE IF NOT EXISTS analytics.pattern_rejects (
    id BIGSERIAL PRIMARY KEY,
    pattern TEXT NOT NULL,
    portfolio_id TEXT NOT NULL,
    pricing_pack_id TEXT,
    asof_date DATE,
    result JSONB,
    trace JSONB,
    failures JSONB NOT NULL,
    run_id TEXT,
    rejected_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
