-- @migration 016 add_missing_foreign_keys
-- @touches lots transactions position_factor_betas securities portfolio_cash_flows audit_log
-- @before table:lots table:transactions table:position_factor_betas table:securities table:audit_log
-- @after valid_fk:lots.security_id valid_fk:transactions.security_id valid_fk:position_factor_betas.security_id valid_fk:position_factor_betas.portfolio_id
--
-- The four references the legacy database never enforced (facts §3 rows 4-7; lots.portfolio_id and
-- transactions.portfolio_id already have foreign keys, so the plan's other two would be duplicates).
-- Orphans first: every orphaned row is copied to quarantine.row_copies and logged in audit_log, then the
-- policy in `dawsos.orphan_policy` applies: placeholder (relink lots and transactions to the UNKNOWN security),
-- quarantine (move them out), or fail (stop with the list before anything changes). Orphaned factor betas are
-- always moved out: a beta of an unknown position means nothing, and relinking several would collide on the
-- long form's primary key. Each key is added NOT VALID (a brief lock) and validated afterwards, while reads and
-- writes go on. transactions.security_id gets ON DELETE RESTRICT, not the plan's SET NULL: deleting a security
-- must not silently erase which security a trade was in. NULL stays legal there for fees.

-- @up require_none no_orphaned_lots when=policy:fail
SELECT 'lots', id, security_id FROM lots l WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id)
UNION ALL
SELECT 'transactions', id, security_id FROM transactions t
 WHERE t.security_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = t.security_id)
UNION ALL
SELECT 'position_factor_betas', portfolio_id, security_id FROM position_factor_betas b
 WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = b.security_id)
    OR NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.id = b.portfolio_id);

-- @up transaction copy_orphans
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016', 'lots', l.id::text, to_jsonb(l), 'lots.security_id matches no security',
       CASE current_setting('dawsos.orphan_policy') WHEN 'placeholder' THEN 'relinked' ELSE 'moved' END
  FROM lots l
 WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id)
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016' AND q.source_table = 'lots'
                   AND q.row_key = l.id::text AND q.restored_at IS NULL);
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016', 'transactions', t.id::text, to_jsonb(t), 'transactions.security_id matches no security',
       CASE current_setting('dawsos.orphan_policy') WHEN 'placeholder' THEN 'relinked' ELSE 'moved' END
  FROM transactions t
 WHERE t.security_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = t.security_id)
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016' AND q.source_table = 'transactions'
                   AND q.row_key = t.id::text AND q.restored_at IS NULL);
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016', 'position_factor_betas', md5(to_jsonb(b)::text), to_jsonb(b),
       'position_factor_betas references no security or no portfolio', 'moved'
  FROM position_factor_betas b
 WHERE (NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = b.security_id)
        OR NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.id = b.portfolio_id))
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016'
                   AND q.source_table = 'position_factor_betas' AND q.row_data = to_jsonb(b) AND q.restored_at IS NULL);

-- Moving lots out clears transactions.lot_id (ON DELETE SET NULL) and moving transactions out needs their cash
-- flows detached: those rows are copied before they change.
-- @up transaction copy_rows_changed_by_moves when=policy:quarantine
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016', 'transactions', t.id::text, to_jsonb(t), 'lot_id cleared: its lot was moved to quarantine', 'copied'
  FROM transactions t
 WHERE t.lot_id IN (SELECT q.row_key::uuid FROM quarantine.row_copies q
                     WHERE q.migration = '016' AND q.source_table = 'lots' AND q.action = 'moved' AND q.restored_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016' AND q.source_table = 'transactions'
                   AND q.row_key = t.id::text AND q.restored_at IS NULL);
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016', 'portfolio_cash_flows', f.id::text, to_jsonb(f), 'transaction_id cleared: its transaction was moved to quarantine', 'copied'
  FROM portfolio_cash_flows f
 WHERE f.transaction_id IN (SELECT q.row_key::uuid FROM quarantine.row_copies q WHERE q.migration = '016'
                             AND q.source_table = 'transactions' AND q.action = 'moved' AND q.restored_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016'
                   AND q.source_table = 'portfolio_cash_flows' AND q.row_key = f.id::text AND q.restored_at IS NULL);

