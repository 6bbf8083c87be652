"""Migrations as Dagster materializations, on a real database, with the instance on PostgreSQL storage."""

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.definitions import APPLY_MIGRATIONS_JOB, defs
from dawsos_assets.migrations.assets import build_migration_assets
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.tables.legacy_assets import legacy_key
from dawsos_assets.tables.table_assets import table_key

from .test_migrations import scalar


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
    assert [k[1][:3] for k in migrations] == ["014", "015", "016", "017", "018", "019"]
    assert [first[k]["status"] for k in migrations] == ["applied"] * 4 + ["adopted", "applied"]
    assert all(second[k]["status"] == "already applied" for k in migrations)
    fk = first[("migrations", "016_add_missing_foreign_keys")]
    assert fk["rows_quarantined"] == 16 and fk["rows_relinked"] == 11
    assert "validate_foreign_keys" in fk["statements"] and "SHARE UPDATE EXCLUSIVE" in fk["statements"]
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


def _migrate_through_dagster(url: str, run_config: dict | None = None):
    return dg.materialize(build_migration_assets(), resources={"database": PortfolioDatabase(url=url)},
                          run_config=run_config or {}, instance=dg.DagsterInstance.ephemeral())


def test_orphan_policy_precedence_on_the_dagster_path(databases, monkeypatch):
    """Run config first, then DAWSOS_ORPHAN_POLICY, then the default: the same precedence as the CLI."""
    monkeypatch.setenv("DAWSOS_ORPHAN_POLICY", "quarantine")
    from_environment, from_run_config = databases.seeded(), databases.seeded()
    lots = scalar(from_environment, "SELECT count(*) FROM lots")
    assert _migrate_through_dagster(from_environment).success
    assert scalar(from_environment, "SELECT count(*) FROM lots") == lots - 4  # the orphans were moved out
    config = {"ops": {"migrations__016_add_missing_foreign_keys": {"config": {"orphan_policy": "placeholder"}}}}
    assert _migrate_through_dagster(from_run_config, config).success
    assert scalar(from_run_config, "SELECT count(*) FROM lots") == lots  # relinked, as the run config said
