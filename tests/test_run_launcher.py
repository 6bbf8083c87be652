"""The run launcher forks run workers from a preloaded process: runs succeed, report their worker, can be cancelled,
a killed worker fails its run under run monitoring, edited code gets a new preloaded process, and a process that
cannot load says why. One preloaded process serves the module, against a real PostgreSQL."""

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from dawsos_assets.database import connection
from dawsos_assets.operations import launcher
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.operations.jobs import OBSERVE_LEGACY_JOB, TABLES_AND_CHECKS_JOB
from dawsos_assets.operations.launch import create_run
from dawsos_assets.operations.launcher import RUN_WORKER_TAG, PreloadedRunLauncher, PreloadUnavailable, RunWorker
from dawsos_assets.operations.run_forks import refuse_threads

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
SIGCHLD_BIT = 1 << (signal.SIGCHLD - 1)


@pytest.fixture(scope="module")
def instance(databases):
    with pytest.MonkeyPatch.context() as env:
        env.setenv(connection.URL_ENV, databases.migrated())
        prepare_instance()
        with dg.DagsterInstance.get() as dagster_instance:
            assert isinstance(dagster_instance.run_launcher, PreloadedRunLauncher)
            yield dagster_instance


def launch(instance, job_name: str) -> dg.DagsterRun:
    run = create_run(instance, job_name, run_config=QUIET)
    instance.launch_run(run.run_id, workspace=None)  # a forked run needs no workspace: the worker loads the code
    return instance.get_run_by_id(run.run_id)


def wait_until(probe, what: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not seen within {timeout} s")


def finished(instance, run_id: str) -> dg.DagsterRunStatus:
    return wait_until(lambda: (r := instance.get_run_by_id(run_id)).is_finished and r.status, f"run {run_id} ended")


def worker_of(instance, run_id: str) -> RunWorker:
    return wait_until(lambda: RunWorker.from_run(instance.get_run_by_id(run_id)), "the run worker's tag")


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines)


def test_a_run_is_forked_from_the_preloaded_process_and_succeeds(instance):
    run = launch(instance, OBSERVE_LEGACY_JOB)
    preloaded = instance.run_launcher._preloaded.process
    assert finished(instance, run.run_id) == dg.DagsterRunStatus.SUCCESS
    again = launch(instance, OBSERVE_LEGACY_JOB)  # nothing a run writes counts as a code change: the same process
    assert instance.run_launcher._preloaded.process is preloaded
    assert finished(instance, again.run_id) == dg.DagsterRunStatus.SUCCESS
    worker = RunWorker.from_run(instance.get_run_by_id(run.run_id))
    started = [
        e.message for e in instance.all_logs(run.run_id) if e.message and e.message.startswith("Started process")
    ]
    assert started == [f"Started process for run (pid: {worker.pid})."]  # the run ran in the forked worker
    assert worker.pid != os.getpid() and not worker.alive()


def test_a_blocked_run_is_healthy_and_terminate_cancels_it(instance):
    """While a table the job reads is locked the run waits in its worker: the worker is a child of the preloaded
    process with SIGCHLD handled normally (a run's own subprocesses stay waitable); terminate ends it CANCELED."""
    preloaded_pid = None
    with connection.connect(os.environ[connection.URL_ENV]) as blocker:
        blocker.execute("LOCK TABLE lots IN ACCESS EXCLUSIVE MODE")
        run = launch(instance, TABLES_AND_CHECKS_JOB)
        worker = worker_of(instance, run.run_id)
        preloaded_pid = instance.run_launcher._preloaded.process.pid
        status = proc_status(worker.pid)
        assert int(status["PPid"]) == preloaded_pid
        assert not int(status["SigIgn"], 16) & SIGCHLD_BIT
        assert instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id)).status == (
            WorkerStatus.RUNNING
        )
        assert instance.run_launcher.terminate(run.run_id)
        blocker.rollback()  # had SIGTERM not reached the worker, the run would now go on and succeed
    assert finished(instance, run.run_id) == dg.DagsterRunStatus.CANCELED


