"""`dawsos ui`: the Dagster web server and daemon on 127.0.0.1, with the Great Expectations Data Docs served on the
next port (Dagster serves no files of a project's own), stopped cleanly on Ctrl-C or SIGTERM.

`dagster dev` maps SIGTERM onto its SIGINT handler; a process started from a non-interactive shell inherits
SIGINT as ignored, so the child gets SIGINT reset to the default before exec. If `dawsos ui` itself is killed,
dagster dev gets SIGTERM from the kernel and stops too.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError
from dawsos_assets.operations.instance import prepare_instance
from dawsos_assets.tables.data_docs import DATA_DOCS_URL_ENV, start_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHUTDOWN_GRACE_S = 30
DOCS_PORT_OFFSET = 1  # the Data Docs are served on the UI's port + 1
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def free_ui_port() -> int:
    """A port P for `dawsos ui --port P` that is free now, with the Data Docs port P + 1 free as well (for tests and
    the benchmark, which start a UI of their own beside other servers).
    """
    while True:
        with socket.socket() as probe, socket.socket() as docs:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            try:
                docs.bind(("127.0.0.1", port + DOCS_PORT_OFFSET))
            except OSError:
                continue
            return port


def ensure_port_free(port: int) -> None:
    """Refuse with a one-line error when `port` on 127.0.0.1 is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise DawsosError(
                errors.PORT_IN_USE,
                f"port {port} on 127.0.0.1 is already in use",
                f"stop what listens there or pass another port, e.g. `dawsos ui --port {port + 1}`",
            ) from None


def _child_setup(parent_pid: int):
    """Run in the child before exec: SIGINT back to its default, a session of its own (so one signal reaches the
    web server, daemon and code server), and stopped with its parent.
    """

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()
        _stop_with_parent(parent_pid)

    return setup


def _stop_with_parent(parent_pid: int) -> None:
    """A SIGKILLed `dawsos ui` cannot forward anything: the kernel sends dagster dev SIGTERM when its parent dies
    (Linux's parent-death signal), and dagster dev then stops its own processes.
    """
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def dagster_dev_command(port: int) -> list[str]:
    """The `dagster dev` command line serving the project on 127.0.0.1:`port`."""
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
    ]


def run_ui(port: int) -> int:
    """Run until interrupted; return the child's exit code."""
    docs_port = port + DOCS_PORT_OFFSET
    ensure_port_free(port)
    ensure_port_free(docs_port)
    prepare_instance()
    docs = start_server(docs_port)
    # runs started from the UI inherit it: the data-quality report links to this server
    environment = {**os.environ, DATA_DOCS_URL_ENV: f"http://127.0.0.1:{docs_port}/"}
    child = subprocess.Popen(  # noqa: S603 — argv of `dagster dev`, built in this module
        dagster_dev_command(port), cwd=PROJECT_ROOT, preexec_fn=_child_setup(os.getpid()), env=environment
    )

    received = []

    def forward(signum, _frame):
        received.append(signum)
        if len(received) == 1:
            child.send_signal(signal.SIGTERM)  # graceful: dagster dev stops webserver, daemon and code server
        else:
            os.killpg(child.pid, signal.SIGKILL)  # a second Ctrl-C means now

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        docs.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(SHUTDOWN_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
