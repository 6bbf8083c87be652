"""Layer 1: every Dagster definition loads."""

import dagster as dg

from dawsos_assets.definitions import defs
from dawsos_assets.tables.legacy_assets import LEGACY_TABLES, legacy_key


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    keys = set(repository.asset_graph.get_all_asset_keys())
    assert {legacy_key(table) for table in LEGACY_TABLES} <= keys


def test_every_legacy_asset_is_described_for_the_ui():
    for spec in defs.resolve_all_asset_specs():
        assert spec.description and len(spec.description) > 40, spec.key


def test_every_step_that_talks_to_the_database_is_in_its_pool():
    """The pool caps connections only if every asset and check that uses the database resource sits in it."""
    repository = defs.get_repository_def()
    outside = sorted(
        {
            node.node_def.name
            for node in repository.asset_graph.assets_defs
            if node.is_executable
            and "database" in node.required_resource_keys
            and node.node_def.pool != "portfolio_database"
        }
    )
    assert outside == []
