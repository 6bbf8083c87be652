-- @migration 014 standardize_quantity_names
-- @touches lots
-- @rename lots.qty_open quantity_open
-- @rename lots.qty_original quantity_original
-- @target column:lots.quantity_open column:lots.quantity_original !column:lots.qty_open !column:lots.qty_original valid_index:idx_lots_open_positions
--
-- qty_open -> quantity_open, qty_original -> quantity_original, without copying a single row where 007 ran:
-- the plan's add-copy-rename rewrites every lot under ACCESS EXCLUSIVE; a RENAME is a catalog change. The
-- runner renames the CHECKs and indexes named after the old columns with them and rewrites functions whose text
-- uses them, read from the catalog (007's reduce_lot among them), keeping their signatures. Where the DawsOS team
-- already renamed the columns (root migration 001, 2025-11-04) the names are adopted as they are. Where 007
-- never ran, its columns are created (catalog-only), kept filled for writers that only know quantity/is_open,
-- and backfilled in batches by 007's rule.
--
-- What lots.quantity means afterwards: nothing reliable. Three writers disagreed (reduce_lot kept the original,
-- trade_execution wrote the open amount, the seed wrote the shares held at seeding time), so it is DEPRECATED:
-- quantity_open (shares still held) and quantity_original (shares bought) are the truth. The column stays,
-- commented, for readers that have not moved; dropping it is a later migration of its own.

-- A lot that knows how many shares it has open but not how many it bought (or the reverse) came from no DawsOS
-- history; which number is missing is for a human to decide.
-- @up refuse half_quantity_tracking when=table:lots
SELECT 'lots has ' || CASE WHEN has_open THEN 'an open quantity but no original quantity'
                           ELSE 'an original quantity but no open quantity' END
  FROM (SELECT bool_or(attname IN ('qty_open', 'quantity_open')) AS has_open,
               bool_or(attname IN ('qty_original', 'quantity_original')) AS has_original
          FROM pg_attribute WHERE attrelid = 'lots'::regclass AND attnum > 0 AND NOT attisdropped) AS found
 WHERE has_open <> has_original;

-- @up transaction add_closed_date when=!column:lots.qty_open,!column:lots.quantity_open,!column:lots.closed_date does=create
ALTER TABLE lots ADD COLUMN closed_date DATE;

-- Writers that only know quantity/is_open keep the new columns in step by 007's rule, on INSERT and UPDATE.
-- @up transaction add_quantity_columns when=!column:lots.qty_open,!column:lots.quantity_open does=create
ALTER TABLE lots ADD COLUMN quantity_original NUMERIC, ADD COLUMN quantity_open NUMERIC;
CREATE FUNCTION dawsos_fill_lot_quantities() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.quantity_original IS NULL THEN
        NEW.quantity_original := COALESCE(NEW.quantity_original, NEW.quantity);
        NEW.quantity_open := COALESCE(NEW.quantity_open, CASE WHEN NEW.is_open THEN NEW.quantity ELSE 0 END);
    ELSIF NEW.quantity_open IS NOT DISTINCT FROM OLD.quantity_open
          AND (NEW.quantity IS DISTINCT FROM OLD.quantity OR NEW.is_open IS DISTINCT FROM OLD.is_open) THEN
        NEW.quantity_open := CASE WHEN NEW.is_open THEN NEW.quantity ELSE 0 END;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_lots_fill_quantities BEFORE INSERT OR UPDATE ON lots FOR EACH ROW EXECUTE FUNCTION dawsos_fill_lot_quantities();

-- While 014 fills its columns a row keeps its updated_at (a schema change is not a business update). Triggers of a
-- timing fire in name order, so this one runs after every other BEFORE UPDATE trigger, and only in the runner's
-- own session: no lock beyond a row's, and other writers' updates bump updated_at as always.
-- @up transaction keep_updated_at when=function:dawsos_fill_lot_quantities,column:lots.updated_at,!function:dawsos_keep_updated_at
CREATE FUNCTION dawsos_keep_updated_at() RETURNS trigger AS $$
BEGIN
    IF current_setting('dawsos.keep_updated_at', true) = 'on' THEN
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER zzzz_dawsos_keep_updated_at BEFORE UPDATE ON lots FOR EACH ROW EXECUTE FUNCTION dawsos_keep_updated_at();

-- 007's backfill rule, 10,000 rows per transaction.
-- @up batch backfill_quantities when=function:dawsos_fill_lot_quantities
SET LOCAL dawsos.keep_updated_at = 'on';
UPDATE lots SET quantity_original = quantity,
                quantity_open = CASE WHEN is_open THEN quantity ELSE 0 END,
                closed_date = COALESCE(closed_date, CASE WHEN is_open THEN NULL ELSE updated_at::date END)
 WHERE id IN (SELECT id FROM lots WHERE quantity_original IS NULL LIMIT 10000);

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

-- @up online open_positions_index when=column:lots.qty_open,!index:idx_lots_open_positions does=create
CREATE INDEX CONCURRENTLY idx_lots_open_positions ON lots (portfolio_id, security_id) WHERE qty_open > 0;

-- @up online open_positions_index_on_new_columns when=column:lots.quantity_open,!index:idx_lots_open_positions does=create
CREATE INDEX CONCURRENTLY idx_lots_open_positions ON lots (portfolio_id, security_id) WHERE quantity_open > 0;

-- NOT NULL proven by the validated CHECKs: PostgreSQL skips the scan, then the helpers go.
-- @up switch set_not_null when=constraint:lots.chk_lots_quantity_open_not_null
ALTER TABLE lots ALTER COLUMN quantity_original SET NOT NULL, ALTER COLUMN quantity_open SET NOT NULL;
ALTER TABLE lots DROP CONSTRAINT chk_lots_quantity_original_not_null, DROP CONSTRAINT chk_lots_quantity_open_not_null;

-- The backfill is over: the trigger that kept updated_at goes (it is put back if 014 is rolled back half-way).
-- @up switch drop_keep_updated_at when=function:dawsos_keep_updated_at
DROP TRIGGER zzzz_dawsos_keep_updated_at ON lots;
DROP FUNCTION dawsos_keep_updated_at();

-- Comments only where the team left none (007 commented its columns; those stay as they are).
-- @up switch comment_quantity when=!comment:lots.quantity
COMMENT ON COLUMN lots.quantity IS 'DEPRECATED since migration 014: writers disagreed on its meaning. Read quantity_open (shares held) and quantity_original (shares bought).';
-- @up switch comment_quantity_open when=!comment:lots.quantity_open
COMMENT ON COLUMN lots.quantity_open IS 'Shares of the lot still held; 0 once the lot is closed.';
-- @up switch comment_quantity_original when=!comment:lots.quantity_original
COMMENT ON COLUMN lots.quantity_original IS 'Shares bought in the lot.';

-- @up switch record

-- @down switch uncomment_quantity undoes=comment_quantity
COMMENT ON COLUMN lots.quantity IS NULL;
-- @down switch uncomment_quantity_open undoes=comment_quantity_open
COMMENT ON COLUMN lots.quantity_open IS NULL;
-- @down switch uncomment_quantity_original undoes=comment_quantity_original
COMMENT ON COLUMN lots.quantity_original IS NULL;

-- @down switch drop_open_positions_index undoes=open_positions_index
DROP INDEX IF EXISTS idx_lots_open_positions;
-- @down switch drop_open_positions_index_on_new_columns undoes=open_positions_index_on_new_columns
DROP INDEX IF EXISTS idx_lots_open_positions;

-- @down switch drop_quantity_checks undoes=add_quantity_checks
ALTER TABLE lots DROP CONSTRAINT IF EXISTS chk_lots_quantity_original_positive, DROP CONSTRAINT IF EXISTS chk_lots_quantity_open_nonnegative,
    DROP CONSTRAINT IF EXISTS chk_lots_quantity_open_lte_original, DROP CONSTRAINT IF EXISTS chk_lots_quantity_original_not_null,
    DROP CONSTRAINT IF EXISTS chk_lots_quantity_open_not_null;

-- Where 014 created the columns, their values are kept before they are dropped.
-- @down switch keep_added_columns undoes=add_quantity_columns
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '014_rollback', 'lots', id::text,
       jsonb_build_object('id', id, 'quantity_original', quantity_original, 'quantity_open', quantity_open,
                          'closed_date', closed_date),
       'columns created by 014, dropped by its rollback', 'copied'
  FROM lots;
-- @down switch drop_added_columns undoes=add_quantity_columns
DROP TRIGGER trg_lots_fill_quantities ON lots;
DROP FUNCTION dawsos_fill_lot_quantities();
ALTER TABLE lots DROP COLUMN quantity_original, DROP COLUMN quantity_open;

-- @down switch drop_kept_updated_at undoes=keep_updated_at when=function:dawsos_keep_updated_at
DROP TRIGGER zzzz_dawsos_keep_updated_at ON lots;
DROP FUNCTION dawsos_keep_updated_at();

-- @down switch drop_closed_date undoes=add_closed_date
ALTER TABLE lots DROP COLUMN closed_date;