def test_a_killed_worker_fails_its_run_under_run_monitoring(instance):
    with connection.connect(os.environ[connection.URL_ENV]) as blocker:
        blocker.execute("LOCK TABLE lots IN ACCESS EXCLUSIVE MODE")
        run = launch(instance, TABLES_AND_CHECKS_JOB)
        worker = worker_of(instance, run.run_id)
        wait_until(lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED, "run started")
        os.kill(worker.pid, signal.SIGKILL)
        wait_until(lambda: not worker.alive(), "the worker gone")
        blocker.rollback()
    record = instance.get_run_record_by_id(run.run_id)
    monitor_started_run(instance, None, record, logging.getLogger("test"))  # what the monitoring daemon does
    failed = instance.get_run_by_id(run.run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    assert any(f"run worker {worker.pid} exited" in (e.message or "") for e in instance.all_logs(run.run_id))


def test_edited_code_gets_a_new_preloaded_process(instance, tmp_path, monkeypatch):
    code = tmp_path / "edited.py"
    code.write_text("A = 1\n")
    monkeypatch.setattr(launcher, "CODE_PATHS", (code,))
    first = launch(instance, OBSERVE_LEGACY_JOB)
    old = instance.run_launcher._preloaded.process
    assert finished(instance, first.run_id) == dg.DagsterRunStatus.SUCCESS
    code.write_text("A = 22\n")
    second = launch(instance, OBSERVE_LEGACY_JOB)
    assert instance.run_launcher._preloaded.process.pid != old.pid and old.poll() is not None
    assert finished(instance, second.run_id) == dg.DagsterRunStatus.SUCCESS


def test_a_preloaded_process_that_cannot_load_says_why(monkeypatch):
    failing = [sys.executable, "-c", "print('failed ModuleNotFoundError: No module named dagster', flush=True)"]
    monkeypatch.setattr(launcher.PreloadedProcess, "COMMAND", failing)
    with pytest.raises(PreloadUnavailable, match="could not load the code .failed ModuleNotFoundError"):
        launcher.PreloadedProcess()
    monkeypatch.setattr(launcher.PreloadedProcess, "COMMAND", [sys.executable, "-c", "import time; time.sleep(30)"])
    monkeypatch.setattr(launcher, "PRELOAD_TIMEOUT_S", 1)
    with pytest.raises(PreloadUnavailable, match="did not answer within 1 s"):
        launcher.PreloadedProcess()


def test_a_thread_running_after_the_preload_refuses_the_fork():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="left-running")
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="unsafe to fork: left-running"):
            refuse_threads()
    finally:
        stop.set()
        thread.join()


def test_without_a_preloaded_process_the_run_goes_through_the_code_server(instance, monkeypatch):
    monkeypatch.setattr(launcher.PreloadedProcess, "COMMAND", [sys.executable, "-c", "print('failed broken')"])
    monkeypatch.setattr(launcher, "CODE_PATHS", ())  # nothing changed, yet the running process is replaced:
    instance.run_launcher.dispose()  # start from no process at all
    run = create_run(instance, OBSERVE_LEGACY_JOB, run_config=QUIET)
    with pytest.raises(dg.DagsterInvariantViolationError, match="requires a workspace"):
        instance.launch_run(run.run_id, workspace=None)  # Dagster's own launcher took over (it needs the workspace)
    said = [e.message for e in instance.all_logs(run.run_id) if "instead of the preloaded process" in (e.message or "")]
    assert said == [
        "[PreloadedRunLauncher] Launching through the code server instead of the preloaded process: "
        "the preloaded process could not load the code (failed broken)."
    ]
    assert RUN_WORKER_TAG not in instance.get_run_by_id(run.run_id).tags
