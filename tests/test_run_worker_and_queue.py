"""A run worker builds the definitions once, the run queue is read every half second, and a step's portfolios share
their reference data (read once per step)."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml
from dagster._daemon.controller import create_daemon_of_type
from dagster._daemon.run_coordinator import QueuedRunCoordinatorDaemon
from dagster._serdes import ConfigurableClassData

from dawsos_assets.database import connection
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.operations.launcher import PreloadingRunCoordinator
from dawsos_assets.patterns.assets import PREVIEW_CHARS, run_batch
from dawsos_assets.patterns.engine import PatternEngine
from dawsos_assets.patterns.loader import load, load_all
from dawsos_assets.patterns.portfolios import portfolio_keys
from dawsos_assets.patterns.registry import default_registry

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# In a fresh interpreter, as a run worker does: load the job by the code location's module and attribute.
RUN_WORKER = r"""
import dawsos_assets.definitions as module
from dagster._core.definitions.reconstruct import ReconstructableRepository
builds = []
original = module.build_defs
module.build_defs = lambda *a, **k: builds.append(1) or original(*a, **k)
ReconstructableRepository.for_module("dawsos_assets.definitions", "load_definitions", ".").get_definition()
print(len(builds), "defs" in vars(module))
"""


def test_a_run_worker_builds_the_definitions_once():
    done = subprocess.run(
        [sys.executable, "-c", RUN_WORKER], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "False"]


def test_the_daemon_reads_the_run_queue_every_half_second(seeded_url):
    prepare_instance()
    with dg.DagsterInstance.get() as instance:
        assert create_daemon_of_type(QueuedRunCoordinatorDaemon.daemon_type(), instance).interval_seconds == 0.5


def test_a_queue_interval_set_in_dagster_yaml_is_the_one_used():
    config = {"dequeue_interval_seconds": 3}
    inst_data = ConfigurableClassData(
        PreloadingRunCoordinator.__module__, "PreloadingRunCoordinator", yaml.dump(config)
    )
    assert PreloadingRunCoordinator.from_config_value(inst_data, config).dequeue_interval_seconds == 3


class CountingConnection:
    """The real connection, with the statements it was asked to run written down."""

    def __init__(self, conn):
        self._conn, self.statements = conn, []

    def execute(self, query, *args, **kwargs):
        self.statements.append(str(query))
        return self._conn.execute(query, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_a_steps_portfolios_read_the_reference_data_once(migrated_url):
    """DaR stresses every scenario of the library for every portfolio: the library, the pack and the FX rates are
    read once for the step, each portfolio's betas once."""
    with connection.connect(migrated_url) as conn:
        keys = portfolio_keys(conn)
        counting = CountingConnection(conn)
        run_batch(counting, PatternEngine(default_registry()), load("portfolio_scenario_analysis"), keys, "batch-test")
    reads = {
        table: sum(f"FROM {table}" in s for s in counting.statements)
        for table in ("scenario_shocks", "pricing_packs", "fx_rates", "position_factor_betas")
    }
    assert reads == {"scenario_shocks": 1, "pricing_packs": 1, "fx_rates": 1, "position_factor_betas": len(keys)}


def _previews(conn, pattern_id: str) -> list[tuple[str, dict]]:
    """(preview text, result data) of every portfolio of one batch."""
    from dawsos_assets.patterns.assets import _metadata

    outcomes = run_batch(conn, PatternEngine(default_registry()), load(pattern_id), portfolio_keys(conn), "batch-test")
    return [
        (_metadata(o)["preview"].value.removeprefix("```json\n").removesuffix("\n```"), o.result.data)
        for o in outcomes.values()
    ]


def test_a_partitions_preview_cuts_each_list_to_its_first_three_items(migrated_url):
    """Each partition's metadata has a preview of the result's shape with each list cut to its first three items."""
    with connection.connect(migrated_url) as conn:
        text, data = _previews(conn, "holding_deep_dive")[0]
    preview = json.loads(text)
    long_lists = [
        (key, inner, value)
        for key, section in data.items()
        if isinstance(section, dict)
        for inner, value in section.items()
        if isinstance(value, list) and len(value) > 3
    ]
    assert long_lists
    for key, inner, value in long_lists:
        assert len(preview[key][inner]) == 4 and preview[key][inner][3] == f"… {len(value) - 3} more"


def test_every_patterns_preview_is_whole_json_within_its_size(migrated_url):
    """Cut at 4,000 characters, an abridged result was broken JSON for 6 of the 13 patterns; the preview now nests
    only as deep as fits."""
    with connection.connect(migrated_url) as conn:
        previews = {pattern_id: _previews(conn, pattern_id)[0] for pattern_id in load_all()}
    for pattern_id, (text, data) in previews.items():
        assert len(text) <= PREVIEW_CHARS, pattern_id
        assert set(json.loads(text)) == set(data), pattern_id
