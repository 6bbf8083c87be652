"""The executor of runs with heavy steps: their steps side by side, each in a process forked from the run worker.

A patterns run computes the 13 patterns for every portfolio of its range, one step per pattern, and a step spends
about a quarter of its time waiting on PostgreSQL: over 100 portfolios one after another, 13.6 s of engine work used
10.2 s of CPU; two at a time, on the 2 cores here, the same work took 6–7 s (bench/pipeline.py measures both).
Dagster's multiprocess executor runs steps side by side, but starts each one either as a new interpreter (`spawn`:
importing Dagster, pandas and this project again, about 2.6 s a step) or from a forkserver that pays that start once
per run. Forked from the run worker, which already holds all of it (itself forked from the launcher's preloaded
process), a step process is ready in 0.2–0.3 s.

It is the `patterns` job's executor and the default of the code location (Definitions(executor=…)): the runs
Dagster makes for asset backfills, automation and "Materialize" in the UI use it too.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.executor_definition import get_step_dependency_config_field
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor import child_process_executor, multiprocess
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.multiprocess import MultiprocessExecutor

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError, shown

# How long the executor waits on a step process that has no event to hand over before it turns to the next one.
# Dagster's 20 ms makes a step that finished its work while another computes hand its ~115 events (one per
# portfolio, then its checks) to the run at one per 20 ms: over 2 s in which its process cannot exit and the next
# step cannot start. At 1 ms that is about 0.1 s.
STEP_EVENT_POLL_S = 0.001
MAX_CONCURRENT_ENV = "DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT"  # Dagster's own override of the CPU count
PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies (Linux)


def steps_at_once(count: int) -> dict:
    """The run config that runs `count` steps at a time (1: one after another in the run's own process)."""
    return {"execution": {"config": {"max_concurrent": count}}}


class RestingActiveExecution(ActiveExecution):
    """Dagster's multiprocess loop asks for runnable steps again at once when none is ready and none is running
    (every step waiting out a retry delay or for a pool slot another run holds): it spins a whole core for the
    wait. Here it sleeps until the next step can be ready, as Dagster's in-process loop does.
    """

    def get_steps_to_execute(self, limit: int | None = None):
        """The runnable steps; when there are none and none runs, after sleeping until one may be."""
        steps = super().get_steps_to_execute(limit)
        if not steps and not self._in_flight:
            self.sleep_til_ready()
        return steps


class ForkedStepsExecutor(MultiprocessExecutor):
    """Dagster's multiprocess executor with fork as its start method, its event poll at STEP_EVENT_POLL_S and its
    loop resting while nothing runs. Both are module globals Dagster reads at each use: set for the run, put back
    after (a process that runs them has no other thread: see _forking_is_safe).
    """

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        """Dagster's execution of the plan, its step processes bound to the life of this one."""
        self._run_worker = _RunWorker()  # held for the registration below, which keeps only a weak reference
        multiprocessing.util.register_after_fork(self._run_worker, _die_with_the_run_worker)
        with _tuned_multiprocess_loop():
            yield from super().execute(plan_context, execution_plan)


@contextlib.contextmanager
def _tuned_multiprocess_loop() -> Iterator[None]:
    saved = child_process_executor.TICK, multiprocess.ActiveExecution
    child_process_executor.TICK, multiprocess.ActiveExecution = STEP_EVENT_POLL_S, RestingActiveExecution
    try:
        yield
    finally:
        child_process_executor.TICK, multiprocess.ActiveExecution = saved


class _RunWorker:
    """The process that forks the step processes, as they see it after the fork."""

    def __init__(self):
        self.pid = os.getpid()


def _die_with_the_run_worker(run_worker: _RunWorker) -> None:
    """In each step process: a run worker killed outright (out of memory, SIGKILL) cannot stop its steps, which would
    otherwise go on writing outputs and events for a run already marked failed, then wait forever to hand their last
    events to it. The kernel kills the step process when its parent dies; one whose parent died before this call is
    ended here. Processes that a step itself starts through multiprocessing run this hook too (it is inherited):
    they were not forked by the run worker and are left alone.
    """
    forked_by = multiprocessing.parent_process()
    if forked_by is None or forked_by.pid != run_worker.pid:
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != run_worker.pid:
        os._exit(1)


def _forking_is_safe() -> bool:
    """A fork copies only the calling thread: a lock another thread holds at that moment (a logging handler's, a
    connection pool's) stays locked forever in the step process. The run workers the project's launcher forks run no
    other thread; Dagster's own launcher (the project's fallback), a run tagged for run metrics, and a script or test
    process that starts a run do.
    """
    return threading.active_count() == 1


def _steps_at_once(config_value: int | None) -> int:
    """What Dagster's multiprocess executor would use: the config, else its environment override, else the CPUs (0
    or unset in either place means the next). A value Dagster would fail on with a traceback gets a coded error.
    """
    override = os.environ.get(MAX_CONCURRENT_ENV) or ""
    if (config_value is not None and config_value < 0) or (override and not override.isdigit()):
        raise DawsosError(
            errors.EXECUTOR_CONFIG_INVALID,
            f"steps at once must be a whole number: max_concurrent {shown(config_value)}, "
            f"{MAX_CONCURRENT_ENV} {shown(override)}",
            "set the run's execution config max_concurrent, or the variable, to 1 or more (0 or unset: one per CPU)",
        )
    return config_value or int(override or 0) or multiprocessing.cpu_count()


def _requirements(config: dict) -> list:
    one_at_a_time = _steps_at_once(config.get("max_concurrent")) == 1
    return [] if one_at_a_time else dg.multiple_process_executor_requirements()


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
    requirements=_requirements,
)
def forked_steps(init_context: dg.InitExecutorContext):
    """Dagster's multiprocess executor with its step processes forked from the run worker. One step at a time, or
    where this process runs other threads (a fork would leave their locks held), the steps run in this process.
    """
    config = init_context.executor_config
    retries = RetryMode.from_config(config["retries"])
    dependencies = StepDependencyConfig.from_config(config.get("step_dependency_config"))
    steps_at_once = _steps_at_once(config["max_concurrent"])
    if steps_at_once == 1:
        return InProcessExecutor(retries=retries, step_dependency_config=dependencies)
    if not _forking_is_safe():
        threads = ", ".join(t.name for t in threading.enumerate() if t is not threading.current_thread())
        dg.get_dagster_logger().warning(
            f"steps run one after another in this process: forking it would copy the locks of its threads ({threads})"
        )
        return InProcessExecutor(retries=retries, step_dependency_config=dependencies)
    return ForkedStepsExecutor(
        retries=retries, max_concurrent=steps_at_once, start_method="fork", step_dependency_config=dependencies
    )
