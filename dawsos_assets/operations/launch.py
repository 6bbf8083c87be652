"""Runs started from the command line (`dawsos demo`) as runs of the code location the web UI serves.

A run made by `execute_in_process` carries no code-location origin: the Jobs page and the timeline (which list a
job's runs by their repository label) never show it, and the location's run-status sensors (the Slack alerts) skip
it. Here the run is created on the instance for the job of the location workspace.yaml declares — with the origin
`dagster job launch` gives it — and executed in this process as a run worker executes a launched run, so a demo run
costs no new process and no import of the code (about 2.6 s each), while the UI, the sensors and a re-execution
treat it as any other run of the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._core.workspace.load_target import WorkspaceFileTarget

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE_FILE = PROJECT_ROOT / "workspace.yaml"
DEFINITIONS_ATTRIBUTE = "defs"  # the Definitions object of the workspace's module
REPOSITORY_NAME = "__repository__"  # the one repository a Definitions object makes


def code_location_origin():
    """The code location as workspace.yaml declares it: the same origin the web server and the daemon hold, read
    from the file without starting its code server.
    """
    [origin] = WorkspaceFileTarget([str(WORKSPACE_FILE)]).create_origins()
    return origin


def remote_job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin of job `job_name` in the project's code location, for launching it on the instance."""
    return RemoteJobOrigin(RemoteRepositoryOrigin(code_location_origin(), REPOSITORY_NAME), job_name)


def reconstructable_job(job_name: str):
    """The job as a run worker loads it: by module and attribute, so the run records how to load it again."""
    target = code_location_origin().loadable_target_origin
    repository = ReconstructableRepository.for_module(
        target.module_name,
        target.attribute or DEFINITIONS_ATTRIBUTE,
        str(PROJECT_ROOT / (target.working_directory or ".")),
    )
    return repository.get_reconstructable_job(job_name)


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """One run over the partitions first…last (assets with a single-run backfill policy)."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def create_run(
    instance: dg.DagsterInstance,
    job_name: str,
    *,
    run_config: Mapping | None = None,
    tags: Mapping[str, str] | None = None,
) -> dg.DagsterRun:
    """A new run of `job_name` attributed to the code location, as the web server creates one before launching."""
    from dawsos_assets.definitions import defs

    job_def = defs.resolve_job_def(job_name)
    return instance.create_run_for_job(
        job_def,
        run_config=run_config,
        tags={**job_def.tags, **(tags or {})},
        remote_job_origin=remote_job_origin(job_name),
        job_code_origin=reconstructable_job(job_name).get_python_origin(),
    )


def run_job(
    instance: dg.DagsterInstance,
    job_name: str,
    *,
    run_config: Mapping | None = None,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = False,
) -> JobExecutionResult:
    """Create a run of `job_name` attributed to the code location and execute it here; returns its result (the
    events are in the instance's event log as well). A failed step fails the run; with `raise_on_error` its error
    is raised too.
    """
    run = create_run(instance, job_name, run_config=run_config, tags=tags)
    return execute_run(reconstructable_job(job_name), run, instance, raise_on_error=raise_on_error)
