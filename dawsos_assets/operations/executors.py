"""The patterns job's executor: its steps side by side, each in a process forked from the run worker.

A patterns run computes the 13 patterns for every portfolio of its range, one step per pattern, and a step spends
about a quarter of its time waiting on PostgreSQL: over 100 portfolios one after another, 13.6 s of engine work used
10.2 s of CPU; two at a time, on the 2 cores here, the same work took 6–7 s (bench/pipeline.py measures both).
Dagster's multiprocess executor runs steps side by side, but starts each one either as a new interpreter (`spawn`:
importing Dagster, pandas and this project again, about 2.6 s a step) or from a forkserver that pays that start once
per run. Forked from the run worker, which already holds all of it (itself forked from the launcher's preloaded
process), a step process is ready in about 0.2 s.
"""

from __future__ import annotations

import threading

import dagster as dg
from dagster._core.definitions.executor_definition import get_step_dependency_config_field
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor import child_process_executor
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.multiprocess import MultiprocessExecutor

# How long the executor waits on a step process that has no event to hand over before it turns to the next one.
# Dagster's 20 ms makes a step that finished its work while another computes hand its ~115 events (one per
# portfolio, then its checks) to the run at one per 20 ms: over 2 s in which its process cannot exit and the next
# step cannot start. At 1 ms that is about 0.1 s.
STEP_EVENT_POLL_S = 0.001


def _forking_is_safe() -> bool:
    """A fork copies only the calling thread: a lock another thread holds at that moment (a logging handler's, a
    connection pool's) stays locked forever in the step process. Run workers run no other thread; a script or a test
    process that starts a run may.
    """
    return threading.active_count() == 1


@dg.executor(
    name="forked_steps",
    config_schema={
        "max_concurrent": dg.Field(
            dg.Noneable(int),
            default_value=None,
            description="Steps at once; by default the number of CPUs (as Dagster's multiprocess executor). "
            "With 1 the steps run one after another in the run's own process.",
        ),
        "retries": get_retries_config(),
        "step_dependency_config": get_step_dependency_config_field(),
    },
    requirements=dg.multiple_process_executor_requirements(),
)
def forked_steps(init_context: dg.InitExecutorContext):
    """Dagster's multiprocess executor with its step processes forked from the run worker. One step at a time, or
    where this process runs other threads (a fork would leave their locks held), the steps run in this process.
    """
    config = init_context.executor_config
    retries = RetryMode.from_config(config["retries"])
    dependencies = StepDependencyConfig.from_config(config.get("step_dependency_config"))
    if config["max_concurrent"] == 1 or not _forking_is_safe():
        return InProcessExecutor(retries=retries, step_dependency_config=dependencies)
    child_process_executor.TICK = STEP_EVENT_POLL_S
    return MultiprocessExecutor(
        retries=retries,
        max_concurrent=config["max_concurrent"],
        start_method="fork",
        step_dependency_config=dependencies,
    )
