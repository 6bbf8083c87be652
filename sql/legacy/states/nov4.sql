-- The refactoring the DawsOS team really executed on the evening of 2025-11-04 (root migrations/, commit 968b2eb1),
-- written from the team's root migrations 001-003 and applied the way the team applied it:
-- statement by statement, carrying on past errors.

-- root 001_field_standardization: plain renames; the CHECK constraints and the index keep their old names.
ALTER TABLE lots RENAME COLUMN qty_open TO quantity_open;
ALTER TABLE lots RENAME COLUMN qty_original TO quantity_original;

-- root 002_add_constraints
ALTER TABLE transactions ADD CONSTRAINT fk_transactions_security FOREIGN KEY (security_id) REFERENCES securities(id) ON DELETE RESTRICT;
ALTER TABLE portfolios ADD CONSTRAINT fk_portfolios_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE transactions ADD CONSTRAINT chk_transactions_quantity_positive CHECK (quantity > 0);
ALTER TABLE portfolios ADD CONSTRAINT chk_portfolios_base_currency
    CHECK (base_currency IN ('USD', 'EUR', 'GBP', 'JPY', 'CAD', 'AUD', 'CHF', 'CNY', 'HKD', 'SGD'));
ALTER TABLE securities ADD CONSTRAINT chk_securities_symbol_length CHECK (length(symbol) <= 12);
ALTER TABLE portfolios ADD CONSTRAINT unq_portfolios_user_name UNIQUE (user_id, name);
CREATE INDEX idx_portfolios_active ON portfolios(user_id, is_active) WHERE is_active = TRUE;
CREATE INDEX idx_lots_portfolio_open ON lots(portfolio_id, is_open) WHERE is_open = TRUE;
CREATE INDEX idx_transactions_portfolio_date ON transactions(portfolio_id, transaction_date DESC);
CREATE INDEX idx_transactions_portfolio_type_date ON transactions(portfolio_id, transaction_type, transaction_date DESC);
-- Fails in PostgreSQL (CURRENT_DATE is not immutable), as it did for the team.
CREATE INDEX idx_transactions_recent ON transactions(created_at DESC) WHERE created_at > CURRENT_DATE - 30;

-- root 002b_fix_qty_indexes
DROP INDEX IF EXISTS idx_lots_qty_open;
CREATE INDEX idx_lots_quantity_open ON lots(quantity_open) WHERE quantity_open > 0;

-- root 002c_fix_reduce_lot_function: returns VOID, locks the row, no longer flips is_open. A CREATE OR REPLACE
-- cannot change 007's return type, so the old function goes first.
DROP FUNCTION IF EXISTS reduce_lot(UUID, NUMERIC, DATE);
CREATE FUNCTION reduce_lot(lot UUID, qty NUMERIC, closed_date DATE DEFAULT CURRENT_DATE) RETURNS VOID AS $$
DECLARE
    v_open NUMERIC;
BEGIN
    IF qty <= 0 THEN
        RAISE EXCEPTION 'Quantity to reduce must be positive, got %', qty;
    END IF;
    SELECT l.quantity_open INTO v_open FROM lots l WHERE l.id = reduce_lot.lot FOR UPDATE;
    IF v_open IS NULL THEN
        RAISE EXCEPTION 'Lot % not found', reduce_lot.lot;
    END IF;
    IF qty > v_open THEN
        RAISE EXCEPTION 'Cannot reduce lot by %, only % open', qty, v_open;
    END IF;
    UPDATE lots l SET quantity_open = l.quantity_open - qty,
                      closed_date = CASE WHEN l.quantity_open - qty = 0 THEN reduce_lot.closed_date ELSE l.closed_date END,
                      updated_at = NOW()
     WHERE l.id = reduce_lot.lot;
END;
$$ LANGUAGE plpgsql;

-- root 002d_add_security_fk: a placeholder security takes every orphaned lot, then the key.
INSERT INTO securities (id, symbol, name, security_type, exchange, trading_currency, active)
VALUES ('00000000-0000-0000-0000-000000000000', 'ORPHAN', 'Orphaned lots placeholder', 'equity', 'UNKNOWN', 'USD', FALSE)
ON CONFLICT (id) DO NOTHING;
UPDATE lots SET security_id = '00000000-0000-0000-0000-000000000000'
 WHERE security_id NOT IN (SELECT id FROM securities);
ALTER TABLE lots ADD CONSTRAINT fk_lots_security FOREIGN KEY (security_id) REFERENCES securities(id) ON DELETE RESTRICT;

-- root 003_cleanup_unused_tables ("0 rows")
DROP TABLE IF EXISTS ledger_snapshots CASCADE;
DROP TABLE IF EXISTS ledger_transactions CASCADE;
DROP TABLE IF EXISTS audit_log CASCADE;
DROP TABLE IF EXISTS reconciliation_results CASCADE;
DROP TABLE IF EXISTS position_factor_betas CASCADE;
DROP TABLE IF EXISTS rating_rubrics CASCADE;
DROP TABLE IF EXISTS rebalance_suggestions CASCADE;
DROP TABLE IF EXISTS scenario_shocks CASCADE;
