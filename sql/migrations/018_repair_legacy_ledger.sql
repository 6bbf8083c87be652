-- @migration 018 repair_legacy_ledger
-- @touches migration_history
-- @target !table:migration_history|constraint:migration_history.uq_migration_history_number
--
-- DawsOS's migration numbers collide (two 009s, two 010s). The plan renumbers 009_jwt_auth to 018 and
-- 010_fix_audit_log_schema to 019 in a `schema_migrations` table that never existed; the ledger DawsOS really
-- introduced (2025-11-08, migration_history) exists only where someone applied its orphaned migration 019, and at
-- that date 018 and 019 name other files. So: where a migration_history exists, in each colliding number the
-- earliest entry keeps it and the others get numbers above every number the ledger holds (name prefixes follow),
-- the changed rows are copied to quarantine first, and a unique number keeps the collision from coming back.
-- Where there is no such ledger there is nothing to repair. (This project's own ledger is dawsos_migrations.ledger.)

-- @up refuse ledger_in_unknown_form when=table:migration_history,!columns:migration_history.id+migration_name+migration_number+executed_at
SELECT 'migration_history lacks one of the columns the repair reads (id, migration_name, migration_number, executed_at)',
       'repair its numbers by hand, or `dawsos migrate adopt 18` once they are unique';

-- @up transaction copy_rows when=table:migration_history,!constraint:migration_history.uq_migration_history_number
INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action)
SELECT '018', 'migration_history', h.id::text, to_jsonb(h), 'renumbered to resolve a colliding migration number', 'copied'
  FROM (SELECT *, row_number() OVER (PARTITION BY migration_number ORDER BY executed_at, migration_name) AS nth
          FROM migration_history) AS h
 WHERE h.nth > 1
   AND NOT EXISTS (SELECT 1 FROM quarantine.row_copies q WHERE q.migration = '018' AND q.row_key = h.id::text
                   AND q.restored_at IS NULL);

-- @up switch renumber when=table:migration_history,!constraint:migration_history.uq_migration_history_number
UPDATE migration_history h
   SET migration_number = r.number, migration_name = regexp_replace(h.migration_name, '^[0-9]+', lpad(r.number::text, 3, '0'))
  FROM (SELECT id, (SELECT max(migration_number) FROM migration_history)
                   + row_number() OVER (ORDER BY migration_number, executed_at, migration_name) AS number
          FROM (SELECT id, migration_number, executed_at, migration_name,
                       row_number() OVER (PARTITION BY migration_number ORDER BY executed_at, migration_name) AS nth
                  FROM migration_history) AS ranked
         WHERE nth > 1) AS r
 WHERE h.id = r.id;
ALTER TABLE migration_history ADD CONSTRAINT uq_migration_history_number UNIQUE (migration_number);

-- @down switch restore_numbers undoes=renumber
ALTER TABLE migration_history DROP CONSTRAINT uq_migration_history_number;
UPDATE migration_history h SET migration_number = r.migration_number, migration_name = r.migration_name
  FROM quarantine.row_copies q, jsonb_populate_record(NULL::migration_history, q.row_data) r
 WHERE q.migration = '018' AND q.restored_at IS NULL AND h.id = r.id;

-- @down switch release_copies undoes=copy_rows
UPDATE quarantine.row_copies SET restored_at = NOW() WHERE migration = '018' AND restored_at IS NULL;