-- @up transaction audit_orphans_shape_a when=column:audit_log.event_type
INSERT INTO audit_log (event_type, user_id, details)
SELECT 'dawsos_migration_016', NULL,
       jsonb_build_object('migration', '016', 'table', q.source_table, 'row', q.row_key, 'action', q.action,
                          'reason', q.reason, 'policy', current_setting('dawsos.orphan_policy'), 'quarantine_id', q.id)
  FROM quarantine.row_copies q WHERE q.migration = '016' AND NOT q.audited AND q.restored_at IS NULL;
UPDATE quarantine.row_copies SET audited = TRUE WHERE migration = '016' AND NOT audited AND restored_at IS NULL;

-- @up transaction audit_orphans_shape_b when=column:audit_log.action
INSERT INTO audit_log (user_id, action, resource_type, resource_id, details)
SELECT (SELECT id FROM users WHERE role = 'ADMIN' ORDER BY created_at, id LIMIT 1), 'dawsos_migration_016',
       q.source_table, q.row_key,
       jsonb_build_object('migration', '016', 'action', q.action, 'reason', q.reason,
                          'policy', current_setting('dawsos.orphan_policy'), 'quarantine_id', q.id)
  FROM quarantine.row_copies q WHERE q.migration = '016' AND NOT q.audited AND q.restored_at IS NULL;
UPDATE quarantine.row_copies SET audited = TRUE WHERE migration = '016' AND NOT audited AND restored_at IS NULL;

-- The plan's option B, as root 002d did it: one placeholder security that orphaned rows point to.
-- @up transaction relink_to_unknown_security when=policy:placeholder
INSERT INTO securities (id, symbol, name, security_type, exchange, trading_currency, active)
VALUES ('00000000-0000-0000-0000-000000000000', 'UNKNOWN', 'Unknown security (orphans relinked by migration 016)',
        'equity', 'UNKNOWN', 'USD', FALSE)
ON CONFLICT (id) DO NOTHING;
UPDATE lots SET security_id = '00000000-0000-0000-0000-000000000000'
 WHERE id IN (SELECT q.row_key::uuid FROM quarantine.row_copies q WHERE q.migration = '016' AND q.source_table = 'lots'
               AND q.action = 'relinked' AND q.restored_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = lots.security_id);
UPDATE transactions SET security_id = '00000000-0000-0000-0000-000000000000'
 WHERE id IN (SELECT q.row_key::uuid FROM quarantine.row_copies q WHERE q.migration = '016'
               AND q.source_table = 'transactions' AND q.action = 'relinked' AND q.restored_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = transactions.security_id);

-- @up transaction move_orphans_out when=policy:quarantine
UPDATE portfolio_cash_flows SET transaction_id = NULL
 WHERE id IN (SELECT q.row_key::uuid FROM quarantine.row_copies q WHERE q.migration = '016'
               AND q.source_table = 'portfolio_cash_flows' AND q.restored_at IS NULL);
DELETE FROM transactions
 WHERE id IN (SELECT q.row_key::uuid FROM quarantine.row_copies q WHERE q.migration = '016'
               AND q.source_table = 'transactions' AND q.action = 'moved' AND q.restored_at IS NULL);
DELETE FROM lots
 WHERE id IN (SELECT q.row_key::uuid FROM quarantine.row_copies q WHERE q.migration = '016' AND q.source_table = 'lots'
               AND q.action = 'moved' AND q.restored_at IS NULL);

-- @up transaction move_orphaned_betas_out when=!policy:fail
DELETE FROM position_factor_betas b
 WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = b.security_id)
    OR NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.id = b.portfolio_id);

-- @up transaction fk_lots_security when=!fk:lots.security_id
ALTER TABLE lots ADD CONSTRAINT fk_lots_security FOREIGN KEY (security_id) REFERENCES securities (id) ON DELETE RESTRICT NOT VALID;

-- @up transaction fk_transactions_security when=!fk:transactions.security_id
ALTER TABLE transactions ADD CONSTRAINT fk_transactions_security FOREIGN KEY (security_id) REFERENCES securities (id) ON DELETE RESTRICT NOT VALID;

-- @up transaction fk_betas_security when=!fk:position_factor_betas.security_id
ALTER TABLE position_factor_betas ADD CONSTRAINT fk_pfb_security FOREIGN KEY (security_id) REFERENCES securities (id) ON DELETE CASCADE NOT VALID;

