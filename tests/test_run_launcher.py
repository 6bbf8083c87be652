"""The run launcher forks run workers from a preloaded process: runs succeed, report their worker, can be cancelled,
a killed worker fails its run under run monitoring, edited code gets a new preloaded process, and a process that
cannot load says why. One preloaded process serves the module, against a real PostgreSQL."""

import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from dawsos_assets.database import connection
from dawsos_assets.operations import launcher
from dawsos_assets.operations.executors import steps_at_once
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.operations.jobs import OBSERVE_LEGACY_JOB, PATTERNS_JOB, TABLES_AND_CHECKS_JOB
from dawsos_assets.operations.launch import create_run, partition_range_tags
from dawsos_assets.operations.launcher import RUN_WORKER_TAG, PreloadedRunLauncher, PreloadUnavailable, RunWorker
from dawsos_assets.operations.run_forks import refuse_threads, start_ticks
from dawsos_assets.patterns.loader import load_all
from dawsos_assets.patterns.portfolios import PORTFOLIOS, portfolio_keys

from .conftest import wait_for

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TWO_AT_ONCE = {**QUIET, **steps_at_once(2)}
SIGCHLD_BIT = 1 << (signal.SIGCHLD - 1)
PRELOAD_WAIT_S = 180  # importing and building the definitions: ~4 s, far longer on a busy machine


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
    """Polls every 0.2 s: a forked run starts and ends within seconds."""
    return wait_for(probe, what, timeout=timeout, interval=0.2)


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


def step_processes(instance, run_id: str) -> dict[str, int]:
    """Step key -> pid of the process each step of the run was forked into."""
    return {
        e.step_key: int(e.dagster_event.event_specific_data.metadata["pid"].value)
        for e in instance.all_logs(run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "STEP_WORKER_STARTED"
    }


def running(pid: int) -> bool:
    try:
        return proc_status(pid)["State"][0] != "Z"
    except FileNotFoundError:
        return False


def portfolio_partitions(instance) -> dict[str, str]:
    """The test database's portfolios (partition key -> id), added as the instance's partitions."""
    with connection.connect(os.environ[connection.URL_ENV]) as conn:
        keys = portfolio_keys(conn)
    instance.add_dynamic_partitions(PORTFOLIOS.name, list(keys))
    return keys


def launch_patterns_run(instance, keys: dict[str, str]) -> dg.DagsterRun:
    """A patterns run over every portfolio, two steps at a time, launched as the daemon launches it."""
    tags = partition_range_tags(list(keys)[0], list(keys)[-1])
    run = create_run(instance, PATTERNS_JOB, run_config=TWO_AT_ONCE, tags=tags)
    instance.launch_run(run.run_id, workspace=None)
    return run


@contextlib.contextmanager
def patterns_run_waiting_on_a_lock(instance) -> Iterator[tuple[dg.DagsterRun, dict[str, int]]]:
    """A patterns run whose first two step processes wait on the portfolios table, locked until the block ends."""
    keys = portfolio_partitions(instance)
    with connection.connect(os.environ[connection.URL_ENV]) as blocker:
        blocker.execute("LOCK TABLE portfolios IN ACCESS EXCLUSIVE MODE")
        run = launch_patterns_run(instance, keys)
        steps = wait_until(lambda: len(s := step_processes(instance, run.run_id)) == 2 and s, "two step processes")
        assert all(running(pid) for pid in steps.values())
        yield run, steps
        blocker.rollback()  # from here the steps would go on and succeed, had they not been stopped


def test_a_launched_patterns_run_runs_its_steps_side_by_side_in_forked_processes(instance):
    keys = portfolio_partitions(instance)
    run = launch_patterns_run(instance, keys)
    assert finished(instance, run.run_id) == dg.DagsterRunStatus.SUCCESS
    worker, steps = worker_of(instance, run.run_id), step_processes(instance, run.run_id)
    assert len(steps) == 13 and len(set(steps.values())) == 13 and worker.pid not in steps.values()
    events = [e for e in instance.all_logs(run.run_id) if e.dagster_event]
    started, ended = (
        {e.step_key: e.timestamp for e in events if e.dagster_event.event_type_value == kind}
        for kind in ("STEP_START", "STEP_SUCCESS")
    )
    assert set(started) == set(ended) == set(steps)
    assert any(started[b] < ended[a] and started[a] < ended[b] for a in started for b in started if a < b)
    materialized = {
        (e.dagster_event.asset_key.path[-1], e.dagster_event.partition)
        for e in events
        if e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert materialized == {(p, k) for p in load_all() for k in keys}


def test_terminate_reaches_the_step_processes_of_a_patterns_run(instance):
    """The patterns job runs its steps in processes forked from the run worker (operations/executors.py); terminate
    cancels the run and none of them outlives it."""
    with patterns_run_waiting_on_a_lock(instance) as (run, steps):
        assert instance.run_launcher.terminate(run.run_id)
    assert finished(instance, run.run_id) == dg.DagsterRunStatus.CANCELED
    assert wait_until(lambda: not any(running(pid) for pid in steps.values()), "the step processes gone")
    logged = [e.dagster_event.event_type_value for e in instance.all_logs(run.run_id) if e.dagster_event]
    assert "STEP_SUCCESS" not in logged  # the two waiting steps were stopped, not left to finish


def test_the_step_processes_of_a_killed_worker_die_with_it(instance):
    """A worker killed outright cannot stop its steps: the kernel does (they would otherwise wait on the lock, then
    publish for a run already failed)."""
    with patterns_run_waiting_on_a_lock(instance) as (run, steps):
        os.kill(worker_of(instance, run.run_id).pid, signal.SIGKILL)
        wait_until(lambda: not any(running(pid) for pid in steps.values()), "the step processes gone")
    monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), logging.getLogger("test"))
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


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


