"""The patterns job runs its steps side by side, each in a process forked from the run worker
(operations/executors.py), and in the run's own process where a fork would not be safe."""

import os
import threading

import dagster as dg
from dagster._core.executor import child_process_executor

from dawsos_assets.database import connection
from dawsos_assets.definitions import PATTERNS_JOB
from dawsos_assets.operations.executors import STEP_EVENT_POLL_S
from dawsos_assets.operations.launch import partition_range_tags, run_job
from dawsos_assets.patterns.loader import load_all
from dawsos_assets.patterns.portfolios import PORTFOLIOS, portfolio_keys

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_every_pattern(url: str, run_config: dict = QUIET) -> tuple[dg.JobExecutionResult, list, dict[str, str]]:
    """One patterns run over every portfolio, as the daemon's run worker executes it; its events."""
    with connection.connect(url) as conn:
        keys = portfolio_keys(conn)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PORTFOLIOS.name, list(keys))
        tags = partition_range_tags(list(keys)[0], list(keys)[-1])
        result = run_job(instance, PATTERNS_JOB, run_config=run_config, tags=tags)
        assert result.success
        events = [e for e in instance.all_logs(result.run_id) if e.dagster_event]
    return result, events, keys


def of_type(events, event_type: str) -> list:
    return [e for e in events if e.dagster_event.event_type_value == event_type]


def times_of(events, event_type: str) -> dict[str, float]:
    return {e.step_key: e.timestamp for e in of_type(events, event_type)}


def test_steps_run_side_by_side_in_processes_forked_from_the_run(migrated_url):
    assert threading.active_count() == 1, "a thread left running by an earlier test would make the run fall back"
    result, events, keys = run_every_pattern(migrated_url)
    workers = {
        e.step_key: e.dagster_event.event_specific_data.metadata["pid"].value
        for e in of_type(events, "STEP_WORKER_STARTED")
    }
    assert len(workers) == 13 and len(set(workers.values())) == 13 and str(os.getpid()) not in workers.values()
    started, finished = times_of(events, "STEP_START"), times_of(events, "STEP_SUCCESS")
    assert set(started) == set(finished) == set(workers)
    overlapping = [
        (a, b) for a in started for b in started if a < b and started[b] < finished[a] and started[a] < finished[b]
    ]
    assert overlapping, "no two steps ran at the same time"
    materialized = {(e.asset_key.path[-1], e.partition) for e in result.get_asset_materialization_events()}
    assert materialized == {(p, k) for p in load_all() for k in keys}
    assert child_process_executor.TICK == STEP_EVENT_POLL_S  # set by the executor, in the run's process only


def assert_every_step_ran_in_this_process(result, events, keys) -> None:
    assert not of_type(events, "STEP_WORKER_STARTED")
    assert {e.dagster_event.pid for e in of_type(events, "STEP_START")} == {os.getpid()}
    assert len(result.get_asset_materialization_events()) == 13 * len(keys)


def test_with_another_thread_running_the_steps_run_in_the_run_process(migrated_url):
    """A fork copies only the forking thread: a lock another thread holds would stay locked in the step process."""
    stop = threading.Event()
    waiting = threading.Thread(target=stop.wait, name="holds nothing, but could")
    waiting.start()
    try:
        assert_every_step_ran_in_this_process(*run_every_pattern(migrated_url))
    finally:
        stop.set()
        waiting.join()


def test_one_step_at_a_time_runs_them_in_the_run_process(migrated_url):
    one_at_a_time = {**QUIET, "execution": {"config": {"max_concurrent": 1}}}
    assert_every_step_ran_in_this_process(*run_every_pattern(migrated_url, one_at_a_time))


def test_dagster_still_polls_step_processes_at_the_tick_the_executor_sets():
    """Dagster's poll reads the module's TICK at each call; after an upgrade that renamed it, setting it would
    change nothing and every step would again hold its slot for seconds after its work."""
    assert "TICK" in child_process_executor._poll_for_event.__code__.co_names