-- The wide form already has this key (mig 009); the long form had it commented out.
-- @up transaction fk_betas_portfolio when=!fk:position_factor_betas.portfolio_id
ALTER TABLE position_factor_betas ADD CONSTRAINT fk_pfb_portfolio FOREIGN KEY (portfolio_id) REFERENCES portfolios (id) ON DELETE CASCADE NOT VALID;

-- @up online validate_lots_security when=constraint:lots.fk_lots_security
ALTER TABLE lots VALIDATE CONSTRAINT fk_lots_security;

-- @up online validate_transactions_security when=constraint:transactions.fk_transactions_security
ALTER TABLE transactions VALIDATE CONSTRAINT fk_transactions_security;

-- @up online validate_betas_security when=constraint:position_factor_betas.fk_pfb_security
ALTER TABLE position_factor_betas VALIDATE CONSTRAINT fk_pfb_security;

-- @up online validate_betas_portfolio when=constraint:position_factor_betas.fk_pfb_portfolio
ALTER TABLE position_factor_betas VALIDATE CONSTRAINT fk_pfb_portfolio;

-- Everything above is idempotent and resumable; the switch only records the migration.
-- @up switch record

-- The rollback is one transaction: keys dropped, rows back exactly as they were (updated_at included; replica
-- mode keeps the triggers out of it), audit rows archived.
-- @down switch drop_keys_and_restore_rows
ALTER TABLE lots DROP CONSTRAINT IF EXISTS fk_lots_security;
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS fk_transactions_security;
ALTER TABLE position_factor_betas DROP CONSTRAINT IF EXISTS fk_pfb_security;
ALTER TABLE position_factor_betas DROP CONSTRAINT IF EXISTS fk_pfb_portfolio;
SET LOCAL session_replication_role = replica;
UPDATE lots l SET security_id = r.security_id, updated_at = r.updated_at
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::lots, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'lots' AND q.action = 'relinked' AND q.restored_at IS NULL AND l.id = r.id;
UPDATE transactions t SET security_id = r.security_id, updated_at = r.updated_at
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::transactions, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'transactions' AND q.action = 'relinked' AND q.restored_at IS NULL
   AND t.id = r.id;
INSERT INTO lots SELECT r.* FROM quarantine.row_copies q, jsonb_populate_record(NULL::lots, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'lots' AND q.action = 'moved' AND q.restored_at IS NULL;
INSERT INTO transactions SELECT r.* FROM quarantine.row_copies q, jsonb_populate_record(NULL::transactions, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'transactions' AND q.action = 'moved' AND q.restored_at IS NULL;
UPDATE transactions t SET lot_id = r.lot_id, updated_at = r.updated_at
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::transactions, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'transactions' AND q.action = 'copied' AND q.restored_at IS NULL
   AND t.id = r.id;
UPDATE portfolio_cash_flows f SET transaction_id = r.transaction_id
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::portfolio_cash_flows, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'portfolio_cash_flows' AND q.restored_at IS NULL AND f.id = r.id;
INSERT INTO position_factor_betas SELECT r.* FROM quarantine.row_copies q,
       jsonb_populate_record(NULL::position_factor_betas, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'position_factor_betas' AND q.restored_at IS NULL;
DELETE FROM securities s WHERE s.id = '00000000-0000-0000-0000-000000000000'
   AND s.name = 'Unknown security (orphans relinked by migration 016)'
   AND NOT EXISTS (SELECT 1 FROM lots WHERE security_id = s.id)
   AND NOT EXISTS (SELECT 1 FROM transactions WHERE security_id = s.id);

-- @down switch archive_audit_rows_shape_a when=column:audit_log.event_type
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016_rollback', 'audit_log', a.id::text, to_jsonb(a), 'audit row of migration 016, archived by its rollback', 'copied'
  FROM audit_log a WHERE a.event_type = 'dawsos_migration_016';
DELETE FROM audit_log WHERE event_type = 'dawsos_migration_016';
UPDATE quarantine.row_copies SET restored_at = NOW()
 WHERE migration = '016' AND restored_at IS NULL;

-- @down switch archive_audit_rows_shape_b when=column:audit_log.action
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016_rollback', 'audit_log', a.id::text, to_jsonb(a), 'audit row of migration 016, archived by its rollback', 'copied'
  FROM audit_log a WHERE a.action = 'dawsos_migration_016';
DELETE FROM audit_log WHERE action = 'dawsos_migration_016';
UPDATE quarantine.row_copies SET restored_at = NOW()
 WHERE migration = '016' AND restored_at IS NULL;
