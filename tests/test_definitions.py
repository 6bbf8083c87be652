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
