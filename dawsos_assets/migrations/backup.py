"""Pre-migration backups with pg_dump (custom format) and `dawsos migrate restore`."""

from __future__ import annotations

import json
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from dawsos_assets import errors
from dawsos_assets.database.server import home_dir, postgres_binary
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations.files import Migration


def backup_dir() -> Path:
    path = home_dir() / "backups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def table_schemas(conn: psycopg.Connection, tables: list[str]) -> dict[str, list[str]]:
    """'column type' per touched table, for the before/after schema in a materialization's metadata."""
    result = {}
    for table in tables:
        rows = conn.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' "
                            "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
        result[table] = [f"{name} {kind}" for name, kind in rows]
    return result


def backup_tables(url: str, migration: Migration, version_before: int, conn: psycopg.Connection) -> str | None:
    """Dump the tables a migration touches that exist here; a JSON sidecar records the version the dump belongs to."""
    tables = [t for t in migration.touches
              if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{t}",)).fetchone()[0]]
    if not tables:
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir() / f"{stamp}_before_{migration.label}.dump"
    command = [postgres_binary("pg_dump"), "--format=custom", "--no-owner", "--file", str(target)]
    for table in tables:
        command += ["--table", f"public.{table}"]
    result = subprocess.run(command + [url], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise DawsosError(errors.BACKUP_FAILED, f"pg_dump before {migration.label} failed: {result.stderr.strip()[:300]}",
                          "check free disk space under .dawsos/backups, or run with --no-backup deliberately")
    sidecar = {"migration": migration.label, "version_before": version_before, "tables": tables, "created_at": stamp}
    target.with_suffix(".json").write_text(json.dumps(sidecar, indent=2))
    return str(target)


def restore(url: str, dump: Path, rollback) -> dict:
    """Put a backup back: roll the schema back to the dump's version, set the current rows aside in quarantine,
    then load the dumped rows, all in one transaction. `rollback(version)` is the runner's rollback."""
    sidecar_path = dump.with_suffix(".json")
    if not dump.exists() or not sidecar_path.exists():
        raise DawsosError(errors.BACKUP_NOT_FOUND, f"no backup at {dump} (with its .json sidecar)",
                          f"list the backups in {backup_dir()}")
    sidecar = json.loads(sidecar_path.read_text())
    rollback(sidecar["version_before"])
    with tempfile.TemporaryDirectory() as scratch:
        data_sql = Path(scratch) / "data.sql"
        dumped = subprocess.run([postgres_binary("pg_restore"), "--data-only", "--disable-triggers", "--file",
                                 str(data_sql), str(dump)], capture_output=True, text=True, timeout=3600)
        if dumped.returncode != 0:
            raise DawsosError(errors.BACKUP_FAILED, f"pg_restore could not read {dump.name}: {dumped.stderr.strip()[:300]}",
                              "the file may be truncated; use an earlier backup")
        prelude = Path(scratch) / "prelude.sql"
        lines = ["SET session_replication_role = replica;"]
        for table in sidecar["tables"]:
            lines.append("INSERT INTO quarantine.row_copies (migration, source_table, row_key, row_data, reason, action) "
                         f"SELECT 'restore', '{table}', ctid::text, to_jsonb(t), 'replaced by restore of {dump.name}', 'copied' "
                         f"FROM public.{table} t;")
            lines.append(f"DELETE FROM public.{table};")
        prelude.write_text("\n".join(lines) + "\n")
        loaded = subprocess.run([postgres_binary("psql"), "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                                 "-q", "-f", str(prelude), "-f", str(data_sql), url],
                                capture_output=True, text=True, timeout=3600)
        if loaded.returncode != 0:
            raise DawsosError(errors.BACKUP_FAILED, f"restoring {dump.name} failed and was rolled back: "
                              f"{loaded.stderr.strip()[:300]}", "nothing changed; check the server log")
    return {"restored": str(dump), "version": sidecar["version_before"], "tables": sidecar["tables"]}
