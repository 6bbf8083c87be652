-- @migration 015 standardize_date_names
-- @touches portfolio_daily_values portfolio_cash_flows macro_indicators regime_history cycle_phases pricing_packs
-- @before column:portfolio_daily_values.valuation_date column:portfolio_cash_flows.flow_date column:macro_indicators.date column:regime_history.date column:cycle_phases.date column:pricing_packs.date
-- @after column:portfolio_daily_values.asof_date column:portfolio_cash_flows.asof_date column:macro_indicators.asof_date column:regime_history.asof_date column:cycle_phases.asof_date column:pricing_packs.asof_date
--
-- valuation_date, flow_date and date become asof_date, the name prices, portfolio_metrics and dar_history
-- already use. Catalog-only renames in one short transaction; indexes and constraints named after the old
-- column follow. (The plan's 015 also covers pricing_packs only implicitly; the facts show its `date`.)

-- @up switch rename_date_columns
ALTER TABLE portfolio_daily_values RENAME COLUMN valuation_date TO asof_date;
ALTER INDEX idx_portfolio_daily_values_date RENAME TO idx_portfolio_daily_values_asof_date;
ALTER TABLE portfolio_cash_flows RENAME COLUMN flow_date TO asof_date;
ALTER INDEX idx_portfolio_cash_flows_date RENAME TO idx_portfolio_cash_flows_asof_date;
ALTER INDEX idx_portfolio_cash_flows_portfolio_date RENAME TO idx_portfolio_cash_flows_portfolio_asof_date;
ALTER TABLE macro_indicators RENAME COLUMN date TO asof_date;
ALTER INDEX idx_macro_indicators_date RENAME TO idx_macro_indicators_asof_date;
ALTER INDEX idx_macro_indicators_indicator_date RENAME TO idx_macro_indicators_indicator_asof_date;
ALTER TABLE macro_indicators RENAME CONSTRAINT uq_macro_indicators_indicator_date TO uq_macro_indicators_indicator_asof_date;
ALTER TABLE regime_history RENAME COLUMN date TO asof_date;
ALTER INDEX idx_regime_history_date RENAME TO idx_regime_history_asof_date;
ALTER TABLE regime_history RENAME CONSTRAINT uq_regime_history_date TO uq_regime_history_asof_date;
ALTER TABLE cycle_phases RENAME COLUMN date TO asof_date;
ALTER TABLE cycle_phases RENAME CONSTRAINT cycle_phases_cycle_type_date_key TO cycle_phases_cycle_type_asof_date_key;
ALTER TABLE pricing_packs RENAME COLUMN date TO asof_date;
ALTER INDEX idx_pricing_packs_date RENAME TO idx_pricing_packs_asof_date;
ALTER INDEX uq_pricing_packs_date_policy RENAME TO uq_pricing_packs_asof_date_policy;

-- @up switch legacy_views
CREATE SCHEMA IF NOT EXISTS dawsos_legacy;
CREATE VIEW dawsos_legacy.portfolio_daily_values AS
SELECT portfolio_id, asof_date AS valuation_date, total_value, cash_balance, positions_value, cash_flows, currency, computed_at
  FROM public.portfolio_daily_values;
CREATE VIEW dawsos_legacy.portfolio_cash_flows AS
SELECT id, portfolio_id, asof_date AS flow_date, flow_type, amount, currency, transaction_id, description, created_at
  FROM public.portfolio_cash_flows;
CREATE VIEW dawsos_legacy.macro_indicators AS
SELECT id, indicator_id, indicator_name, asof_date AS date, value, units, frequency, source, last_updated, created_at
  FROM public.macro_indicators;
CREATE VIEW dawsos_legacy.regime_history AS
SELECT id, asof_date AS date, regime, confidence, indicators_json, zscores_json, regime_scores_json, created_at
  FROM public.regime_history;
CREATE VIEW dawsos_legacy.cycle_phases AS
SELECT id, cycle_type, asof_date AS date, phase, phase_number, composite_score, indicators_json, created_at
  FROM public.cycle_phases;
CREATE VIEW dawsos_legacy.pricing_packs AS
SELECT id, asof_date AS date, policy, hash, superseded_by, sources_json, status, is_fresh, prewarm_done,
       reconciliation_passed, reconciliation_failed, reconciliation_error_bps, error_message, created_at, updated_at
  FROM public.pricing_packs;

-- @down switch drop_legacy_views
DROP VIEW dawsos_legacy.portfolio_daily_values;
DROP VIEW dawsos_legacy.portfolio_cash_flows;
DROP VIEW dawsos_legacy.macro_indicators;
DROP VIEW dawsos_legacy.regime_history;
DROP VIEW dawsos_legacy.cycle_phases;
DROP VIEW dawsos_legacy.pricing_packs;

-- @down switch restore_date_columns
ALTER TABLE portfolio_daily_values RENAME COLUMN asof_date TO valuation_date;
ALTER INDEX idx_portfolio_daily_values_asof_date RENAME TO idx_portfolio_daily_values_date;
ALTER TABLE portfolio_cash_flows RENAME COLUMN asof_date TO flow_date;
ALTER INDEX idx_portfolio_cash_flows_asof_date RENAME TO idx_portfolio_cash_flows_date;
ALTER INDEX idx_portfolio_cash_flows_portfolio_asof_date RENAME TO idx_portfolio_cash_flows_portfolio_date;
ALTER TABLE macro_indicators RENAME COLUMN asof_date TO date;
ALTER INDEX idx_macro_indicators_asof_date RENAME TO idx_macro_indicators_date;
ALTER INDEX idx_macro_indicators_indicator_asof_date RENAME TO idx_macro_indicators_indicator_date;
ALTER TABLE macro_indicators RENAME CONSTRAINT uq_macro_indicators_indicator_asof_date TO uq_macro_indicators_indicator_date;
ALTER TABLE regime_history RENAME COLUMN asof_date TO date;
ALTER INDEX idx_regime_history_asof_date RENAME TO idx_regime_history_date;
ALTER TABLE regime_history RENAME CONSTRAINT uq_regime_history_asof_date TO uq_regime_history_date;
ALTER TABLE cycle_phases RENAME COLUMN asof_date TO date;
ALTER TABLE cycle_phases RENAME CONSTRAINT cycle_phases_cycle_type_asof_date_key TO cycle_phases_cycle_type_date_key;
ALTER TABLE pricing_packs RENAME COLUMN asof_date TO date;
ALTER INDEX idx_pricing_packs_asof_date RENAME TO idx_pricing_packs_date;
ALTER INDEX uq_pricing_packs_asof_date_policy RENAME TO uq_pricing_packs_date_policy;
