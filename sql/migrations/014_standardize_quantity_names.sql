-- @migration 014 standardize_quantity_names
-- @touches lots
-- @before table:lots table:transactions table:portfolios table:securities !column:lots.quantity_open !column:lots.quantity_original
-- @after column:lots.quantity_open column:lots.quantity_original !column:lots.qty_open !column:lots.qty_original valid_index:idx_lots_open_positions
--
-- qty_open -> quantity_open, qty_original -> quantity_original, without copying a single row where 007 ran:
-- the plan's add-copy-rename rewrites every lot under ACCESS EXCLUSIVE; a RENAME is a catalog change.
-- Where 007 never ran, its columns are created (catalog-only), kept filled for writers that only know
-- quantity/is_open, and backfilled in batches by 007's rule.
--
-- What lots.quantity means afterwards: nothing reliable. Three writers disagreed (reduce_lot kept the original,
-- trade_execution wrote the open amount, the seed wrote the shares held at seeding time), so it is DEPRECATED:
-- quantity_open (shares still held) and quantity_original (shares bought) are the truth. The column stays,
-- commented, for readers that have not moved; dropping it is a later migration of its own.

-- @up transaction add_quantity_columns when=!column:lots.qty_open,!column:lots.quantity_open
ALTER TABLE lots ADD COLUMN quantity_original NUMERIC, ADD COLUMN quantity_open NUMERIC, ADD COLUMN closed_date DATE;
CREATE FUNCTION dawsos_fill_lot_quantities() RETURNS trigger AS $$
BEGIN
    NEW.quantity_original := COALESCE(NEW.quantity_original, NEW.quantity);
    NEW.quantity_open := COALESCE(NEW.quantity_open, CASE WHEN NEW.is_open THEN NEW.quantity ELSE 0 END);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_lots_fill_quantities BEFORE INSERT ON lots FOR EACH ROW EXECUTE FUNCTION dawsos_fill_lot_quantities();

-- 007's backfill rule, 50,000 rows per transaction; replica mode keeps updated_at as it was (a schema change
-- is not a business update).
-- @up batch backfill_quantities when=function:dawsos_fill_lot_quantities
SET LOCAL session_replication_role = replica;
UPDATE lots SET quantity_original = quantity,
                quantity_open = CASE WHEN is_open THEN quantity ELSE 0 END,
                closed_date = CASE WHEN is_open THEN NULL ELSE updated_at::date END
 WHERE id IN (SELECT id FROM lots WHERE quantity_original IS NULL LIMIT 50000);

-- @up transaction add_quantity_checks when=function:dawsos_fill_lot_quantities,!constraint:lots.chk_lots_quantity_open_lte_original
ALTER TABLE lots ADD CONSTRAINT chk_lots_quantity_original_positive CHECK (quantity_original > 0) NOT VALID;
ALTER TABLE lots ADD CONSTRAINT chk_lots_quantity_open_nonnegative CHECK (quantity_open >= 0) NOT VALID;
ALTER TABLE lots ADD CONSTRAINT chk_lots_quantity_open_lte_original CHECK (quantity_open <= quantity_original) NOT VALID;
ALTER TABLE lots ADD CONSTRAINT chk_lots_quantity_original_not_null CHECK (quantity_original IS NOT NULL) NOT VALID;
ALTER TABLE lots ADD CONSTRAINT chk_lots_quantity_open_not_null CHECK (quantity_open IS NOT NULL) NOT VALID;

-- @up online validate_quantity_checks when=constraint:lots.chk_lots_quantity_open_not_null
ALTER TABLE lots VALIDATE CONSTRAINT chk_lots_quantity_original_positive;
ALTER TABLE lots VALIDATE CONSTRAINT chk_lots_quantity_open_nonnegative;
ALTER TABLE lots VALIDATE CONSTRAINT chk_lots_quantity_open_lte_original;
ALTER TABLE lots VALIDATE CONSTRAINT chk_lots_quantity_original_not_null;
ALTER TABLE lots VALIDATE CONSTRAINT chk_lots_quantity_open_not_null;

-- A run killed during CREATE INDEX CONCURRENTLY leaves an invalid index behind; drop it and build again.
-- @up online drop_invalid_open_positions_index when=index:idx_lots_open_positions,!valid_index:idx_lots_open_positions
DROP INDEX CONCURRENTLY idx_lots_open_positions;

-- @up online open_positions_index when=column:lots.qty_open,!index:idx_lots_open_positions
CREATE INDEX CONCURRENTLY idx_lots_open_positions ON lots (portfolio_id, security_id) WHERE qty_open > 0;

-- @up online open_positions_index_on_new_columns when=column:lots.quantity_open,!index:idx_lots_open_positions
CREATE INDEX CONCURRENTLY idx_lots_open_positions ON lots (portfolio_id, security_id) WHERE quantity_open > 0;

