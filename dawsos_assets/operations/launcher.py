"""The run launcher: runs of this project's code location start as forks of a preloaded process (run_forks.py).

Dagster's default launcher asks the code server to start a new interpreter per run, which then imports Dagster and
this project and builds the definitions — about 3.8 s on this machine before a nightly job's first step. Here the
daemon keeps one process that has done all that, and each run worker is a fork of it running exactly what
`dagster api execute_run` runs: same events, same run status, same cancellation (SIGTERM, as container launchers
send it). Everything else is Dagster's default launcher: runs of other code locations, and any run when the
preloaded process cannot start (the reason is logged on the run).

The preloaded process holds the code as it was when it started; when a code file (.py, .json, .sql, .yaml) of the
package or `sql/`, or workspace.yaml, changes it is replaced before the next launch, so a run never executes stale
code (runs already forked finish on the code they started with). The daemon starts it with itself
(PreloadingRunCoordinator), so even the first run finds it loaded. Run monitoring (dagster.yaml) asks
`check_run_worker_health`: a forked worker that died without finishing its run (killed, out of memory) marks the run
failed.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, LaunchRunContext, WorkerStatus
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._serdes import serialize_value

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError
from dawsos_assets.operations.run_forks import LOCATION_MODULE, process_state

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CODE_PATHS = (PROJECT_ROOT / "dawsos_assets", PROJECT_ROOT / "sql", PROJECT_ROOT / "workspace.yaml")
CODE_SUFFIXES = {".py", ".json", ".sql", ".yaml", ".yml"}
RUN_WORKER_TAG = "dawsos/run_worker"  # "<pid>:<start ticks>" of a forked run worker
PRELOAD_TIMEOUT_S = 120  # ~4 s here, far longer on a busy machine; below run monitoring's start timeout (180 s)
REPLY_TIMEOUT_S = 30
START_WAIT_S = 10  # a forked worker starts its run within a second; terminate waits this long for it at most
# Dagster's daemon waits between queue reads in half-second steps: a shorter interval would read no more often.
# Its config takes whole seconds only (its default is 5), so the coordinator sets this unless dagster.yaml sets one.
DEQUEUE_INTERVAL_S = 0.5


class PreloadUnavailable(Exception):
    """The preloaded process could not start or answer; the run goes through Dagster's default launcher instead."""


def preload_unavailable(reason: PreloadUnavailable) -> str:
    """The daemon's one line when the preloaded process cannot start."""
    return DawsosError(
        errors.RUN_PRELOAD_UNAVAILABLE,
        f"runs cannot be forked from a preloaded process: {reason}",
        "runs start through Dagster's own launcher meanwhile (slower); fix the cause, the next launch tries again",
    ).one_line()


def code_fingerprint() -> str:
    """A digest of the code's files (path, size, modification time): changes when any of them is edited."""
    digest = hashlib.sha256()
    for root in CODE_PATHS:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in CODE_SUFFIXES)
        for path in files:
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted since listed, or a dangling link such as an editor's lock file
                continue
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunWorker:
    """A forked run worker, named by pid and start time so a reused pid is never mistaken for it."""

    pid: int
    ticks: int

    @classmethod
    def from_run(cls, run: DagsterRun) -> RunWorker | None:
        """The forked worker of `run`; None for a run launched any other way."""
        tag = run.tags.get(RUN_WORKER_TAG)
        if not tag:
            return None
        pid, ticks = tag.split(":")
        return cls(int(pid), int(ticks))

    @property
    def tag(self) -> str:
        """The run tag that names this worker."""
        return f"{self.pid}:{self.ticks}"

    def alive(self) -> bool:
        """Still running its run: the same process (pid and start time) and not a zombie."""
        state = process_state(self.pid)
        return bool(self.ticks) and state is not None and state[1] == self.ticks and state[0] != "Z"


