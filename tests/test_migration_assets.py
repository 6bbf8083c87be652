"""Migrations in Dagster, on a real database, with the instance on PostgreSQL storage: applied only by the job
apply_migrations (a materialization with the statements in full), observed when already applied, never by
materializing assets."""

import dagster as dg

from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.definitions import APPLY_MIGRATIONS_JOB, defs
from dawsos_assets.migrations.assets import build_apply_migrations_job, migration_key
from dawsos_assets.migrations.files import load_all
from dawsos_assets.migrations.runner import MigrationRunner
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.tables.legacy_assets import legacy_key
from dawsos_assets.tables.table_assets import build_table_asset, table_key

from .test_migrations import scalar


def materialized(result) -> dict:
    return {
        tuple(e.asset_key.path): {k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }


def observed(result) -> dict:
    return {
        tuple(e.asset_key.path): {
            k: getattr(v, "value", v) for k, v in e.asset_observation_data.asset_observation.metadata.items()
        }
        for e in result.get_asset_observation_events()
    }


def test_migrations_apply_once_then_are_observed_as_already_applied(seeded_url):
    prepare_instance()
    job = defs.resolve_job_def(APPLY_MIGRATIONS_JOB)
    with dg.DagsterInstance.get() as instance:
        first_run = job.execute_in_process(instance=instance)
        second_run = job.execute_in_process(instance=instance)
        latest = instance.fetch_materializations(migration_key(load_all()[2]), limit=1).records[0]
        lots = materialized(
            dg.materialize(
                [build_table_asset("lots")],
                instance=instance,
                resources={"database": PortfolioDatabase(url=seeded_url)},
            )
        )[("lots",)]
    first = materialized(first_run)
    migrations = sorted(k for k in first if k[0] == "migrations")
    assert [k[1][:3] for k in migrations] == ["014", "015", "016", "017", "018", "019"]
    assert [first[k]["status"] for k in migrations] == ["applied"] * 4 + ["adopted", "applied"]
    assert materialized(second_run) == {}  # a re-run hides nothing: it observes
    second = observed(second_run)
    assert sorted(second) == migrations and all(second[k]["status"] == "already applied" for k in migrations)
    assert latest.run_id == first_run.run_id  # the asset page still shows the real change's figures
    fk = first[("migrations", "016_add_missing_foreign_keys")]
    assert fk["rows_quarantined"] == 16 and fk["rows_relinked"] == 11
    assert "validate_foreign_keys" in fk["statements"] and "SHARE UPDATE EXCLUSIVE" in fk["statements"]
    assert fk["backup_path"].endswith(".dump")
    lineage = lots["dagster/column_lineage"].deps_by_column
    assert lineage["quantity_open"][0].asset_key == legacy_key("lots")
    assert lineage["quantity_open"][0].column_name == "qty_open"
    assert {c.name for c in lots["observed_column_schema"].columns} >= {"quantity_open", "quantity_original"}


def test_migration_statements_are_recorded_in_full(databases):
    url = databases.seeded()
    result = _migrate_through_dagster(url)
    reports = {
        e.asset_key.path[1]: e.step_materialization_data.materialization.metadata["statements"].value
        for e in result.get_asset_materialization_events()
    }
    direct = MigrationRunner(databases.seeded(), backup=False).apply()  # the same state: the same statements
    statements = [(r.name, s.sql) for r in direct for step in r.steps for s in step.statements]
    assert max(len(sql) for _, sql in statements) > 500  # long ones exist, and none is cut
    for name, sql in statements:
        assert f"```sql\n{sql}\n```" in next(text for label, text in reports.items() if label.endswith(name))


def test_materialize_all_never_applies_a_pending_migration(seeded_url):
    """What "Materialize all" in the UI launches: every materializable asset. Migrations are not among them, carry
    no automation condition, and after the run every migration is still pending."""
    graph = defs.resolve_asset_graph()
    migration_keys = {migration_key(m) for m in load_all()}
    assert migration_keys <= graph.get_all_asset_keys()
    assert not migration_keys & graph.materializable_asset_keys
    assert all(graph.get(key).automation_condition is None for key in migration_keys)
    everything = [key for key in graph.materializable_asset_keys if not graph.get(key).partitions_def]
    with dg.instance_for_test() as instance:
        defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=everything, raise_on_error=False
        )
    assert {m["state"] for m in MigrationRunner(seeded_url, backup=False).status()} == {"pending"}
    assert (
        scalar(
            seeded_url,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'lots' AND column_name = 'qty_open'",
        )
        == 1
    )


def test_table_assets_depend_on_the_migrations_that_change_them():
    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string() for key in graph.get(table_key("lots")).parent_keys}
    assert parents == {
        "legacy/lots",
        "migrations/014_standardize_quantity_names",
        "migrations/016_add_missing_foreign_keys",
    }


def _migrate_through_dagster(url: str, run_config: dict | None = None):
    return build_apply_migrations_job().execute_in_process(
        resources={"database": PortfolioDatabase(url=url)},
        run_config=run_config or {},
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_orphan_policy_precedence_on_the_dagster_path(databases, monkeypatch):
    """Run config first, then DAWSOS_ORPHAN_POLICY, then the default: the same precedence as the CLI."""
    monkeypatch.setenv("DAWSOS_ORPHAN_POLICY", "quarantine")
    from_environment, from_run_config = databases.seeded(), databases.seeded()
    lots = scalar(from_environment, "SELECT count(*) FROM lots")
    assert _migrate_through_dagster(from_environment).success
    assert scalar(from_environment, "SELECT count(*) FROM lots") == lots - 4  # the orphans were moved out
    config = {"ops": {"apply_016_add_missing_foreign_keys": {"config": {"orphan_policy": "placeholder"}}}}
    assert _migrate_through_dagster(from_run_config, config).success
    assert scalar(from_run_config, "SELECT count(*) FROM lots") == lots  # relinked, as the run config said