def test_a_dangling_link_among_the_code_files_does_not_stop_launches(tmp_path, monkeypatch):
    """Emacs keeps a dangling link `.#<file>` beside a file with unsaved edits: every launch used to fail on it."""
    code = tmp_path / "module.py"
    code.write_text("A = 1\n")
    (tmp_path / ".#module.py").symlink_to("user@host.4242:1700000000")
    monkeypatch.setattr(launcher, "CODE_PATHS", (tmp_path,))
    before = launcher.code_fingerprint()
    code.write_text("A = 22\n")
    assert launcher.code_fingerprint() != before


def test_a_run_the_preloaded_process_took_without_answering_is_not_launched_twice(instance, monkeypatch):
    """The process read the run and exited before naming its worker: it may have forked one, so the run fails with
    the reason instead of going to the code server as well."""
    takes_and_dies = "import os, sys\nprint('ready', os.getpid(), flush=True)\nsys.stdin.readline()"
    monkeypatch.setattr(launcher.PreloadedProcess, "COMMAND", [sys.executable, "-c", takes_and_dies])
    monkeypatch.setattr(launcher, "CODE_PATHS", ())
    instance.run_launcher.dispose()
    run = create_run(instance, OBSERVE_LEGACY_JOB, run_config=QUIET)
    with pytest.raises(dg.DagsterError, match="not launched again, so that it never runs twice"):
        instance.launch_run(run.run_id, workspace=None)  # the code server would have needed a workspace
    assert not [e for e in instance.all_logs(run.run_id) if "through the code server" in (e.message or "")]
    instance.run_launcher.dispose()


def test_concurrent_launches_while_the_code_changes_all_fork(monkeypatch):
    """The daemon may launch from several threads: a launch that replaces the process for new code must not close it
    under another launch about to fork from it (that one failed with 'write to closed file', failing its run)."""
    speaks_the_protocol = (
        "import os, sys\nprint('ready', os.getpid(), flush=True)\nfor _ in sys.stdin: print(1, 1, flush=True)"
    )
    monkeypatch.setattr(launcher.PreloadedProcess, "COMMAND", [sys.executable, "-c", speaks_the_protocol])
    versions = itertools.count()
    monkeypatch.setattr(launcher, "code_fingerprint", lambda: str(next(versions)))  # every launch sees new code
    run_launcher, failures = PreloadedRunLauncher(), []

    def launch_some():
        for _ in range(5):
            try:
                run_launcher._fork("{}")
            except Exception as error:  # noqa: BLE001 — collected for the assertion
                failures.append(repr(error))

    threads = [threading.Thread(target=launch_some) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_launcher.dispose()
    assert failures == []


def test_a_preloaded_process_that_cannot_load_says_why(monkeypatch):
    failing = [sys.executable, "-c", "print('failed ModuleNotFoundError: No module named dagster', flush=True)"]
    monkeypatch.setattr(launcher.PreloadedProcess, "COMMAND", failing)
    with pytest.raises(PreloadUnavailable, match="could not load the code .failed ModuleNotFoundError"):
        launcher.PreloadedProcess()
    monkeypatch.setattr(launcher.PreloadedProcess, "COMMAND", [sys.executable, "-c", "import time; time.sleep(30)"])
    monkeypatch.setattr(launcher, "PRELOAD_TIMEOUT_S", 1)
    with pytest.raises(PreloadUnavailable, match="did not answer within 1 s") as refused:
        launcher.PreloadedProcess()
    said = launcher.preload_unavailable(refused.value)
    assert said.startswith("error RUN_PRELOAD_UNAVAILABLE: runs cannot be forked") and "\n" not in said


def test_a_thread_running_after_the_preload_refuses_the_fork():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="left-running")
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="unsafe to fork: .*left-running"):  # the suite may run others
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


