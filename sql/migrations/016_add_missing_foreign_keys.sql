-- @migration 016 add_missing_foreign_keys
-- @touches lots transactions position_factor_betas securities portfolio_cash_flows audit_log
-- @target valid_fk:lots.security_id valid_fk:transactions.security_id !table:position_factor_betas|valid_fk:position_factor_betas.security_id !table:position_factor_betas|valid_fk:position_factor_betas.portfolio_id
--
-- The four references the legacy database never enforced (lots.portfolio_id and transactions.portfolio_id
-- already have foreign keys, so the plan's other two would be duplicates). Where the DawsOS team added one
-- (fk_lots_security and fk_transactions_security on 2025-11-04) it is adopted; position_factor_betas is covered
-- wherever it exists. Orphans first: every orphaned row is copied to quarantine.row_copies and logged in
-- audit_log (created in its standard shape where the team dropped it), then the policy in
-- `dawsos.orphan_policy` applies: placeholder (relink lots and transactions to the security 0…0, which the team's
-- own placeholder ORPHAN already is where it exists), quarantine (move them out), or fail (stop before anything
-- changes, listing the rows). Orphaned factor betas are always moved out: a beta of an unknown position means
-- nothing. Each key is added NOT VALID (a brief lock) and validated afterwards while reads and writes go on.
-- transactions.security_id gets ON DELETE RESTRICT, not the plan's SET NULL: deleting a security must not silently
-- erase which security a trade was in. NULL stays legal there for fees.

-- A key on these columns that points somewhere else is no form of DawsOS: a human decides which reference is right.
-- @up refuse key_to_another_table when=table:lots
SELECT format('%s.%s already has a foreign key %s to %s, not to %s', conrelid::regclass, a.attname, conname,
              confrelid::regclass, expected),
       'drop or fix that key by hand, then rerun'
  FROM pg_constraint c
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
  JOIN (VALUES ('lots', 'security_id', 'securities'), ('transactions', 'security_id', 'securities'),
               ('position_factor_betas', 'security_id', 'securities'),
               ('position_factor_betas', 'portfolio_id', 'portfolios')) AS k (tab, col, expected)
    ON c.conrelid = to_regclass('public.' || k.tab) AND a.attname = k.col
 WHERE c.contype = 'f' AND c.confrelid <> to_regclass('public.' || k.expected)
 LIMIT 1;

-- @up require_none no_orphaned_lots when=policy:fail
SELECT 'lots', id, security_id FROM lots l WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id)
UNION ALL
SELECT 'transactions', id, security_id FROM transactions t
 WHERE t.security_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = t.security_id);

-- @up require_none no_orphaned_betas when=policy:fail,table:position_factor_betas
SELECT 'position_factor_betas', portfolio_id, security_id FROM position_factor_betas b
 WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = b.security_id)
    OR NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.id = b.portfolio_id);

-- A key someone added NOT VALID by hand is validated below, which cannot be undone by itself: the journal keeps its
-- definition, and a rollback puts it back NOT VALID once the rows it guards are back as they were.
-- @up transaction note_unvalidated_keys when=!policy:fail
INSERT INTO dawsos_migrations.journal (version, step, inverse, detail)
SELECT 16, 'unvalidated key ' || c.conname || ' ' || undo.phase, undo.statement,
       jsonb_build_object('phase', undo.phase, 'description', undo.phase || ': ' || c.conname || ' back NOT VALID')
  FROM pg_constraint c,
       LATERAL (VALUES ('first', format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', c.conrelid::regclass, c.conname)),
                       ('last', format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
                                       pg_get_constraintdef(c.oid)))) AS undo (phase, statement)
 WHERE c.contype = 'f' AND NOT c.convalidated AND c.connamespace = 'public'::regnamespace
   AND c.conrelid::regclass::text IN ('lots', 'transactions', 'position_factor_betas')
   AND NOT EXISTS (SELECT 1 FROM dawsos_migrations.journal j WHERE j.version = 16
                   AND (j.step LIKE 'unvalidated key ' || c.conname || ' %' OR j.step LIKE 'fk\_%'));  -- ours are not theirs

-- The team's root migration 003 dropped audit_log; its root 010 restored it in this shape (no key to users).
-- @up transaction create_audit_log when=!table:audit_log,!policy:fail does=create
CREATE TABLE audit_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    details JSONB DEFAULT '{}',
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    ip_address TEXT,
    user_agent TEXT
);
CREATE INDEX idx_audit_log_user_timestamp ON audit_log (user_id, "timestamp" DESC);
CREATE INDEX idx_audit_log_resource ON audit_log (resource_type, resource_id);

