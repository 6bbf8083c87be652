-- The DawsOS schema as it stood on 2025-11-04 (commit 63398e91), written from DawsOS's schema/ and migration files.
-- Defects are kept on purpose: non-standard date names (valuation_date, flow_date, date), no FK on
-- lots.security_id / transactions.security_id, portfolio_metrics without an FK on portfolio_id.
-- TimescaleDB is not used: the hypertables of the original are plain tables here (optional, unaffected).

CREATE OR REPLACE FUNCTION update_updated_at_column() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- mig 010_add_users_and_audit_log
CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email TEXT NOT NULL UNIQUE CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'USER' CHECK (role IN ('VIEWER', 'USER', 'MANAGER', 'ADMIN')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_login_at TIMESTAMPTZ,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    -- mig 009_jwt_auth
    failed_login_attempts INT DEFAULT 0,
    locked_until TIMESTAMPTZ
);
CREATE INDEX idx_users_role ON users(role);
CREATE INDEX idx_users_is_active ON users(is_active) WHERE is_active = TRUE;
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- schema/001_portfolios_lots_transactions.sql
CREATE TABLE portfolios (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    base_currency TEXT NOT NULL DEFAULT 'USD',
    benchmark_id TEXT,
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT portfolios_user_fk FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX idx_portfolios_user_id ON portfolios(user_id);
CREATE INDEX idx_portfolios_is_active ON portfolios(is_active) WHERE is_active = TRUE;
CREATE INDEX idx_portfolios_benchmark_id ON portfolios(benchmark_id);
CREATE TRIGGER trg_portfolios_updated_at BEFORE UPDATE ON portfolios FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- schema/pricing_packs.sql
CREATE TABLE securities (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    symbol TEXT NOT NULL,
    name TEXT,
    security_type TEXT NOT NULL DEFAULT 'equity',
    exchange TEXT,
    trading_currency TEXT NOT NULL DEFAULT 'USD',
    dividend_currency TEXT,
    domicile_country TEXT,
    active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- added ad hoc by fix_dashboard_data.py
    sector VARCHAR(100)
);
CREATE UNIQUE INDEX idx_securities_symbol ON securities(symbol);
CREATE INDEX idx_securities_active ON securities(active) WHERE active = TRUE;
CREATE INDEX idx_securities_exchange ON securities(exchange);
CREATE TRIGGER trg_securities_updated_at BEFORE UPDATE ON securities FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE pricing_packs (
    id TEXT PRIMARY KEY,
    date DATE NOT NULL,
    policy TEXT NOT NULL DEFAULT 'WM4PM_CAD',
    hash TEXT NOT NULL,
    superseded_by TEXT REFERENCES pricing_packs(id),
    sources_json JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'warming' CHECK (status IN ('warming', 'fresh', 'error')),
    is_fresh BOOLEAN NOT NULL DEFAULT FALSE,
    prewarm_done BOOLEAN NOT NULL DEFAULT FALSE,
    reconciliation_passed BOOLEAN NOT NULL DEFAULT FALSE,
    reconciliation_failed BOOLEAN NOT NULL DEFAULT FALSE,
    reconciliation_error_bps NUMERIC(10,4),
    error_message TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT chk_pricing_packs_reconciliation CHECK (
        (reconciliation_passed AND (reconciliation_error_bps IS NULL OR reconciliation_error_bps <= 1.0))
        OR (reconciliation_failed AND (reconciliation_error_bps IS NULL OR reconciliation_error_bps > 1.0))
        OR (NOT reconciliation_passed AND NOT reconciliation_failed))
);
CREATE INDEX idx_pricing_packs_date ON pricing_packs(date DESC);
CREATE INDEX idx_pricing_packs_status ON pricing_packs(status);
CREATE INDEX idx_pricing_packs_is_fresh ON pricing_packs(is_fresh) WHERE is_fresh = TRUE;
CREATE INDEX idx_pricing_packs_superseded ON pricing_packs(superseded_by) WHERE superseded_by IS NOT NULL;
CREATE UNIQUE INDEX uq_pricing_packs_date_policy ON pricing_packs(date, policy) WHERE superseded_by IS NULL;
CREATE TRIGGER trg_pricing_packs_updated_at BEFORE UPDATE ON pricing_packs FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE prices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    security_id UUID NOT NULL REFERENCES securities(id) ON DELETE CASCADE,
    pricing_pack_id TEXT NOT NULL REFERENCES pricing_packs(id) ON DELETE CASCADE,
    asof_date DATE NOT NULL,
    close NUMERIC(20,8) NOT NULL,
    open NUMERIC(20,8),
    high NUMERIC(20,8),
    low NUMERIC(20,8),
    volume BIGINT,
    currency TEXT NOT NULL,
    source TEXT NOT NULL,
    adjusted_for_splits BOOLEAN DEFAULT TRUE,
    adjusted_for_dividends BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (security_id, pricing_pack_id)
);
CREATE INDEX idx_prices_security_date ON prices(security_id, asof_date DESC);
CREATE INDEX idx_prices_pack ON prices(pricing_pack_id);
CREATE INDEX idx_prices_asof_date ON prices(asof_date DESC);