def test_terminate_before_the_worker_started_the_run_cancels_it(instance):
    """Terminate right after the launch, while the run is still STARTING: the launcher waits for the worker to start
    the run before signalling it, and the worker keeps a signal that arrives earlier for the run."""
    run = launch(instance, OBSERVE_LEGACY_JOB)
    assert run.status == dg.DagsterRunStatus.STARTING
    assert instance.run_launcher.terminate(run.run_id)
    assert finished(instance, run.run_id) == dg.DagsterRunStatus.CANCELED


def test_a_worker_is_alive_only_while_its_own_process_runs():
    """A worker is named by pid and start time: another process under the same pid, or the worker's zombie (a
    container whose init does not reap orphans), is not the worker running."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker = RunWorker(child.pid, start_ticks(child.pid))
    assert worker.alive()
    assert not RunWorker(child.pid, worker.ticks + 1).alive()
    child.kill()
    wait_until(lambda: proc_status(child.pid)["State"].startswith("Z"), "the killed child a zombie", timeout=10)
    assert not worker.alive()
    child.wait()
    assert not worker.alive()


def test_only_runs_this_interpreter_can_load_are_forked(instance):
    run = create_run(instance, OBSERVE_LEGACY_JOB, run_config=QUIET)
    assert launcher.forks_for(run)
    origin = run.job_code_origin
    pointer = origin.repository_origin.code_pointer
    other_module = pointer._replace(module="someone_elses.definitions")
    other_location = origin._replace(repository_origin=origin.repository_origin._replace(code_pointer=other_module))
    assert not launcher.forks_for(run._replace(job_code_origin=other_location))
    other_python = origin._replace(
        repository_origin=origin.repository_origin._replace(executable_path="/usr/bin/python3")
    )
    assert not launcher.forks_for(run._replace(job_code_origin=other_python))
    other_checkout = pointer._replace(working_directory="/srv/another-checkout")
    elsewhere = origin._replace(repository_origin=origin.repository_origin._replace(code_pointer=other_checkout))
    assert not launcher.forks_for(run._replace(job_code_origin=elsewhere))


def test_a_preloaded_process_whose_launcher_is_gone_exits_quietly():
    """The daemon stopped (or was killed) while the process was still loading: it exits without a traceback."""
    answers, answers_in = os.pipe()
    process = subprocess.Popen(
        launcher.PreloadedProcess.COMMAND, stdin=subprocess.PIPE, stdout=answers_in, stderr=subprocess.PIPE
    )
    os.close(answers_in)
    os.close(answers)  # nobody will read its answer
    _, errors = process.communicate(timeout=PRELOAD_WAIT_S)
    assert b"Traceback" not in errors and b"Exception ignored" not in errors, errors.decode()[-800:]
    assert process.returncode == 0


def test_a_worker_that_cannot_start_its_run_says_so_in_one_line():
    """Arguments Dagster cannot read (or any error its run execution does not handle) end the worker with one coded
    line on stderr and exit status 1, never a traceback."""
    worker = "import os\nfrom dawsos_assets.operations.run_forks import _become_run_worker\n"
    worker += "_become_run_worker('not the arguments of a run', os.pipe()[1])"
    done = subprocess.run([sys.executable, "-c", worker], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error INTERNAL_ERROR: run worker ") and "(suggestion: this is a bug" in line


@pytest.fixture(scope="module")
def forked_child_report() -> dict:
    """One preloaded process forks a child that runs a full garbage collection, as a run's collections do: what the
    child copied of the preloaded pages (Private_Dirty), and which modules the preload already holds."""
    child = (
        "import gc, json, os, signal, sys\n"
        "from dawsos_assets.operations.run_forks import preload\n"
        "preload()\n"
        "collected, signal_collected = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    gc.collect()\n"
        "    os.write(signal_collected, b'x')\n"
        "    signal.pause()  # until the parent, having measured, kills it\n"
        "    os._exit(0)\n"
        "try:\n"
        "    os.read(collected, 1)\n"
        "    rollup = open(f'/proc/{pid}/smaps_rollup').read().splitlines()\n"
        "    private_kb = next(int(line.split()[1]) for line in rollup if line.startswith('Private_Dirty'))\n"
        "finally:\n"
        "    os.kill(pid, 9)\n"
        "print(json.dumps({'private_kb': private_kb, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=PRELOAD_WAIT_S)
    assert done.returncode == 0, done.stderr[-800:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_forked_run_shares_the_preloaded_objects_after_a_full_collection(forked_child_report):
    """A run's full garbage collection must not copy what the preload built into the run's own memory: with the
    objects left to the collector, the child ends with ~85 MB of private pages, with them frozen ~1 MB."""
    private_kb = forked_child_report["private_kb"]
    assert private_kb < 20 * 1024, f"the forked child copied {private_kb // 1024} MB of the preloaded process"


def test_the_preload_holds_what_the_pattern_capabilities_import_late(forked_child_report):
    """empyrical and scipy under it (~1 s to import) come with the first return computation of a run; a forked run
    must find them loaded."""
    assert {"empyrical", "scipy.stats"} <= set(forked_child_report["modules"])