-- @up transaction copy_orphaned_lots when=!policy:fail
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016', 'lots', l.id::text, to_jsonb(l), 'lots.security_id matches no security',
       CASE current_setting('dawsos.orphan_policy') WHEN 'placeholder' THEN 'relinked' ELSE 'moved' END
  FROM lots l
 WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id)
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016' AND q.source_table = 'lots'
                   AND q.row_key = l.id::text AND q.restored_at IS NULL);

-- @up transaction copy_orphaned_transactions when=!policy:fail
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016', 'transactions', t.id::text, to_jsonb(t), 'transactions.security_id matches no security',
       CASE current_setting('dawsos.orphan_policy') WHEN 'placeholder' THEN 'relinked' ELSE 'moved' END
  FROM transactions t
 WHERE t.security_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = t.security_id)
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016' AND q.source_table = 'transactions'
                   AND q.row_key = t.id::text AND q.restored_at IS NULL);

-- @up transaction copy_orphaned_betas when=!policy:fail,table:position_factor_betas
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

-- @up transaction audit_orphans_shape_a when=column:audit_log.event_type,!policy:fail
INSERT INTO audit_log (event_type, user_id, details)
SELECT 'dawsos_migration_016', NULL,
       jsonb_build_object('migration', '016', 'table', q.source_table, 'row', q.row_key, 'action', q.action,
                          'reason', q.reason, 'policy', current_setting('dawsos.orphan_policy'), 'quarantine_id', q.id)
  FROM quarantine.row_copies q WHERE q.migration = '016' AND NOT q.audited AND q.restored_at IS NULL;
UPDATE quarantine.row_copies SET audited = TRUE WHERE migration = '016' AND NOT audited AND restored_at IS NULL;

-- Audit rows of this shape need a user: the first administrator (DawsOS's own system id 0…0 otherwise).
-- @up transaction audit_orphans_shape_b when=column:audit_log.action,!policy:fail
INSERT INTO audit_log (user_id, action, resource_type, resource_id, details)
SELECT COALESCE((SELECT id FROM users WHERE role = 'ADMIN' ORDER BY created_at, id LIMIT 1),
                '00000000-0000-0000-0000-000000000000'), 'dawsos_migration_016',
       q.source_table, q.row_key,
       jsonb_build_object('migration', '016', 'action', q.action, 'reason', q.reason,
                          'policy', current_setting('dawsos.orphan_policy'), 'quarantine_id', q.id)
  FROM quarantine.row_copies q WHERE q.migration = '016' AND NOT q.audited AND q.restored_at IS NULL;
UPDATE quarantine.row_copies SET audited = TRUE WHERE migration = '016' AND NOT audited AND restored_at IS NULL;

-- The plan's option B, as the team's root migration 002d did it: one placeholder security that orphaned rows
-- point to (theirs, ORPHAN, where it already exists).
-- @up transaction relink_to_unknown_security when=policy:placeholder
INSERT INTO securities (id, symbol, name, security_type, exchange, trading_currency, active)
SELECT '00000000-0000-0000-0000-000000000000', 'UNKNOWN', 'Unknown security (orphans relinked by migration 016)',
       'equity', 'UNKNOWN', 'USD', FALSE
 WHERE EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '016' AND q.action = 'relinked'
                AND q.restored_at IS NULL)
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

-- Exactly the rows copied, never what a live predicate happens to match by now.
-- @up transaction move_orphaned_betas_out when=!policy:fail,table:position_factor_betas
DELETE FROM position_factor_betas b
 USING quarantine.row_copies q
 WHERE q.migration = '016' AND q.source_table = 'position_factor_betas' AND q.restored_at IS NULL
   AND q.row_data = to_jsonb(b);

-- @up transaction fk_lots_security when=!fk:lots.security_id
ALTER TABLE lots ADD CONSTRAINT fk_lots_security FOREIGN KEY (security_id) REFERENCES securities (id) ON DELETE RESTRICT NOT VALID;

-- @up transaction fk_transactions_security when=!fk:transactions.security_id
ALTER TABLE transactions ADD CONSTRAINT fk_transactions_security FOREIGN KEY (security_id) REFERENCES securities (id) ON DELETE RESTRICT NOT VALID;

-- @up transaction fk_betas_security when=table:position_factor_betas,!fk:position_factor_betas.security_id
ALTER TABLE position_factor_betas ADD CONSTRAINT fk_pfb_security FOREIGN KEY (security_id) REFERENCES securities (id) ON DELETE CASCADE NOT VALID;

-- The wide form already has this key (mig 009); the long form had it commented out.
-- @up transaction fk_betas_portfolio when=table:position_factor_betas,!fk:position_factor_betas.portfolio_id
ALTER TABLE position_factor_betas ADD CONSTRAINT fk_pfb_portfolio FOREIGN KEY (portfolio_id) REFERENCES portfolios (id) ON DELETE CASCADE NOT VALID;

