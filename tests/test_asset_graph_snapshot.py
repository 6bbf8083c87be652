"""The asset graph and its checks against a committed snapshot, so a change to lineage shows up in review.

After an intended change, regenerate the snapshot and commit it with the change:

    .venv/bin/python -m tests.test_asset_graph_snapshot
"""

import json
from pathlib import Path

import dagster as dg

from dawsos_assets.definitions import defs

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "asset_graph.json"
REGENERATE = ".venv/bin/python -m tests.test_asset_graph_snapshot"


def _partitions(partitions_def) -> str | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return f"static: {', '.join(partitions_def.get_partition_keys())}"
    return str(partitions_def)


def _dep(dep: dg.AssetDep) -> str:
    mapping = f" ({type(dep.partition_mapping).__name__})" if dep.partition_mapping else ""
    return dep.asset_key.to_user_string() + mapping


def asset_graph_snapshot(definitions: dg.Definitions) -> dict:
    """Asset keys with their deps, group and partitions; checks with their blocking flag; jobs, schedules, sensors."""
    repository = definitions.get_repository_def()
    assets = {
        spec.key.to_user_string(): {
            "group": spec.group_name,
            "deps": sorted(_dep(dep) for dep in spec.deps),
            "partitions": _partitions(spec.partitions_def),
        }
        for spec in definitions.resolve_all_asset_specs()
    }
    checks = {
        f"{spec.asset_key.to_user_string()}:{spec.name}": {
            "blocking": spec.blocking,
            "additional_deps": sorted(dep.asset_key.to_user_string() for dep in spec.additional_deps),
        }
        for assets_def in repository.asset_graph.assets_defs
        for spec in assets_def.check_specs
    }
    return {
        "assets": dict(sorted(assets.items())),
        "checks": dict(sorted(checks.items())),
        "jobs": sorted(job.name for job in repository.get_all_jobs() if not job.name.startswith("__")),
        "schedules": {
            s.name: {"job": s.job_name, "cron": s.cron_schedule}
            for s in sorted(repository.schedule_defs, key=lambda s: s.name)
        },
        "sensors": sorted(sensor.name for sensor in repository.sensor_defs),
    }


def render(snapshot: dict) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True) + "\n"


def test_the_asset_graph_matches_its_committed_snapshot():
    committed = json.loads(SNAPSHOT.read_text())
    assert json.loads(render(asset_graph_snapshot(defs))) == committed, (
        f"the asset graph changed; if that is intended, run `{REGENERATE}` and commit tests/snapshots/asset_graph.json"
    )


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(render(asset_graph_snapshot(defs)))
    print(f"wrote {SNAPSHOT}")
