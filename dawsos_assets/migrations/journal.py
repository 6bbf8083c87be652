"""The migration bookkeeping schema: ledger, history, journal, quarantine, and the helpers migrations call.

The ledger says which migrations are done (applied, or adopted when the database already had their target);
the journal says, step by step, what a migration changed and how to undo it — written in the same transaction as
the change, so a run killed at any point can be resumed or rolled back from what it really did.
"""

from __future__ import annotations

import json

import psycopg

LEDGER_SCHEMA = "dawsos_migrations"
POLICY_STEP = "@policy"

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {LEDGER_SCHEMA};
CREATE TABLE IF NOT EXISTS {LEDGER_SCHEMA}.ledger (
    version INT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    duration_ms NUMERIC NOT NULL,
    applied_by TEXT NOT NULL,
    details JSONB NOT NULL DEFAULT '{{}}'
);
ALTER TABLE {LEDGER_SCHEMA}.ledger ADD COLUMN IF NOT EXISTS status TEXT NOT NULL DEFAULT 'applied';
CREATE TABLE IF NOT EXISTS {LEDGER_SCHEMA}.history (
    id BIGSERIAL PRIMARY KEY,
    version INT NOT NULL,
    name TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('up', 'down', 'adopt')),
    finished_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    duration_ms NUMERIC NOT NULL,
    applied_by TEXT NOT NULL,
    details JSONB NOT NULL DEFAULT '{{}}'
);
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '{LEDGER_SCHEMA}.history'::regclass
                   AND conname = 'history_direction_check' AND pg_get_constraintdef(oid) LIKE '%adopt%') THEN
        ALTER TABLE {LEDGER_SCHEMA}.history DROP CONSTRAINT IF EXISTS history_direction_check;
        ALTER TABLE {LEDGER_SCHEMA}.history ADD CONSTRAINT history_direction_check
            CHECK (direction IN ('up', 'down', 'adopt'));
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS {LEDGER_SCHEMA}.journal (
    id BIGSERIAL PRIMARY KEY,
    version INT NOT NULL,
    step TEXT NOT NULL,
    inverse TEXT,
    detail JSONB NOT NULL DEFAULT '{{}}',
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE UNIQUE INDEX IF NOT EXISTS journal_one_entry_per_file_step ON {LEDGER_SCHEMA}.journal (version, step)
    WHERE inverse IS NULL;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE TABLE IF NOT EXISTS quarantine.row_copies (
    id BIGSERIAL PRIMARY KEY,
    migration TEXT NOT NULL,
    source_table TEXT NOT NULL,
    row_key TEXT NOT NULL,
    row_data JSONB NOT NULL,
    reason TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('relinked', 'moved', 'copied')),
    audited BOOLEAN NOT NULL DEFAULT FALSE,
    quarantined_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    restored_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS idx_row_copies_migration ON quarantine.row_copies (migration, source_table, row_key);
CREATE OR REPLACE FUNCTION {LEDGER_SCHEMA}.copy_grants(source regclass, target regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g record;
BEGIN
    -- A table that replaces or mirrors another is usable by exactly the roles that could use the original.
    FOR g IN SELECT a.grantee, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.oid = source AND a.grantee <> c.relowner LOOP
        EXECUTE format('GRANT %s ON %s TO %s', g.privilege_type, target,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END);
    END LOOP;
END $$;
CREATE OR REPLACE FUNCTION {LEDGER_SCHEMA}.grant_usage_like(source name, target name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g record;
BEGIN
    FOR g IN SELECT a.grantee FROM pg_namespace n, aclexplode(n.nspacl) a
              WHERE n.nspname = source AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', target,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END);
    END LOOP;
END $$;
CREATE OR REPLACE FUNCTION {LEDGER_SCHEMA}.validate_foreign_keys(target regclass, column_name name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c record;
BEGIN
    -- Whatever the key is called (ours, or one the team added NOT VALID), validate it.
    FOR c IN SELECT conname FROM pg_constraint
              WHERE conrelid = target AND contype = 'f' AND NOT convalidated
                AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = target AND attname = column_name)]
    LOOP
        EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', target, c.conname);
    END LOOP;
END $$;
CREATE OR REPLACE FUNCTION {LEDGER_SCHEMA}.set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := NOW();
    RETURN NEW;
END $$
"""  # noqa: S608 — LEDGER_SCHEMA is a module constant


EXPECTED_COLUMNS = {
    f"{LEDGER_SCHEMA}.ledger": {
        "version",
        "name",
        "checksum",
        "applied_at",
        "duration_ms",
        "applied_by",
        "details",
        "status",
    },
    f"{LEDGER_SCHEMA}.history": {"version", "name", "direction", "finished_at", "duration_ms", "applied_by", "details"},
    f"{LEDGER_SCHEMA}.journal": {"id", "version", "step", "inverse", "detail", "recorded_at"},
    "quarantine.row_copies": {
        "id",
        "migration",
        "source_table",
        "row_key",
        "row_data",
        "reason",
        "action",
        "audited",
        "quarantined_at",
        "restored_at",
    },
}


def record(cur, version: int, step: str, inverse: str | None = None, detail: dict | None = None) -> None:
    """One journal entry; a file step is recorded once however often it runs (batches, resumed runs)."""
    cur.execute(
        f"INSERT INTO {LEDGER_SCHEMA}.journal (version, step, inverse, detail) VALUES (%s, %s, %s, %s) "  # noqa: S608 — LEDGER_SCHEMA is a module constant
        "ON CONFLICT (version, step) WHERE inverse IS NULL DO NOTHING",
        (version, step, inverse, json.dumps(detail or {})),
    )


def entries(conn: psycopg.Connection, version: int) -> list[tuple[int, str, str | None, dict]]:
    """(id, step, inverse, detail) of a migration, oldest first."""
    if not exists(conn):
        return []
    return conn.execute(
        f"SELECT id, step, inverse, detail FROM {LEDGER_SCHEMA}.journal WHERE version = %s ORDER BY id",  # noqa: S608 — LEDGER_SCHEMA is a module constant
        (version,),
    ).fetchall()


def started_versions(conn: psycopg.Connection) -> set[int]:
    """The versions that have journal entries (started, maybe not finished)."""
    if not exists(conn):
        return set()
    return {v for (v,) in conn.execute(f"SELECT DISTINCT version FROM {LEDGER_SCHEMA}.journal")}  # noqa: S608 — LEDGER_SCHEMA is a module constant


def recorded_policy(conn: psycopg.Connection, version: int) -> str | None:
    """The orphan policy a migration recorded when it started, if any."""
    for _id, step, _inverse, detail in entries(conn, version):
        if step == POLICY_STEP:
            return detail.get("policy")
    return None


def exists(conn: psycopg.Connection) -> bool:
    """True when the journal table exists."""
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{LEDGER_SCHEMA}.journal",)).fetchone()[0]
