-- schema/scenario_factor_tables.sql: scenario_shocks with a JSONB shock definition.
CREATE TABLE scenario_shocks (
    scenario_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    scenario_name VARCHAR(100) NOT NULL UNIQUE,
    shock_definition JSONB NOT NULL
        CHECK (shock_definition ? 'description' AND shock_definition ? 'category' AND shock_definition ? 'shocks'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_scenario_shocks_category ON scenario_shocks((shock_definition->>'category'));
CREATE INDEX idx_scenario_shocks_created ON scenario_shocks(created_at DESC);
CREATE INDEX idx_scenario_shocks_definition ON scenario_shocks USING GIN (shock_definition);