-- Whatever the unvalidated key is called (ours, or one added NOT VALID by hand), it is validated while reads and
-- writes go on.
-- @up online validate_lots_security when=fk:lots.security_id,!valid_fk:lots.security_id
SELECT dawsos_migrations.validate_foreign_keys('lots', 'security_id');

-- @up online validate_transactions_security when=fk:transactions.security_id,!valid_fk:transactions.security_id
SELECT dawsos_migrations.validate_foreign_keys('transactions', 'security_id');

-- @up online validate_betas_security when=fk:position_factor_betas.security_id,!valid_fk:position_factor_betas.security_id
SELECT dawsos_migrations.validate_foreign_keys('position_factor_betas', 'security_id');

-- @up online validate_betas_portfolio when=fk:position_factor_betas.portfolio_id,!valid_fk:position_factor_betas.portfolio_id
SELECT dawsos_migrations.validate_foreign_keys('position_factor_betas', 'portfolio_id');

-- Everything above is idempotent and resumable; the switch only records the migration.
-- @up switch record

-- Each undo puts rows back exactly as they were, updated_at included (the tables' own triggers are off for it).
-- @down switch drop_fk_lots_security undoes=fk_lots_security
ALTER TABLE lots DROP CONSTRAINT IF EXISTS fk_lots_security;
-- @down switch drop_fk_transactions_security undoes=fk_transactions_security
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS fk_transactions_security;
-- @down switch drop_fk_betas_security undoes=fk_betas_security
ALTER TABLE position_factor_betas DROP CONSTRAINT IF EXISTS fk_pfb_security;
-- @down switch drop_fk_betas_portfolio undoes=fk_betas_portfolio
ALTER TABLE position_factor_betas DROP CONSTRAINT IF EXISTS fk_pfb_portfolio;

-- @down switch restore_orphaned_betas undoes=move_orphaned_betas_out
INSERT INTO position_factor_betas SELECT r.* FROM quarantine.row_copies q,
       jsonb_populate_record(NULL::position_factor_betas, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'position_factor_betas' AND q.restored_at IS NULL;

-- @down switch restore_moved_orphans undoes=move_orphans_out quiet=transactions
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

-- @down switch restore_relinked_orphans undoes=relink_to_unknown_security quiet=lots,transactions
UPDATE lots l SET security_id = r.security_id, updated_at = r.updated_at
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::lots, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'lots' AND q.action = 'relinked' AND q.restored_at IS NULL AND l.id = r.id;
UPDATE transactions t SET security_id = r.security_id, updated_at = r.updated_at
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::transactions, q.row_data) r
 WHERE q.migration = '016' AND q.source_table = 'transactions' AND q.action = 'relinked' AND q.restored_at IS NULL
   AND t.id = r.id;
DELETE FROM securities s WHERE s.id = '00000000-0000-0000-0000-000000000000'
   AND s.name = 'Unknown security (orphans relinked by migration 016)'
   AND NOT EXISTS (SELECT 1 FROM lots WHERE security_id = s.id)
   AND NOT EXISTS (SELECT 1 FROM transactions WHERE security_id = s.id);

-- @down switch archive_audit_rows_shape_a undoes=audit_orphans_shape_a when=column:audit_log.event_type
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016_rollback', 'audit_log', a.id::text, to_jsonb(a), 'audit row of migration 016, archived by its rollback', 'copied'
  FROM audit_log a WHERE a.event_type = 'dawsos_migration_016';
DELETE FROM audit_log WHERE event_type = 'dawsos_migration_016';

-- @down switch archive_audit_rows_shape_b undoes=audit_orphans_shape_b when=column:audit_log.action
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016_rollback', 'audit_log', a.id::text, to_jsonb(a), 'audit row of migration 016, archived by its rollback', 'copied'
  FROM audit_log a WHERE a.action = 'dawsos_migration_016';
DELETE FROM audit_log WHERE action = 'dawsos_migration_016';

-- @down switch release_lot_copies undoes=copy_orphaned_lots
UPDATE quarantine.row_copies SET restored_at = NOW() WHERE migration = '016' AND source_table = 'lots' AND restored_at IS NULL;
-- @down switch release_transaction_copies undoes=copy_orphaned_transactions
UPDATE quarantine.row_copies SET restored_at = NOW()
 WHERE migration = '016' AND source_table IN ('transactions', 'portfolio_cash_flows') AND restored_at IS NULL;
-- @down switch release_beta_copies undoes=copy_orphaned_betas
UPDATE quarantine.row_copies SET restored_at = NOW()
 WHERE migration = '016' AND source_table = 'position_factor_betas' AND restored_at IS NULL;

-- @down switch drop_created_audit_log undoes=create_audit_log
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '016_rollback', 'audit_log', a.id::text, to_jsonb(a), 'row of the audit_log 016 created, kept by its rollback', 'copied'
  FROM audit_log a;
DROP TABLE audit_log;
