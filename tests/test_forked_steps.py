"""Runs execute their steps side by side, each in a process forked from the run worker (operations/executors.py),
and in the run's own process where a fork would not be safe or one step at a time is asked for. A launched patterns
run forking its steps, cancelled, and with its worker killed: tests/test_run_launcher.py."""

import multiprocessing
import os
import threading
import time

import dagster as dg
import pytest
from dagster._core.executor import child_process_executor, multiprocess

from dawsos_assets import errors
from dawsos_assets.database import connection
from dawsos_assets.definitions import PATTERNS_JOB, defs
from dawsos_assets.errors import DawsosError
from dawsos_assets.operations import executors
from dawsos_assets.operations.executors import STEP_EVENT_POLL_S, RestingActiveExecution, forked_steps, steps_at_once
from dawsos_assets.operations.launch import partition_range_tags, run_job
from dawsos_assets.patterns.portfolios import PORTFOLIOS, portfolio_keys

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TWO_AT_ONCE = {**QUIET, **steps_at_once(2)}
RETRY_WAIT_S = 2


@dg.op
def waits_out_a_retry(context) -> float:
    """Asks to be retried once; then returns the event poll interval its step process was forked with."""
    if context.retry_number == 0:
        raise dg.RetryRequested(max_retries=1, seconds_to_wait=RETRY_WAIT_S)
    return child_process_executor.TICK


@dg.job(executor_def=forked_steps)
def retried_once():
    waits_out_a_retry()


@dg.op
def starts_a_process_of_its_own() -> int:
    """A step that uses multiprocessing itself (a pool of its own): its child's exit code."""
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(0,))
    child.start()
    child.join()
    return child.exitcode


@dg.job(executor_def=forked_steps)
def forks_below_its_step():
    starts_a_process_of_its_own()


def no_other_thread() -> None:
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    assert not others, f"threads left running by earlier tests would make the run fall back: {others}"


def run_every_pattern(url: str, run_config: dict) -> tuple[dg.JobExecutionResult, list, dict[str, str]]:
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
        assert_every_step_ran_in_this_process(*run_every_pattern(migrated_url, TWO_AT_ONCE))
    finally:
        stop.set()
        waiting.join()


def test_one_step_at_a_time_runs_them_in_the_run_process(migrated_url):
    one_at_a_time = {**QUIET, **steps_at_once(1)}
    assert_every_step_ran_in_this_process(*run_every_pattern(migrated_url, one_at_a_time))


def test_a_run_waiting_out_a_retry_rests_and_its_step_sees_the_short_poll(monkeypatch):
    """Dagster's multiprocess loop would ask for runnable steps over a hundred thousand times while its only step
    waits out the retry delay (a core spinning: 266,929 times in one try); resting, a few hundred (447). The poll
    interval is the executor's while the run executes (the step process was forked with it), Dagster's after."""
    no_other_thread()
    asked, ask = [0], RestingActiveExecution.get_steps_to_execute

    def counted(self, limit=None):
        asked[0] += 1
        return ask(self, limit)

    monkeypatch.setattr(RestingActiveExecution, "get_steps_to_execute", counted)
    before = child_process_executor.TICK
    with dg.instance_for_test() as instance:
        with dg.execute_job(dg.reconstructable(retried_once), instance, run_config=TWO_AT_ONCE) as result:
            assert result.success
            assert result.output_for_node("waits_out_a_retry") == STEP_EVENT_POLL_S
    # about 1,000 a second while the failed attempt's process hands over its events; spinning, some 100,000 a second
    assert 0 < asked[0] < 20_000, f"asked {asked[0]} times during a run with a {RETRY_WAIT_S} s wait"
    assert child_process_executor.TICK == before and multiprocess.ActiveExecution is not RestingActiveExecution


def test_a_process_a_step_forks_itself_is_not_taken_for_a_step_process():
    """The death-signal hook is inherited by what a step forks; there it must do nothing (not end the process)."""
    no_other_thread()
    with dg.instance_for_test() as instance:
        with dg.execute_job(dg.reconstructable(forks_below_its_step), instance, run_config=TWO_AT_ONCE) as result:
            assert result.success
            assert result.output_for_node("starts_a_process_of_its_own") == 0


def test_dagster_still_reads_the_globals_the_executor_sets():
    """Dagster's poll reads TICK and its loop builds ActiveExecution by module name at each use; after an upgrade
    that renamed either, setting it would change nothing."""
    assert "TICK" in child_process_executor._poll_for_event.__code__.co_names
    assert "ActiveExecution" in multiprocess.MultiprocessExecutor.execute.__code__.co_names


def test_runs_dagster_makes_itself_use_the_executor_too():
    """Backfills, automation and "Materialize" in the UI run the implicit asset job, not the named jobs."""
    assert defs.resolve_implicit_global_asset_job_def().executor_def is forked_steps
    assert defs.resolve_job_def(PATTERNS_JOB).executor_def is forked_steps


def test_one_step_at_a_time_by_dagsters_environment_override_needs_no_second_process(monkeypatch):
    monkeypatch.setenv(executors.MAX_CONCURRENT_ENV, "1")
    assert executors._requirements({"max_concurrent": None}) == []
    monkeypatch.setenv(executors.MAX_CONCURRENT_ENV, "3")
    assert executors._steps_at_once(None) == 3 and executors._requirements({"max_concurrent": None})


def test_steps_at_once_that_are_no_whole_number_get_a_coded_error(monkeypatch):
    monkeypatch.setenv(executors.MAX_CONCURRENT_ENV, "two")
    with pytest.raises(DawsosError) as bad_variable:
        executors._requirements({"max_concurrent": None})
    monkeypatch.delenv(executors.MAX_CONCURRENT_ENV)
    with pytest.raises(DawsosError) as negative:
        executors._steps_at_once(-1)
    assert {bad_variable.value.code, negative.value.code} == {errors.EXECUTOR_CONFIG_INVALID}
    assert "'two'" in bad_variable.value.one_line() and "-1" in negative.value.one_line()
