"""`dawsos migrate restore`: verified before any change, one transaction, the table owner's rights, hostile input."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.errors import DawsosError
from dawsos_assets.migrations.runner import MigrationRunner

from .conftest import run_cli
from .test_migrations import row_hashes, scalar, schema_dump


@pytest.fixture
def backed_up(databases):
    """A demo database at 016 with the backup taken before 016 (orphans still in place)."""
    url = databases.seeded()
    reports = MigrationRunner(url).apply(target=16)
    return url, Path(reports[-1].backup_path)


def unchanged(url: str):
    return (
        schema_dump(url),
        row_hashes(url),
        scalar(url, "SELECT array_agg(version ORDER BY version) FROM dawsos_migrations.ledger"),
    )


def test_restore_puts_the_backup_back_and_keeps_what_it_replaces(backed_up):
    url, dump = backed_up
    assert dump.stat().st_mode & 0o077 == 0 and dump.with_suffix(".json").stat().st_mode & 0o077 == 0
    assert dump.parent.stat().st_mode & 0o077 == 0
    with connection.connect(url) as conn:  # the application wrote a lot after the migration
        conn.execute(
            "INSERT INTO lots (portfolio_id, security_id, symbol, acquisition_date, quantity, cost_basis, "
            "cost_basis_per_share, quantity_original, quantity_open) SELECT portfolio_id, security_id, symbol, "
            "acquisition_date, 1, 1, 1, 1, 1 FROM lots LIMIT 1"
        )
        conn.commit()
    result = MigrationRunner(url, backup=False).restore(dump)
    assert result["version"] == 15
    assert (
        scalar(
            url, "SELECT count(*) FROM lots l WHERE NOT EXISTS (SELECT 1 FROM securities s WHERE s.id = l.security_id)"
        )
        == 4
    )  # the orphans are back
    assert scalar(url, "SELECT count(*) FROM lots WHERE quantity = 1 AND cost_basis = 1") == 0
    assert (
        scalar(
            url,
            "SELECT count(*) FROM quarantine.row_copies WHERE migration = 'restore' AND row_data->>'cost_basis' = '1'",
        )
        == 1
    )  # the new lot is kept, not lost
    assert scalar(url, "SELECT max(version) FROM dawsos_migrations.ledger") == 15
    assert [r.version for r in MigrationRunner(url, backup=False).apply()] == [16, 17, 18, 19]


def test_a_garbage_or_truncated_dump_is_refused_before_anything_changes(backed_up, tmp_path):
    url, dump = backed_up
    before = unchanged(url)
    truncated = tmp_path / dump.name
    truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    shutil.copy(dump.with_suffix(".json"), truncated.with_suffix(".json"))
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"not a dump at all")
    sidecar = json.loads(dump.with_suffix(".json").read_text())
    garbage.with_suffix(".json").write_text(
        json.dumps(sidecar | {"sha256": hashlib.sha256(b"not a dump at all").hexdigest()})
    )
    for bad, expected in ((truncated, "checksum"), (garbage, "pg_restore cannot read")):
        with pytest.raises(DawsosError) as raised:
            MigrationRunner(url, backup=False).restore(bad)
        assert raised.value.code == errors.BACKUP_INVALID and expected in raised.value.message
        assert unchanged(url) == before


@pytest.mark.parametrize(
    "sidecar, problem",
    [
        ("{not json", "not JSON"),
        (
            '{"migration": "016_add_missing_foreign_keys", "tables": ["lots"], "created_at": "x", "sha256": "'
            + "0" * 64
            + '"}',
            "version_before",
        ),
        (
            '{"migration": "016_x", "version_before": 15, "tables": ["pg_authid"], "created_at": "x", "sha256": "'
            + "0" * 64
            + '"}',
            "no migration touches",
        ),
        (
            '{"migration": "016_x", "version_before": 15, "tables": ["lots; DROP TABLE lots"], '
            '"created_at": "x", "sha256": "' + "0" * 64 + '"}',
            "does not match",
        ),
    ],
)
def test_a_bad_sidecar_is_refused_with_a_coded_error(backed_up, tmp_path, sidecar, problem):
    url, dump = backed_up
    before = unchanged(url)
    copy = tmp_path / dump.name
    shutil.copy(dump, copy)
    copy.with_suffix(".json").write_text(sidecar)
    with pytest.raises(DawsosError) as raised:
        MigrationRunner(url, backup=False).restore(copy)
    assert raised.value.code == errors.BACKUP_INVALID and problem in raised.value.message
    assert unchanged(url) == before


def test_a_hostile_file_name_is_data_never_sql(backed_up, tmp_path):
    url, dump = backed_up
    with connection.connect(url) as conn:  # a row written after the backup, which the restore sets aside
        conn.execute(
            "INSERT INTO audit_log (user_id, action, resource_type, resource_id) "
            "VALUES ('00000000-0000-0000-0000-000000000000', 'view', 'portfolio', 'x')"
        )
        conn.commit()
    hostile = tmp_path / "x', 'copied' FROM lots; CREATE TABLE public.pwned (id int); --.dump"
    shutil.copy(dump, hostile)
    shutil.copy(dump.with_suffix(".json"), hostile.with_suffix(".json"))
    assert MigrationRunner(url, backup=False).restore(hostile)["version"] == 15
    assert scalar(url, "SELECT to_regclass('public.pwned') IS NULL")
    # the name went into the set-aside row's reason as a value
    assert (
        scalar(url, "SELECT count(*) FROM quarantine.row_copies WHERE strpos(reason, 'CREATE TABLE public.pwned') > 0")
        == 1
    )


def test_restore_errors_on_the_command_line_are_one_coded_line(backed_up):
    url, _dump = backed_up
    for argument in ("", "/nonexistent/backup.dump"):
        done = run_cli("migrate", "restore", argument, env={connection.URL_ENV: url})
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith("error BACKUP_NOT_FOUND") and len(done.stderr.strip().splitlines()) == 1
