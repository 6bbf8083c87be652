-- mig 007_add_lot_qty_tracking: the second and third quantity columns on lots (variant "007 applied").
ALTER TABLE lots ADD COLUMN qty_original NUMERIC, ADD COLUMN qty_open NUMERIC, ADD COLUMN closed_date DATE;
ALTER TABLE lots ALTER COLUMN qty_original SET NOT NULL, ALTER COLUMN qty_open SET NOT NULL;
ALTER TABLE lots
    ADD CONSTRAINT lots_qty_original_positive CHECK (qty_original > 0),
    ADD CONSTRAINT lots_qty_open_nonnegative CHECK (qty_open >= 0),
    ADD CONSTRAINT lots_qty_open_lte_original CHECK (qty_open <= qty_original);
DROP INDEX idx_lots_is_open;
CREATE INDEX idx_lots_qty_open ON lots(qty_open) WHERE qty_open > 0;
CREATE INDEX idx_lots_closed_date ON lots(closed_date) WHERE closed_date IS NOT NULL;

-- 007's reduce_lot decrements qty_open only: lots.quantity keeps the original amount.
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
