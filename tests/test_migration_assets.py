"""Migrations as Dagster materializations, on a real database, with the instance on PostgreSQL storage."""

from pathlib import Path

import dagster as dg

from dawsos_assets.database import connection
from dawsos_assets.definitions import APPLY_MIGRATIONS_JOB, defs
from dawsos_assets.migrations.backup import restore
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.tables.legacy_assets import legacy_key
from dawsos_assets.tables.table_assets import table_key


def materialized(result) -> dict:
    return {tuple(e.asset_key.path): {k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def test_migration_assets_apply_once_then_report_already_applied(seeded_url):
    prepare_instance()
    job = defs.resolve_job_def(APPLY_MIGRATIONS_JOB)
    with dg.DagsterInstance.get() as instance:
        first = materialized(job.execute_in_process(instance=instance))
        second = materialized(job.execute_in_process(instance=instance))
    migrations = sorted(k for k in first if k[0] == "migrations")
    assert [k[1][:3] for k in migrations] == ["014", "015", "016", "017", "018"]
    assert all(first[k]["status"] == "applied" for k in migrations)
    assert all(second[k]["status"] == "already applied" for k in migrations)
    fk = first[("migrations", "016_add_missing_foreign_keys")]
    assert fk["rows_quarantined"] == 16 and fk["rows_relinked"] == 11
    assert "VALIDATE CONSTRAINT" in fk["statements"] and "SHARE UPDATE EXCLUSIVE" in fk["statements"]
    assert fk["backup_path"].endswith(".dump")
    lots = first[("lots",)]
    assert lots["dagster/row_count"] > 100
    lineage = lots["dagster/column_lineage"].deps_by_column
    assert lineage["quantity_open"][0].asset_key == legacy_key("lots")
    assert lineage["quantity_open"][0].column_name == "qty_open"
    assert {c.name for c in lots["observed_column_schema"].columns} >= {"quantity_open", "quantity_original"}


def test_table_assets_depend_on_the_migrations_that_change_them():
    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string() for key in graph.get(table_key("lots")).parent_keys}
    assert parents == {"legacy/lots", "migrations/014_standardize_quantity_names", "migrations/016_add_missing_foreign_keys"}


def test_restore_puts_the_backup_back(seeded_url, tmp_path):
    runner = MigrationRunner(seeded_url, backup=True)
    reports = runner.apply(target=16)
    backup = reports[-1].backup_path  # taken before 016: orphans still in place
    with connection.connect(seeded_url) as conn:
        orphans_before = conn.execute("SELECT count(*) FROM quarantine.row_copies WHERE migration = '016'").fetchone()[0]
        assert orphans_before == 16
    result = restore(seeded_url, Path(backup), runner.rollback)
    assert result["version"] == 15
    with connection.connect(seeded_url) as conn:
        assert conn.execute("SELECT count(*) FROM lots l WHERE NOT EXISTS "
                            "(SELECT 1 FROM securities s WHERE s.id = l.security_id)").fetchone()[0] == 4
        assert conn.execute("SELECT max(version) FROM dawsos_migrations.ledger").fetchone()[0] == 15
        kept = conn.execute("SELECT count(*) FROM quarantine.row_copies WHERE migration = 'restore'").fetchone()[0]
        assert kept > 0  # the rows the restore replaced are kept
    assert [r.version for r in runner.apply()] == [16, 17, 18]
