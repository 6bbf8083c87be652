"""The preloaded process the run launcher forks run workers from (`python -m dawsos_assets.operations.run_forks`).

Dagster's default launcher starts a new interpreter for every run: about 3.8 s here before the run's first step
(importing Dagster, its storage, pandas, pandera and this project, then building the definitions) — most of a
4.5 s nightly job. This process pays that once: it imports everything a run worker needs and loads the code
location's definitions, then forks one child per run, which does exactly what `dagster api execute_run` does.

Protocol, one line each way over stdin/stdout (the launcher in launcher.py is the only client):
  this process, once loaded:     `ready <pid>`, or `failed <one-line reason>` (then it exits)
  launcher, per run:             the run's ExecuteRunArgs, serialized by Dagster (one JSON line)
  this process, per run:         `<child pid> <child start time in clock ticks>` (names the process for
                                 termination and health checks even after the pid is reused)
It exits when its stdin closes or its answer finds no reader (the daemon that started it stopped, or was killed
while this process was loading); runs already forked go on to their end.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from pathlib import Path

LOCATION_MODULE = "dawsos_assets.definitions"


def process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of process `pid` from one read of /proc/<pid>/stat
    (fields 3 and 22); None if it is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: count fields after its closing one
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start_ticks(pid: int) -> int:
    """When process `pid` started, in clock ticks since boot; 0 if it is gone."""
    state = process_state(pid)
    return state[1] if state else 0


def preload() -> None:
    """Import what every run worker imports and build the code location's definitions once, here, so each forked
    run starts with them in memory (shared copy-on-write).
    """
    import dagster._cli.api  # noqa: F401 — `dagster api execute_run`, what each child runs
    import dagster._utils.interrupts  # noqa: F401
    import empyrical  # noqa: F401 — imported late by the capabilities (with scipy: ~1 s each patterns run), here once

    import dawsos_assets.operations.storage  # noqa: F401 — the instance's storage each child opens
    from dawsos_assets import definitions

    definitions.load_definitions().get_repository_def()  # both cached: forked runs start with the graph built
    refuse_threads()
    share_loaded_objects()


def share_loaded_objects() -> None:
    """Keep what the preload built out of the garbage collector's reach. A full collection in a forked run would
    otherwise write to every container object the preload made (the collector's own bookkeeping), and the kernel
    would then copy all their pages into that run: 85 MB per run here, instead of leaving them shared.
    """
    gc.collect()
    gc.freeze()


def refuse_threads() -> None:
    """Fail the preload if a thread runs: a fork copies only the forking thread, so a lock another thread held
    (logging, a connection pool) would stay locked forever in every run.
    """
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        raise RuntimeError(f"threads running after the preload, unsafe to fork: {', '.join(others)}")


def _execute_run(input_json: str) -> int:
    """In the forked child: run the launched run as `dagster api execute_run <input_json>` would; the exit code."""
    from dagster._cli.api import execute_run_command

    try:
        execute_run_command.callback(input_json=input_json, compressed_input_json=None)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def _become_run_worker(input_json: str, replies_fd: int) -> None:
    """The child's whole life: undo what belongs to the server (auto-reaped children, the protocol pipes), run,
    and exit without ever returning into the server's loop.
    """
    from dagster._utils.interrupts import capture_interrupts

    code = 1
    try:
        # a termination that arrives before the run starts is kept for it (the run ends cancelled), not fatal
        with capture_interrupts():
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # a run's own subprocesses (pg_dump…) must be waitable
            os.close(replies_fd)  # the launcher sees the server's end of the pipe close with the server, not runs
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(2, 1)  # a run's prints go where the daemon's output goes, never into the protocol
            code = _execute_run(input_json)
    except BaseException as error:  # noqa: BLE001 — a child must reach os._exit whatever happens
        print(_unexpected(error), file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _unexpected(error: BaseException) -> str:
    """One line for an error Dagster's own run execution did not handle (it reports run failures itself)."""
    from dawsos_assets.errors import INTERNAL_ERROR, DawsosError

    return DawsosError(
        INTERNAL_ERROR,
        f"run worker {os.getpid()}: unexpected {type(error).__name__}: {' '.join(str(error).split())}",
        "this is a bug; the run's events in the UI show where it stopped; report both",
    ).one_line()


def serve(requests, replies) -> None:
    """Fork a run worker per request line until `requests` closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished runs: no zombies, no wait loop
    for line in requests:
        sys.stdout.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # until the child can take it (see above)
        pid = os.fork()
        if pid == 0:
            _become_run_worker(line.strip(), replies.fileno())
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        replies.write(f"{pid} {start_ticks(pid)}\n")
        replies.flush()


def main() -> None:
    """Preload, say so, then serve until the launcher closes stdin; exit quietly if the launcher is gone."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the code prints while loading must not corrupt the protocol
    try:
        _preload_and_serve(replies)
    except BrokenPipeError:
        # the launcher is gone (its daemon stopped or was killed, e.g. while this process was loading): nothing is
        # left to serve; exit at once, since flushing the unread answer again at exit would fail the same way
        os._exit(0)


def _preload_and_serve(replies) -> None:
    """Preload and answer `ready <pid>` (or `failed <reason>`, then return), then serve."""
    try:
        preload()
    except Exception as error:  # noqa: BLE001 — reported to the launcher, which falls back to Dagster's own
        replies.write(f"failed {type(error).__name__}: {' '.join(str(error).split())}\n")
        replies.flush()
        return
    replies.write(f"ready {os.getpid()}\n")
    replies.flush()
    serve(sys.stdin, replies)


if __name__ == "__main__":
    main()