def _read_line(fd: int, timeout: float) -> str:
    """One line from the preloaded process, or PreloadUnavailable when it exits or says nothing in time."""
    data, deadline = b"", time.monotonic() + timeout
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise PreloadUnavailable(f"the preloaded process did not answer within {timeout:.0f} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise PreloadUnavailable("the preloaded process exited")
        data += chunk
    return data.decode().strip()


class PreloadedProcess:
    """The process run workers are forked from."""

    COMMAND = (sys.executable, "-m", "dawsos_assets.operations.run_forks")

    def __init__(self):
        self.fingerprint = code_fingerprint()
        self.process = subprocess.Popen(  # noqa: S603 — this interpreter running this package's own module
            self.COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=PROJECT_ROOT,
        )
        answer = self._answer(PRELOAD_TIMEOUT_S)
        if not answer.startswith("ready "):
            self.close()
            raise PreloadUnavailable(f"the preloaded process could not load the code ({answer})")

    def _answer(self, timeout: float) -> str:
        try:
            return _read_line(self.process.stdout.fileno(), timeout)
        except PreloadUnavailable:
            self.close()
            raise

    def usable(self) -> bool:
        """Running, and loaded from the code as it is on disk now."""
        return self.process.poll() is None and self.fingerprint == code_fingerprint()

    def fork(self, execute_run_args: str) -> RunWorker:
        """Start a run worker for the serialized ExecuteRunArgs."""
        try:
            self.process.stdin.write(execute_run_args.encode() + b"\n")
            self.process.stdin.flush()
        except OSError as error:
            self.close()
            raise PreloadUnavailable(f"the preloaded process stopped reading ({error})") from error
        try:
            pid, ticks = self._answer(REPLY_TIMEOUT_S).split()
        except PreloadUnavailable as reason:
            # it may have forked a worker already: launching the run again elsewhere could run it twice
            raise DagsterLaunchFailedError(
                f"the preloaded process took the run but did not say which worker runs it ({reason}); "
                "not launched again, so that it never runs twice"
            ) from reason
        return RunWorker(int(pid), int(ticks))

    def close(self) -> None:
        """Stop it (it exits when its input closes); runs it forked are not affected."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PreloadingRunCoordinator(QueuedRunCoordinator):
    """Dagster's run queue, read every half second. In the daemon it also has the launcher start its preloaded
    process right away: Dagster creates the launcher only at the first launch, which would then wait for the
    preload (~4 s).
    """

    @property
    def dequeue_interval_seconds(self) -> float:
        """Seconds between the daemon's reads of the queue: `dequeue_interval_seconds` from dagster.yaml when set
        there, else DEQUEUE_INTERVAL_S.
        """
        configured = self.inst_data.config_dict.get("dequeue_interval_seconds") if self.inst_data else None
        return DEQUEUE_INTERVAL_S if configured is None else configured

    def register_instance(self, instance) -> None:
        """Attach to the instance; in the daemon, start the preload."""
        super().register_instance(instance)
        if _in_daemon_process() and isinstance(instance.run_launcher, PreloadedRunLauncher):
            instance.run_launcher.preload_in_background()


def _in_daemon_process() -> bool:
    """The dagster-daemon process, the only one that launches queued runs (`dagster dev` starts it with
    `-m dagster._daemon`; a standalone deployment with the `dagster-daemon` script).
    """
    entry = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    daemon = entry.name == "dagster-daemon" or entry.parts[-2:] == ("_daemon", "__main__.py")
    return daemon and sys.argv[1:2] == ["run"]  # not `dagster-daemon liveness-check` and the like


class PreloadedRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher, except that runs of this project's code location are forked from a preloaded
    process (see the module docstring).
    """

    def __init__(self, inst_data=None):
        super().__init__(inst_data=inst_data)
        self._preloaded: PreloadedProcess | None = None
        self._lock = threading.Lock()  # the daemon may launch from several threads

    def preload_in_background(self) -> None:
        """Start the preloaded process now rather than at the first launch."""
        threading.Thread(target=self._warm_up, name="dawsos-preload", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            with self._lock:
                self._preloaded_process()
        except PreloadUnavailable as reason:  # said again, on the run, at the first launch
            print(preload_unavailable(reason), file=sys.stderr)

    def _preloaded_process(self) -> PreloadedProcess:
        """The preloaded process, started anew if it is gone or the code changed (the caller holds the lock)."""
        if self._preloaded is None or not self._preloaded.usable():
            if self._preloaded is not None:
                self._preloaded.close()
            self._preloaded = None
            self._preloaded = PreloadedProcess()
        return self._preloaded

    def _fork(self, execute_run_args: str) -> RunWorker:
        with self._lock:  # over both steps: another launch must not replace (close) the process in between
            return self._preloaded_process().fork(execute_run_args)

    def launch_run(self, context: LaunchRunContext) -> None:
        """Fork a run worker for a run of this project's code location; any other run as Dagster does."""
        from dagster._grpc.types import ExecuteRunArgs

        run = context.dagster_run
        if not forks_for(run):
            return super().launch_run(context)
        args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        try:
            worker = self._fork(serialize_value(args))
        except PreloadUnavailable as reason:
            self._instance.report_engine_event(
                f"Launching through the code server instead of the preloaded process: {reason}.", run, cls=type(self)
            )
            return super().launch_run(context)
        self._instance.add_run_tags(run.run_id, {RUN_WORKER_TAG: worker.tag})
        self._instance.report_engine_event(
            f"Run worker forked from the preloaded process (pid {worker.pid}).", run, cls=type(self)
        )
        self._run_ids.add(run.run_id)
        return None

    def terminate(self, run_id: str) -> bool:
        """Cancel a forked run with SIGTERM (its worker turns it into Dagster's interrupt: the run ends CANCELED);
        any other run as Dagster does.
        """
        run = self._instance.get_run_by_id(run_id)
        worker = RunWorker.from_run(run) if run else None
        if worker is None:
            return super().terminate(run_id)
        run = self._started(run)
        if run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        if not worker.alive():
            self._instance.report_engine_event(
                f"Run worker {worker.pid} is no longer running: nothing to terminate.", run, cls=type(self)
            )
            return False
        os.kill(worker.pid, signal.SIGTERM)
        return True

    def _started(self, run: DagsterRun) -> DagsterRun:
        """The run once its worker has started it (or ended, or after START_WAIT_S): Dagster refuses to execute a
        run already CANCELING, which would end it FAILED instead of CANCELED.
        """
        deadline = time.monotonic() + START_WAIT_S
        while run.status in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING) and time.monotonic() < deadline:
            time.sleep(0.1)
            run = self._instance.get_run_by_id(run.run_id)
        return run

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring may ask about a run's worker (check_run_worker_health)."""
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """For run monitoring: a forked worker is running or gone. Runs launched through the code server are
        reported running: Dagster's default launcher offers no way to tell.
        """
        worker = RunWorker.from_run(run)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "launched through the code server: not tracked")
        if worker.alive():
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=worker.tag)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"run worker {worker.pid} exited without ending the run (killed, or out of memory?)",
            run_worker_id=worker.tag,
        )

    def dispose(self) -> None:
        """Stop the preloaded process with the instance."""
        with self._lock:
            if self._preloaded is not None:
                self._preloaded.close()
                self._preloaded = None
        super().dispose()


def forks_for(run: DagsterRun) -> bool:
    """Whether `run` is of this project's code location, loadable by this interpreter (what the fork preloaded)."""
    origin = run.job_code_origin
    if origin is None:
        return False
    pointer = origin.repository_origin.code_pointer
    directory = getattr(pointer, "working_directory", None)
    return (
        getattr(pointer, "module", None) == LOCATION_MODULE
        and directory is not None
        and Path(directory).resolve() == PROJECT_ROOT  # not the same package in another checkout
        and origin.executable_path == sys.executable
    )
