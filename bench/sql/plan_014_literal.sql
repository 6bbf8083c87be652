-- The refactoring plan's migration 014, verbatim (its Day 1-2 step): add columns, copy every row,
-- constrain, rename the old columns to *_deprecated, all in one transaction under ACCESS EXCLUSIVE.
BEGIN;
ALTER TABLE lots
    ADD COLUMN quantity_open NUMERIC,
    ADD COLUMN quantity_original NUMERIC;
UPDATE lots
SET
    quantity_open = qty_open,
    quantity_original = qty_original;
ALTER TABLE lots
    ALTER COLUMN quantity_open SET NOT NULL,
    ALTER COLUMN quantity_original SET NOT NULL,
    ADD CONSTRAINT chk_lots_quantity_open_positive CHECK (quantity_open >= 0),
    ADD CONSTRAINT chk_lots_quantity_original_positive CHECK (quantity_original > 0),
    ADD CONSTRAINT chk_lots_quantity_open_lte_original CHECK (quantity_open <= quantity_original);
ALTER TABLE lots
    RENAME COLUMN qty_open TO qty_open_deprecated;
ALTER TABLE lots
    RENAME COLUMN qty_original TO qty_original_deprecated;
COMMENT ON COLUMN lots.qty_open_deprecated IS
'DEPRECATED: Use quantity_open instead. Will be removed in version 7.0 (Week 4)';
COMMENT ON COLUMN lots.qty_original_deprecated IS
'DEPRECATED: Use quantity_original instead. Will be removed in version 7.0 (Week 4)';
DROP INDEX IF EXISTS idx_lots_is_open;
CREATE INDEX idx_lots_open_positions
    ON lots(portfolio_id, security_id)
    WHERE quantity_open > 0;
DO $$
DECLARE
    mismatch_count INTEGER;
BEGIN
    SELECT COUNT(*) INTO mismatch_count
    FROM lots
    WHERE quantity_open != qty_open_deprecated
       OR quantity_original != qty_original_deprecated;
    IF mismatch_count > 0 THEN
        RAISE EXCEPTION 'Data migration failed: % rows have mismatched values', mismatch_count;
    END IF;
END $$;
COMMIT;