CREATE TABLE fx_rates (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pricing_pack_id TEXT NOT NULL REFERENCES pricing_packs(id) ON DELETE CASCADE,
    base_ccy TEXT NOT NULL,
    quote_ccy TEXT NOT NULL,
    asof_ts TIMESTAMPTZ NOT NULL,
    rate NUMERIC(20,10) NOT NULL,
    source TEXT NOT NULL,
    policy TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (base_ccy, quote_ccy, pricing_pack_id)
);
CREATE INDEX idx_fx_rates_pair_ts ON fx_rates(base_ccy, quote_ccy, asof_ts DESC);
CREATE INDEX idx_fx_rates_pack ON fx_rates(pricing_pack_id);

CREATE TABLE lots (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    security_id UUID NOT NULL,  -- "reference to securities": no FK at PLAN
    symbol TEXT NOT NULL,
    acquisition_date DATE NOT NULL,
    quantity NUMERIC NOT NULL CHECK (quantity > 0),
    cost_basis NUMERIC NOT NULL,
    cost_basis_per_share NUMERIC NOT NULL,
    currency TEXT NOT NULL DEFAULT 'USD',
    is_open BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_lots_portfolio_id ON lots(portfolio_id);
CREATE INDEX idx_lots_security_id ON lots(security_id);
CREATE INDEX idx_lots_symbol ON lots(symbol);
CREATE INDEX idx_lots_acquisition_date ON lots(acquisition_date);
CREATE INDEX idx_lots_is_open ON lots(is_open) WHERE is_open = TRUE;
CREATE TRIGGER trg_lots_updated_at BEFORE UPDATE ON lots FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    transaction_type TEXT NOT NULL
        CHECK (transaction_type IN ('BUY', 'SELL', 'DIVIDEND', 'SPLIT', 'TRANSFER_IN', 'TRANSFER_OUT', 'FEE')),
    security_id UUID,  -- NULL for fees; no FK at PLAN
    symbol TEXT,
    transaction_date DATE NOT NULL,
    settlement_date DATE,
    quantity NUMERIC,
    price NUMERIC,
    amount NUMERIC NOT NULL,
    currency TEXT NOT NULL DEFAULT 'USD',
    fee NUMERIC DEFAULT 0,
    commission NUMERIC DEFAULT 0,
    lot_id UUID REFERENCES lots(id) ON DELETE SET NULL,
    narration TEXT,
    source TEXT DEFAULT 'manual' CHECK (source IN ('ledger', 'manual', 'import')),
    ledger_commit_hash TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- mig 008_add_corporate_actions_support
    pay_date DATE,
    ex_date DATE,
    pay_fx_rate_id UUID REFERENCES fx_rates(id),
    trade_fx_rate_id UUID REFERENCES fx_rates(id)
);
CREATE INDEX idx_transactions_portfolio_id ON transactions(portfolio_id);
CREATE INDEX idx_transactions_security_id ON transactions(security_id);
CREATE INDEX idx_transactions_symbol ON transactions(symbol);
CREATE INDEX idx_transactions_date ON transactions(transaction_date DESC);
CREATE INDEX idx_transactions_type ON transactions(transaction_type);
CREATE INDEX idx_transactions_lot_id ON transactions(lot_id);
CREATE INDEX idx_transactions_ledger_commit ON transactions(ledger_commit_hash);
CREATE TRIGGER trg_transactions_updated_at BEFORE UPDATE ON transactions FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- schema/portfolio_daily_values.sql (a TimescaleDB hypertable in the original)
CREATE TABLE portfolio_daily_values (
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    valuation_date DATE NOT NULL,
    total_value NUMERIC(20,2) NOT NULL,
    cash_balance NUMERIC(20,2) NOT NULL DEFAULT 0,
    positions_value NUMERIC(20,2) NOT NULL DEFAULT 0,
    cash_flows NUMERIC(20,2) NOT NULL DEFAULT 0,
    currency VARCHAR(3) NOT NULL DEFAULT 'CAD',
    computed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (portfolio_id, valuation_date)
);
CREATE INDEX idx_portfolio_daily_values_date ON portfolio_daily_values(valuation_date DESC);
CREATE INDEX idx_portfolio_daily_values_portfolio ON portfolio_daily_values(portfolio_id, valuation_date DESC);