-- @up switch rename_columns when=column:lots.qty_open
ALTER TABLE lots RENAME COLUMN qty_open TO quantity_open;
ALTER TABLE lots RENAME COLUMN qty_original TO quantity_original;
ALTER TABLE lots RENAME CONSTRAINT lots_qty_original_positive TO chk_lots_quantity_original_positive;
ALTER TABLE lots RENAME CONSTRAINT lots_qty_open_nonnegative TO chk_lots_quantity_open_nonnegative;
ALTER TABLE lots RENAME CONSTRAINT lots_qty_open_lte_original TO chk_lots_quantity_open_lte_original;
ALTER INDEX idx_lots_qty_open RENAME TO idx_lots_quantity_open;

-- NOT NULL proven by the validated CHECKs: PostgreSQL skips the scan, then the helpers go.
-- @up switch set_not_null when=constraint:lots.chk_lots_quantity_open_not_null
ALTER TABLE lots ALTER COLUMN quantity_original SET NOT NULL, ALTER COLUMN quantity_open SET NOT NULL;
ALTER TABLE lots DROP CONSTRAINT chk_lots_quantity_original_not_null, DROP CONSTRAINT chk_lots_quantity_open_not_null;

-- reduce_lot (007) names qty_open in its body; keep it working under the new names.
-- @up switch reduce_lot_new_names when=function:reduce_lot
CREATE OR REPLACE FUNCTION reduce_lot(p_lot_id UUID, p_qty NUMERIC, p_closed_date DATE DEFAULT CURRENT_DATE)
RETURNS NUMERIC AS $$
DECLARE
    remaining NUMERIC;
BEGIN
    UPDATE lots SET quantity_open = quantity_open - p_qty,
                    is_open = (quantity_open - p_qty) > 0,
                    closed_date = CASE WHEN quantity_open - p_qty = 0 THEN p_closed_date ELSE closed_date END
     WHERE id = p_lot_id
    RETURNING quantity_open INTO remaining;
    RETURN remaining;
END;
$$ LANGUAGE plpgsql;

-- Old readers and writers keep working during the transition: SET search_path = dawsos_legacy, public.
-- @up switch legacy_view
CREATE SCHEMA IF NOT EXISTS dawsos_legacy;
CREATE VIEW dawsos_legacy.lots AS
SELECT id, portfolio_id, security_id, symbol, acquisition_date, quantity, cost_basis, cost_basis_per_share, currency,
       is_open, created_at, updated_at, quantity_original AS qty_original, quantity_open AS qty_open, closed_date
  FROM public.lots;
COMMENT ON COLUMN lots.quantity IS 'DEPRECATED since migration 014: writers disagreed on its meaning. Read quantity_open (shares held) and quantity_original (shares bought).';
COMMENT ON COLUMN lots.quantity_open IS 'Shares of the lot still held; 0 once the lot is closed.';
COMMENT ON COLUMN lots.quantity_original IS 'Shares bought in the lot.';

-- Where 014 created the columns, their values are kept before they are dropped.
-- @down transaction keep_added_columns when=function:dawsos_fill_lot_quantities
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '014_rollback', 'lots', id::text,
       jsonb_build_object('id', id, 'quantity_original', quantity_original, 'quantity_open', quantity_open,
                          'closed_date', closed_date),
       'columns created by 014, dropped by its rollback', 'copied'
  FROM lots;

-- @down switch drop_legacy_view
DROP VIEW dawsos_legacy.lots;
DROP SCHEMA dawsos_legacy;
COMMENT ON COLUMN lots.quantity IS NULL;
COMMENT ON COLUMN lots.quantity_open IS NULL;
COMMENT ON COLUMN lots.quantity_original IS NULL;
DROP INDEX idx_lots_open_positions;

-- @down switch restore_names when=!function:dawsos_fill_lot_quantities
ALTER TABLE lots RENAME COLUMN quantity_open TO qty_open;
ALTER TABLE lots RENAME COLUMN quantity_original TO qty_original;
ALTER TABLE lots RENAME CONSTRAINT chk_lots_quantity_original_positive TO lots_qty_original_positive;
ALTER TABLE lots RENAME CONSTRAINT chk_lots_quantity_open_nonnegative TO lots_qty_open_nonnegative;
ALTER TABLE lots RENAME CONSTRAINT chk_lots_quantity_open_lte_original TO lots_qty_open_lte_original;
ALTER INDEX idx_lots_quantity_open RENAME TO idx_lots_qty_open;

-- @down switch restore_reduce_lot when=function:reduce_lot
CREATE OR REPLACE FUNCTION reduce_lot(p_lot_id UUID, p_qty NUMERIC, p_closed_date DATE DEFAULT CURRENT_DATE)
RETURNS NUMERIC AS $$
DECLARE
    remaining NUMERIC;
BEGIN
    UPDATE lots SET qty_open = qty_open - p_qty,
                    is_open = (qty_open - p_qty) > 0,
                    closed_date = CASE WHEN qty_open - p_qty = 0 THEN p_closed_date ELSE closed_date END
     WHERE id = p_lot_id
    RETURNING qty_open INTO remaining;
    RETURN remaining;
END;
$$ LANGUAGE plpgsql;

-- @down switch drop_added_columns when=function:dawsos_fill_lot_quantities
DROP TRIGGER trg_lots_fill_quantities ON lots;
DROP FUNCTION dawsos_fill_lot_quantities();
ALTER TABLE lots DROP COLUMN quantity_original, DROP COLUMN quantity_open, DROP COLUMN closed_date;
