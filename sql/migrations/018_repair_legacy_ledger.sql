-- @migration 018 repair_legacy_ledger
-- @touches migration_history
-- @before table:migration_history !constraint:migration_history.uq_migration_history_number
-- @after constraint:migration_history.uq_migration_history_number
--
-- The legacy ledger records two migrations numbered 009 and two numbered 010. The plan renumbers
-- 009_jwt_auth to 018 and 010_fix_audit_log_schema to 019 and updates a `schema_migrations` table that never
-- existed; the ledger DawsOS really has is migration_history. The two rows are copied to quarantine before they
-- change, and a unique number keeps the collision from coming back. (This project's own ledger is
-- dawsos_migrations.ledger; these numbers name DawsOS's legacy files, not ours.)

-- @up transaction copy_rows
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '018', 'migration_history', h.id::text, to_jsonb(h), 'renumbered to resolve a colliding migration number', 'copied'
  FROM migration_history h
 WHERE h.migration_name IN ('009_jwt_auth', '010_fix_audit_log_schema')
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '018' AND q.row_key = h.id::text
                   AND q.restored_at IS NULL);

-- @up switch renumber
UPDATE migration_history SET migration_number = 18, migration_name = '018_jwt_auth'
 WHERE migration_name = '009_jwt_auth';
UPDATE migration_history SET migration_number = 19, migration_name = '019_fix_audit_log_schema'
 WHERE migration_name = '010_fix_audit_log_schema';
ALTER TABLE migration_history ADD CONSTRAINT uq_migration_history_number UNIQUE (migration_number);

-- @down switch restore_numbers
ALTER TABLE migration_history DROP CONSTRAINT uq_migration_history_number;
UPDATE migration_history h SET migration_number = r.migration_number, migration_name = r.migration_name
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::migration_history, q.row_data) r
 WHERE q.migration = '018' AND q.restored_at IS NULL AND h.id = r.id;
UPDATE quarantine.row_copies SET restored_at = NOW() WHERE migration = '018' AND restored_at IS NULL;
