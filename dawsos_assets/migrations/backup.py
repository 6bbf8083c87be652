"""Pre-migration backups with pg_dump (custom format), and reading one back safely for `dawsos migrate restore`.

A backup is a dump of the tables a migration touches plus a JSON sidecar: the migration, the version the dump
belongs to, its tables and the dump's SHA-256. Nothing in a backup is trusted before it is checked: the sidecar
against a schema (known tables only), the dump against its checksum and `pg_restore --list`, and the table data
is parsed from pg_restore's own output, never pasted into SQL. Files are readable by their owner only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import psycopg

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.database.server import home_dir, postgres_binary
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations.files import Migration, load_all

SIDECAR_SCHEMA = {
    "type": "object",
    "required": ["migration", "version_before", "tables", "created_at", "sha256"],
    "properties": {
        "migration": {"type": "string", "pattern": "^[0-9]{3}_[a-z0-9_]+$"},
        "version_before": {"type": "integer", "minimum": 0},
        "tables": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$"},
        },
        "created_at": {"type": "string", "maxLength": 40},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
}
_COPY = re.compile(r'^COPY public\.("?)([a-z_][a-z0-9_]*)\1 \(([^)]*)\) FROM stdin;$')


def backup_dir() -> Path:
    """Folder of the pre-migration backups, created private to the user."""
    path = home_dir() / "backups"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def table_schemas(conn: psycopg.Connection, tables: list[str]) -> dict[str, list[str]]:
    """'column type' per touched table, for the before/after schema in a materialization's metadata."""
    result = {}
    for table in tables:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        result[table] = [f"{name} {kind}" for name, kind in rows]
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private(path: Path, text: str | None = None) -> None:
    if text is not None:
        path.write_text(text)
    path.chmod(0o600)


def backup_tables(url: str, migration: Migration, version_before: int, conn: psycopg.Connection) -> str | None:
    """Dump the tables a migration touches that exist here; the sidecar records the version and the checksum."""
    tables = [
        t
        for t in migration.touches
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{t}",)).fetchone()[0]
    ]
    if not tables:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir() / f"{stamp}_before_{migration.label}.dump"
    # Bounded like every other wait of a migration: a table held by a long transaction fails the backup, not hangs it.
    command = [
        postgres_binary("pg_dump"),
        "--format=custom",
        "--no-owner",
        "--lock-wait-timeout=10000",
        "--file",
        str(target),
    ]
    for table in tables:
        command += ["--table", f"public.{table}"]
    target_url, environment = connection.client_arguments(url)
    old_umask = os.umask(0o077)
    try:
        result = subprocess.run(command + [target_url], capture_output=True, text=True, timeout=3600, env=environment)  # noqa: S603 — pg_dump from the embedded server's binaries; the URL is the configured database
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        raise DawsosError(
            errors.BACKUP_FAILED,
            f"pg_dump before {migration.label} failed: "
            f"{result.stderr.strip().splitlines()[-1][:300] if result.stderr.strip() else 'no message'}",
            "check free disk space under the backups folder, or run with --no-backup deliberately",
        )
    _private(target)
    sidecar = {
        "migration": migration.label,
        "version_before": version_before,
        "tables": tables,
        "created_at": stamp,
        "sha256": _sha256(target),
    }
    _private(target.with_suffix(".json"), json.dumps(sidecar, indent=2))
    return str(target)


@dataclass
class Backup:
    """A backup read back: the version it was taken at and each table's COPY data."""

    path: Path
    version_before: int
    tables: list[str]
    data: dict[str, tuple[list[str], list[str]]]  # table -> (columns, COPY text lines)


def _refuse(message: str, suggestion: str = "use another backup from the backups folder") -> DawsosError:
    return DawsosError(errors.BACKUP_INVALID, message, suggestion)


def _sidecar(dump: Path) -> dict:
    if not dump.name or not dump.is_file() or not dump.with_suffix(".json").is_file():
        raise DawsosError(
            errors.BACKUP_NOT_FOUND,
            f"no backup at {str(dump)[:200]!r} (a .dump file with its .json sidecar)",
            f"list the backups in {backup_dir()}",
        )
    try:
        sidecar = json.loads(dump.with_suffix(".json").read_text())
        jsonschema.validate(sidecar, SIDECAR_SCHEMA)
    except (ValueError, jsonschema.ValidationError) as exc:
        reason = exc.message if isinstance(exc, jsonschema.ValidationError) else "it is not JSON"
        raise _refuse(f"the sidecar of {dump.name[:120]} is not a backup description ({reason[:160]})") from None
    known = {t for m in load_all() for t in m.touches}
    unknown = sorted(set(sidecar["tables"]) - known)
    if unknown:
        raise _refuse(f"the sidecar of {dump.name[:120]} names tables no migration touches: {unknown[:5]}")
    return sidecar


def _copy_blocks(dump: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Each table's COPY data, as pg_restore itself prints it."""
    printed = subprocess.run(  # noqa: S603 — pg_restore from the embedded server's binaries on a dump this module wrote
        [postgres_binary("pg_restore"), "--data-only", "--file", "-", str(dump)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if printed.returncode != 0:
        raise _refuse(f"pg_restore cannot read {dump.name[:120]}: {printed.stderr.strip()[:200]}")
    blocks, current = {}, None
    for line in printed.stdout.split("\n"):  # COPY text escapes newlines; other separators are data
        if current is not None:
            if line == "\\.":
                current = None
            else:
                blocks[current][1].append(line)
            continue
        match = _COPY.match(line)
        if match:
            current = match.group(2)
            blocks[current] = ([c.strip().strip('"') for c in match.group(3).split(",")], [])
    return blocks


def read_backup(dump: Path) -> Backup:
    """The backup, verified before anything is changed: sidecar, checksum, and exactly the tables it claims."""
    sidecar = _sidecar(dump)
    if _sha256(dump) != sidecar["sha256"]:
        raise _refuse(f"{dump.name[:120]} does not match the checksum its sidecar recorded (truncated or altered)")
    listed = subprocess.run(  # noqa: S603 — pg_restore from the embedded server's binaries on a dump this module wrote
        [postgres_binary("pg_restore"), "--list", str(dump)], capture_output=True, text=True, timeout=600
    )
    if listed.returncode != 0:
        raise _refuse(f"pg_restore cannot read {dump.name[:120]}: {listed.stderr.strip()[:200]}")
    data = _copy_blocks(dump)
    if set(data) != set(sidecar["tables"]):
        raise _refuse(f"{dump.name[:120]} holds data for {sorted(data)}, its sidecar says {sidecar['tables']}")
    return Backup(dump, sidecar["version_before"], sidecar["tables"], data)
