"""`dawsos ui` serves the web UI on the PostgreSQL instance and stops cleanly on SIGTERM and on Ctrl-C, and its
web server stops even when `dawsos ui` is killed."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from dawsos_assets.cli.webserver import free_ui_port as free_port

from .conftest import DAWSOS, PROJECT_ROOT


def wait_for_server(port: int, timeout: float = 120, child: subprocess.Popen | None = None) -> dict:
    """The web server's /server_info, once it answers; fails at once with its output if `child` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            output = child.stdout.read() if child.stdout else ""
            raise AssertionError(f"dawsos ui exited with {child.returncode} before serving: {output[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the web UI did not answer on port {port} within {timeout} s")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ui_serves_and_shuts_down_cleanly(seeded_url, stop_signal):
    port = free_port()
    # Started the way a background job would be: SIGINT ignored in the parent, as in a non-interactive shell.
    child = subprocess.Popen(
        [DAWSOS, "ui", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN) if stop_signal == signal.SIGTERM else None,
    )
    try:
        info = wait_for_server(port, child=child)
        assert info["dagster_webserver_version"].startswith("1.13")
        child.send_signal(stop_signal)
        output, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:  # the test failed early: let `dawsos ui` stop dagster dev's own process group first
            child.terminate()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
    assert child.returncode == 0, output[-2000:]
    deadline = time.monotonic() + 10
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert port_is_free(port)


def _children(pid: int) -> list[int]:
    tasks = os.listdir(f"/proc/{pid}/task")
    return [int(c) for task in tasks for c in open(f"/proc/{pid}/task/{task}/children").read().split()]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")  # a zombie has stopped; only its parent may reap it
    except FileNotFoundError:
        return True


def test_killing_dawsos_ui_stops_the_web_server_too(seeded_url):
    """SIGKILL gives `dawsos ui` no chance to forward a signal; dagster dev (a session of its own) must not be left
    serving the port."""
    port = free_port()
    child = subprocess.Popen(
        [DAWSOS, "ui", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dagster_dev = []
    try:
        wait_for_server(port, child=child)
        dagster_dev = _children(child.pid)
        assert dagster_dev, "dawsos ui started no dagster dev"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + 60
        while not (all(_gone(pid) for pid in dagster_dev) and port_is_free(port)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert all(_gone(pid) for pid in dagster_dev), "dagster dev still running after dawsos ui was killed"
        assert port_is_free(port)
    finally:
        for pid in dagster_dev:
            if not _gone(pid):
                os.killpg(pid, signal.SIGKILL)