-- schema/portfolio_cash_flows.sql
CREATE TABLE portfolio_cash_flows (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    flow_date DATE NOT NULL,
    flow_type VARCHAR(20) NOT NULL CHECK (flow_type IN ('DEPOSIT', 'WITHDRAWAL', 'DIVIDEND', 'INTEREST', 'FEE')),
    amount NUMERIC(20,2) NOT NULL,
    currency VARCHAR(3) NOT NULL DEFAULT 'CAD',
    transaction_id UUID REFERENCES transactions(id),
    description TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT unique_portfolio_flow UNIQUE (portfolio_id, flow_date, flow_type, transaction_id)
);
CREATE INDEX idx_portfolio_cash_flows_portfolio_date ON portfolio_cash_flows(portfolio_id, flow_date DESC);
CREATE INDEX idx_portfolio_cash_flows_date ON portfolio_cash_flows(flow_date DESC);
CREATE INDEX idx_portfolio_cash_flows_transaction ON portfolio_cash_flows(transaction_id) WHERE transaction_id IS NOT NULL;

-- schema/portfolio_metrics.sql (hypertables in the original; no FK on portfolio_id)
CREATE TABLE portfolio_metrics (
    portfolio_id UUID NOT NULL,
    asof_date DATE NOT NULL,
    pricing_pack_id TEXT NOT NULL REFERENCES pricing_packs(id),
    twr_1d NUMERIC(12,8), twr_1d_base NUMERIC(12,8), twr_mtd NUMERIC(12,8), twr_qtd NUMERIC(12,8),
    twr_ytd NUMERIC(12,8), twr_1y NUMERIC(12,8), twr_3y_ann NUMERIC(12,8), twr_5y_ann NUMERIC(12,8),
    twr_inception_ann NUMERIC(12,8),
    mwr_ytd NUMERIC(12,8), mwr_1y NUMERIC(12,8), mwr_3y_ann NUMERIC(12,8), mwr_inception_ann NUMERIC(12,8),
    volatility_30d NUMERIC(12,8), volatility_60d NUMERIC(12,8), volatility_90d NUMERIC(12,8), volatility_1y NUMERIC(12,8),
    sharpe_30d NUMERIC(12,8), sharpe_60d NUMERIC(12,8), sharpe_90d NUMERIC(12,8), sharpe_1y NUMERIC(12,8),
    max_drawdown_1y NUMERIC(12,8), max_drawdown_3y NUMERIC(12,8), current_drawdown NUMERIC(12,8),
    alpha_1y NUMERIC(12,8), alpha_3y_ann NUMERIC(12,8), beta_1y NUMERIC(12,8), beta_3y NUMERIC(12,8),
    tracking_error_1y NUMERIC(12,8), information_ratio_1y NUMERIC(12,8),
    win_rate_1y NUMERIC(5,4), avg_win NUMERIC(12,8), avg_loss NUMERIC(12,8),
    portfolio_value_base NUMERIC(20,2), portfolio_value_local NUMERIC(20,2), cash_balance NUMERIC(20,2),
    base_currency TEXT NOT NULL,
    benchmark_id TEXT,
    reconciliation_error_bps NUMERIC(10,4),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (portfolio_id, asof_date, pricing_pack_id)
);
CREATE INDEX idx_portfolio_metrics_portfolio_date ON portfolio_metrics(portfolio_id, asof_date DESC);
CREATE INDEX idx_portfolio_metrics_pack ON portfolio_metrics(pricing_pack_id);
CREATE INDEX idx_portfolio_metrics_date ON portfolio_metrics(asof_date DESC);

CREATE TABLE currency_attribution (
    portfolio_id UUID NOT NULL,
    asof_date DATE NOT NULL,
    pricing_pack_id TEXT NOT NULL REFERENCES pricing_packs(id),
    local_return NUMERIC(12,8) NOT NULL,
    fx_return NUMERIC(12,8) NOT NULL,
    interaction_return NUMERIC(12,8) NOT NULL,
    total_return NUMERIC(12,8) NOT NULL,
    base_return_actual NUMERIC(12,8) NOT NULL,
    error_bps NUMERIC(10,4) CHECK (error_bps IS NULL OR error_bps <= 0.1),
    attribution_by_currency JSONB,
    base_currency TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (portfolio_id, asof_date, pricing_pack_id)
);

CREATE TABLE factor_exposures (
    portfolio_id UUID NOT NULL,
    asof_date DATE NOT NULL,
    pricing_pack_id TEXT NOT NULL REFERENCES pricing_packs(id),
    beta_real_rate NUMERIC(12,8), beta_inflation NUMERIC(12,8), beta_credit NUMERIC(12,8), beta_fx NUMERIC(12,8),
    beta_market NUMERIC(12,8), beta_size NUMERIC(12,8), beta_value NUMERIC(12,8), beta_momentum NUMERIC(12,8),
    var_factor NUMERIC(12,8), var_idiosyncratic NUMERIC(12,8), r_squared NUMERIC(5,4),
    factor_contributions JSONB, estimation_window_days INT, benchmark_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (portfolio_id, asof_date, pricing_pack_id)
);

-- schema/macro_indicators.sql
CREATE TABLE macro_indicators (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    indicator_id TEXT NOT NULL,
    indicator_name TEXT NOT NULL,
    date DATE NOT NULL,
    value NUMERIC NOT NULL,
    units TEXT,
    frequency TEXT,
    source TEXT DEFAULT 'FRED',
    last_updated TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT uq_macro_indicators_indicator_date UNIQUE (indicator_id, date)
);
CREATE INDEX idx_macro_indicators_indicator_id ON macro_indicators(indicator_id);
CREATE INDEX idx_macro_indicators_date ON macro_indicators(date DESC);
CREATE INDEX idx_macro_indicators_indicator_date ON macro_indicators(indicator_id, date DESC);

CREATE TABLE regime_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    date DATE NOT NULL CONSTRAINT uq_regime_history_date UNIQUE,
    regime TEXT NOT NULL CHECK (regime IN ('EARLY_EXPANSION', 'MID_EXPANSION', 'LATE_EXPANSION',
                                           'EARLY_CONTRACTION', 'DEEP_CONTRACTION')),
    confidence NUMERIC NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    indicators_json JSONB NOT NULL,
    zscores_json JSONB NOT NULL,
    regime_scores_json JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_regime_history_date ON regime_history(date DESC);
CREATE INDEX idx_regime_history_regime ON regime_history(regime);

CREATE TABLE cycle_phases (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    cycle_type TEXT NOT NULL CHECK (cycle_type IN ('STDC', 'LTDC', 'EMPIRE')),
    date DATE NOT NULL,
    phase TEXT NOT NULL,
    phase_number INT NOT NULL,
    composite_score NUMERIC NOT NULL,
    indicators_json JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (cycle_type, date)
);

-- mig 009_add_scenario_dar_tables
CREATE TABLE dar_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    asof_date DATE NOT NULL,
    regime TEXT NOT NULL CHECK (regime IN ('EARLY_EXPANSION', 'MID_EXPANSION', 'LATE_EXPANSION',
                                           'EARLY_CONTRACTION', 'DEEP_CONTRACTION')),
    confidence NUMERIC NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    horizon_days INT NOT NULL,
    num_simulations INT NOT NULL,
    dar NUMERIC NOT NULL, dar_pct NUMERIC NOT NULL, mean_drawdown NUMERIC NOT NULL,
    median_drawdown NUMERIC NOT NULL, max_drawdown NUMERIC NOT NULL, current_nav NUMERIC NOT NULL,
    pricing_pack_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (portfolio_id, asof_date, regime)
);
CREATE INDEX idx_dar_history_portfolio ON dar_history(portfolio_id);
CREATE INDEX idx_dar_history_asof ON dar_history(asof_date);

CREATE TABLE scenario_results (
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

-- schema/rating_rubrics.sql
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

-- schema/alerts_notifications.sql (notifications is absent: its CREATE fails in PostgreSQL)
CREATE TABLE alerts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    condition_json JSONB NOT NULL,
    notify_email BOOLEAN DEFAULT FALSE,
    notify_inapp BOOLEAN DEFAULT TRUE,
    cooldown_hours INT DEFAULT 24,
    last_fired_at TIMESTAMPTZ,
    is_active BOOLEAN DEFAULT TRUE,
    channels JSONB,  -- mig 012
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE TABLE rebalance_suggestions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id UUID NOT NULL,
    suggested_trades JSONB NOT NULL,
    expected_te NUMERIC, expected_return NUMERIC, expected_risk NUMERIC,
    optimization_method TEXT,
    constraints_json JSONB,
    status TEXT DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected', 'executed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    executed_at TIMESTAMPTZ
);
CREATE TABLE ledger_transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    ledger_commit_hash TEXT NOT NULL,
    date DATE NOT NULL,
    account TEXT NOT NULL,
    amount NUMERIC NOT NULL,
    currency TEXT NOT NULL,
    narration TEXT,
    metadata_json JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
